/*-------------------------------------------------------------------------
 *
 * batch.h
 *	  Writing data events in bulk, at commit, straight into the partitions.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TRAIL_BATCH_H
#define TRAIL_BATCH_H

#include "access/tupdesc.h"

#include "event.h"

/* The tables data events go to */
typedef enum TrailTable
{
	TRAIL_EVENTS,				/* trail.events: statement events */
	TRAIL_EVENT_ROWS			/* trail.event_rows: row events */
} TrailTable;

/* Attribute number (1-based) of a column of the table, or an error */
extern AttrNumber trail_batch_attnum(TrailTable table, const char *column);

/* Number of attributes of the table's rows */
extern int	trail_batch_natts(TrailTable table);

/*
 * Queue one row (values and nulls for every attribute) for the table, in
 * the current (sub)transaction.  It is written before the transaction
 * commits, or earlier when the queue reaches its memory budget; a
 * subtransaction that aborts takes its queued rows with it.
 */
extern void trail_batch_queue(TrailTable table, TimestampTz event_time,
							  Datum *values, bool *nulls);

/* Queue one event for trail.events */
extern void trail_batch_queue_event(const TrailEvent *ev);

extern void trail_batch_init(void);

#endif							/* TRAIL_BATCH_H */
