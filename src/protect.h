/*-------------------------------------------------------------------------
 *
 * protect.h
 *	  Append-only events: nobody but trail itself changes trail's tables.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TRAIL_PROTECT_H
#define TRAIL_PROTECT_H

#include "nodes/plannodes.h"

/* Called once from _PG_init: installs the executor permission hook. */
extern void trail_protect_init(void);

/*
 * Refuse, before it runs, a utility command that would change trail's
 * events or disable its capture (TRUNCATE, partitions attached from outside,
 * its event triggers disabled, members moved out of the extension).
 */
extern void trail_protect_utility(PlannedStmt *pstmt);

/*
 * Refuse, from the event triggers, a DDL command whose object lies in
 * trail's schema (catches every DDL form that reaches event triggers).
 */
extern void trail_protect_object(const char *command_tag,
								 const char *object_type,
								 const char *schema_name,
								 const char *object_identity);

#endif							/* TRAIL_PROTECT_H */
