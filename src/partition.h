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

/* The first instant (00:00:00 UTC) of the UTC day a time falls on */
extern TimestampTz trail_utc_day_start(TimestampTz t);

/*
 * Make sure the UTC days of the given times have their partitions, as a
 * maintenance pass makes them (rows waiting in the default partition moved
 * in, each creation recorded as a CreateTable event with the given reason).
 * For writers of past days (import): their events would otherwise land in
 * the default partition.  Holds the default partitions locked until the
 * transaction ends.
 */
extern void trail_partition_days(const TimestampTz *times, int ntimes,
								 const char *reason);

#endif							/* TRAIL_PARTITION_H */
