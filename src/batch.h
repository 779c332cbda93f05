/*-------------------------------------------------------------------------
 *
 * batch.h
 *	  Writing events straight into the partitions: data events in bulk at
 *	  commit, other events one at a time, at once.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TRAIL_BATCH_H
#define TRAIL_BATCH_H

#include "utils/uuid.h"

#include "access/htup.h"
#include "event.h"

/* One row event: a row of trail.event_rows */
typedef struct TrailRowEvent
{
	TimestampTz event_time;		/* its statement's */
	pg_uuid_t	event_id;
	const pg_uuid_t *statement_event_id;
	int32		row_number;
	const char *partition_name; /* NULL: the table named */
	text	   *row_key;		/* JSON text, or NULL */
	text	   *old_image;
	text	   *new_image;
} TrailRowEvent;

/*
 * Queue one event for trail.events, or one row event for trail.event_rows,
 * in the current (sub)transaction.  Queued rows are written before the
 * transaction commits, or earlier when the queue reaches its memory budget;
 * a subtransaction that aborts takes its queued rows with it.
 */
extern void trail_batch_queue_event(const TrailEvent *ev);
extern void trail_batch_queue_row_event(const TrailRowEvent *row);

/* An event as a tuple of trail.events' row type (to render or write it) */
extern HeapTuple trail_batch_event_tuple(const TrailEvent *ev);

/*
 * Write an event into the partition of its day now (not at commit), with
 * its commit sequence number; the tuple (ev's, from trail_batch_event_tuple)
 * is taken over.
 */
extern void trail_batch_write_event(HeapTuple tuple, const TrailEvent *ev);

extern void trail_batch_init(void);

#endif							/* TRAIL_BATCH_H */
