/*-------------------------------------------------------------------------
 *
 * rules.h
 *	  EventBridge-style rules and their targets.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TRAIL_RULES_H
#define TRAIL_RULES_H

#include "event.h"

/*
 * Could an enabled rule match an event of this category, eventSource and
 * eventName (and, when ev is given, with the fields ev knows)?
 * Cheap: with no rule, a test of a counter; otherwise the names rules
 * require are compared, then the few fields known without the record.
 */
extern bool trail_rules_candidates(const char *category, const char *event_source,
								   const char *event_name, const TrailEvent *ev);

/*
 * Match one stored event's CloudTrail record (JSON text) against the
 * enabled rules and run the targets of those that match.
 */
extern void trail_rules_dispatch(const char *record, const char *category,
								 const char *event_source, const char *event_name,
								 const TrailEvent *ev);

/* Called once from _PG_init: registers the cache invalidation callback. */
extern void trail_rules_init(void);

#endif							/* TRAIL_RULES_H */
