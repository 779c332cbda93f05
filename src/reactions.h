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

#include "event.h"

/*
 * Would an event of this category (Management, Data, Insight), eventSource
 * and eventName be logged or matched?  ev, when the caller has it (not for
 * row events), lets rules rule themselves out on a few more fields.
 * Callers render the event's record only then.
 */
extern bool trail_reactions_wanted(const char *category, const char *event_source,
								   const char *event_name, const TrailEvent *ev);

/* React to one stored event: its CloudTrail record as JSON text */
extern void trail_react(const char *category, const char *event_source,
						const char *event_name, const char *record,
						const TrailEvent *ev);

/* NOTIFY channel with payload when (and if) the transaction commits */
extern void trail_notify_at_commit(const char *channel, const char *payload);

/*
 * Two-phase commit: PREPARE TRANSACTION gid is about to run (its pending
 * reactions are kept when it is prepared); COMMIT PREPARED gid (commit) or
 * ROLLBACK PREPARED gid has run.
 */
extern void trail_reactions_preparing(const char *gid);
extern void trail_reactions_finish_prepared(const char *gid, bool commit);

/* trail.log_events: the GUC's check and assign hooks (trail.c defines it) */
extern bool trail_log_events_check(char **newval, void **extra, GucSource source);
extern void trail_log_events_assign(const char *newval, void *extra);

/* Called once from _PG_init */
extern void trail_reactions_init(void);

#endif							/* TRAIL_REACTIONS_H */
