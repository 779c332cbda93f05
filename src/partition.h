/*-------------------------------------------------------------------------
 *
 * partition.h
 *	  Daily partitions of trail.events and retention.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TRAIL_PARTITION_H
#define TRAIL_PARTITION_H

#include "funcapi.h"
#include "utils/timestamp.h"

/*
 * The partition of trail.<table> ("events" or "event_rows") that holds the
 * given time: its day's, or the default partition when that day has none.
 */
extern Oid	trail_partition_for(const char *table, TimestampTz t);

/*
 * One maintenance pass for the current database as of the given time:
 * create the partitions from as_of's UTC day to trail.premake_days ahead
 * (and any day within retention that has rows waiting in the default
 * partition, moving them in), drop the days older than the retention period.
 * Each action is recorded as a management event invoked by trail, and, when
 * report is not NULL, as a row (action, partition_name, row_count).
 */
extern void trail_maintain(TimestampTz as_of, Tuplestorestate *report,
						   TupleDesc report_desc);

#endif							/* TRAIL_PARTITION_H */
