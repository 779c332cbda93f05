/*-------------------------------------------------------------------------
 *
 * capture_session.h
 *	  Logins, logouts and failed statements: events through the spool.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TRAIL_CAPTURE_SESSION_H
#define TRAIL_CAPTURE_SESSION_H

#include "event.h"

/* CloudTrail's errorCode for a SQLSTATE: its condition name in CamelCase */
extern const char *trail_error_code_name(int sqlerrcode);

/*
 * Record a statement's failure: the event it would have had, with the
 * error, through the spool of a database (InvalidOid: the global spool).
 * Once per error, by the innermost statement.
 */
extern void trail_record_failure(TrailEvent *ev, ErrorData *edata, Oid dboid);

/*
 * In PG_CATCH: call record(arg, error) and re-throw the error, which a
 * failure of record() itself does not replace.  cxt is the memory context
 * of the PG_TRY.
 */
extern void trail_on_failure(void (*record) (void *arg, ErrorData *edata),
							 void *arg, MemoryContext cxt) pg_attribute_noreturn();

/*
 * Spool a global event of a database without trail once its transaction
 * has committed (nothing if it rolls back).
 */
extern void trail_spool_at_commit(const TrailEvent *ev);

/* Called once from _PG_init: the hooks */
extern void trail_capture_session_init(void);

#endif							/* TRAIL_CAPTURE_SESSION_H */
