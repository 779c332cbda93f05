/*-------------------------------------------------------------------------
 *
 * reactions.h
 *	  What happens right after trail stores an event: the log stream and
 *	  the rules.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TRAIL_REACTIONS_H
#define TRAIL_REACTIONS_H

#include "utils/guc.h"

/*
 * Would an event of this category (Management, Data, Insight) be logged or
 * matched?  Callers render the event's record only then.
 */
extern bool trail_reactions_wanted(const char *category);

/* React to one stored event: its CloudTrail record as JSON text */
extern void trail_react(const char *category, const char *record);

/* trail.log_events: the GUC's check and assign hooks (trail.c defines it) */
extern bool trail_log_events_check(char **newval, void **extra, GucSource source);
extern void trail_log_events_assign(const char *newval, void *extra);

/* Called once from _PG_init */
extern void trail_reactions_init(void);

#endif							/* TRAIL_REACTIONS_H */
