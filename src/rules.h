/*-------------------------------------------------------------------------
 *
 * rules.h
 *	  EventBridge-style rules and their targets.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TRAIL_RULES_H
#define TRAIL_RULES_H

/*
 * Could an enabled rule match an event of this category, eventSource and
 * eventName?
 * Cheap: with no rule, a test of a counter; otherwise the names rules
 * require are compared, no event is built.
 */
extern bool trail_rules_candidates(const char *category, const char *event_source,
								   const char *event_name);

/*
 * Match one stored event's CloudTrail record (JSON text) against the
 * enabled rules and run the targets of those that match.
 */
extern void trail_rules_dispatch(const char *record, const char *category,
								 const char *event_source, const char *event_name);

/* Called once from _PG_init: registers the cache invalidation callback. */
extern void trail_rules_init(void);

#endif							/* TRAIL_RULES_H */
