/*-------------------------------------------------------------------------
 *
 * rules.h
 *	  EventBridge-style rules and their targets.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TRAIL_RULES_H
#define TRAIL_RULES_H

/* Is there an enabled rule to match events against (cheap when none)? */
extern bool trail_rules_active(void);

/*
 * Match one stored event's CloudTrail record (JSON text) against the
 * enabled rules and run the targets of those that match.
 */
extern void trail_rules_dispatch(const char *record);

/* Called once from _PG_init: registers the cache invalidation callback. */
extern void trail_rules_init(void);

#endif							/* TRAIL_RULES_H */
