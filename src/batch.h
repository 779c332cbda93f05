/*-------------------------------------------------------------------------
 *
 * batch.h
 *	  Writing data events in bulk, straight into the day's partitions.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TRAIL_BATCH_H
#define TRAIL_BATCH_H

#include "executor/tuptable.h"

#include "event.h"

typedef struct TrailBatch TrailBatch;

/*
 * Open a writer into the partition of trail.<table> ("events" or
 * "event_rows") that holds event_time.  Rows are written in the current
 * transaction and command.
 */
extern TrailBatch *trail_batch_open(const char *table, TimestampTz event_time);

/* Attribute number (1-based) of a column of the table, or an error */
extern AttrNumber trail_batch_attnum(TrailBatch *batch, const char *column);

/*
 * The slot of the next row, cleared: fill tts_values/tts_isnull of every
 * column, with values allocated in trail_batch_memory(), then add it.
 */
extern TupleTableSlot *trail_batch_slot(TrailBatch *batch);
extern MemoryContext trail_batch_memory(TrailBatch *batch);
extern void trail_batch_add(TrailBatch *batch);

/* Write what is pending and release the writer */
extern void trail_batch_close(TrailBatch *batch);

/* Write one event into trail.events (data events, which skip SPI) */
extern void trail_batch_store_event(const TrailEvent *ev);

#endif							/* TRAIL_BATCH_H */
