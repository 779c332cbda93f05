/*-------------------------------------------------------------------------
 *
 * record.h
 *	  Rendering one row of trail.events as a CloudTrail record.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TRAIL_RECORD_H
#define TRAIL_RECORD_H

#include "access/htup.h"
#include "lib/stringinfo.h"

/*
 * Append the CloudTrail record of one trail.events row (any row type with
 * trail.events' column names) to buf, as compact JSON in CloudTrail's key
 * order.  Log file export writes exactly this text.
 */
extern void trail_render_record(HeapTupleHeader rec, StringInfo buf);

#endif							/* TRAIL_RECORD_H */
