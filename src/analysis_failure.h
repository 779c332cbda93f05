/*-------------------------------------------------------------------------
 *
 * analysis_failure.h
 *	  Statements that fail in parse analysis, before any hook sees them.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TRAIL_ANALYSIS_FAILURE_H
#define TRAIL_ANALYSIS_FAILURE_H

#include "utils/elog.h"
#include "utils/jsonb.h"

/*
 * From emit_log_hook, for an ERROR no hook has recorded: spool a candidate
 * when the error may be one of parse analysis.  No catalog access, no
 * error.  Returns whether a candidate was written.
 */
extern bool trail_analysis_failure_spool(ErrorData *edata);

/*
 * For the spool's drainer, in a transaction: a spooled record as it is when
 * it is not a candidate; for a candidate, the event to store, or NULL when
 * the statement is not one trail records.
 */
extern Jsonb *trail_analysis_failure_resolve(Jsonb *record);

#endif							/* TRAIL_ANALYSIS_FAILURE_H */
