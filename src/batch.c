/*-------------------------------------------------------------------------
 *
 * batch.c
 *	  Writing data events in bulk, straight into the day's partitions.
 *
 * Management events are few and go through SPI (store.c).  Data events can
 * be millions per statement, so they skip SQL altogether: rows are formed
 * in C and written with the table AM's multi-insert into the partition of
 * their day, a batch at a time, the way COPY FROM writes.  Memory is
 * bounded by the batch: its slots and a memory context that is reset after
 * each flush.
 *
 * Design notes:
 *
 *	- The partition is found by name (partition.c) instead of routing
 *	  through the parent, which would need an executor's tuple routing for
 *	  what is, within one statement, always the same day.
 *	- Index entries are made by the executor's own ExecInsertIndexTuples,
 *	  so partial indexes are honoured: data events satisfy none of the
 *	  predicates of trail.events' indexes, and trail.event_rows has none.
 *	- Writes happen in the user's transaction and command: a rollback of
 *	  the statement (savepoint or whole transaction) takes them away too.
 *	  The append-only protection (protect.c) guards SQL, which this path
 *	  does not use.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "executor/executor.h"
#include "nodes/execnodes.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "batch.h"
#include "partition.h"
#include "store.h"

/* rows per multi-insert; with the 64 kB byte limit, like COPY's buffers */
#define BATCH_ROWS 1000
#define BATCH_BYTES (64 * 1024)

struct TrailBatch
{
	Relation	rel;
	EState	   *estate;			/* for index insertion; NULL without indexes */
	ResultRelInfo *rri;
	CommandId	cid;
	BulkInsertState bistate;	/* once a statement writes more than a batch */
	MemoryContext cxt;			/* the pending rows' values */
	TupleTableSlot *slots[BATCH_ROWS];
	int			nslots;			/* slots made so far */
	int			npending;
};

TrailBatch *
trail_batch_open(const char *table, TimestampTz event_time)
{
	TrailBatch *batch = palloc0(sizeof(TrailBatch));

	batch->rel = table_open(trail_partition_for(table, event_time),
							RowExclusiveLock);
	batch->cid = GetCurrentCommandId(true);
	batch->cxt = AllocSetContextCreate(CurrentMemoryContext,
									   "trail batch",
									   ALLOCSET_DEFAULT_SIZES);
	if (batch->rel->rd_rel->relhasindex)
	{
		batch->estate = CreateExecutorState();
		batch->rri = makeNode(ResultRelInfo);
		InitResultRelInfo(batch->rri, batch->rel, 1, NULL, 0);
		ExecOpenIndices(batch->rri, false);
	}
	return batch;
}

AttrNumber
trail_batch_attnum(TrailBatch *batch, const char *column)
{
	TupleDesc	desc = RelationGetDescr(batch->rel);
	int			i;

	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (!att->attisdropped && strcmp(NameStr(att->attname), column) == 0)
			return att->attnum;
	}
	elog(ERROR, "trail: column \"%s\" is missing from %s", column,
		 RelationGetRelationName(batch->rel));
	return InvalidAttrNumber;	/* keep compiler quiet */
}

TupleTableSlot *
trail_batch_slot(TrailBatch *batch)
{
	TupleTableSlot *slot;

	if (batch->npending == batch->nslots)
		batch->slots[batch->nslots++] = table_slot_create(batch->rel, NULL);
	slot = batch->slots[batch->npending];
	ExecClearTuple(slot);
	memset(slot->tts_isnull, true, sizeof(bool) * slot->tts_tupleDescriptor->natts);
	return slot;
}

MemoryContext
trail_batch_memory(TrailBatch *batch)
{
	return batch->cxt;
}

/*
 * Write the pending rows and their index entries.
 */
static void
write_pending(TrailBatch *batch)
{
	int			i;

	if (batch->npending == 0)
		return;
	table_multi_insert(batch->rel, batch->slots, batch->npending,
					   batch->cid, 0, batch->bistate);
	for (i = 0; i < batch->npending; i++)
	{
		if (batch->estate != NULL)
		{
			list_free(ExecInsertIndexTuples(batch->rri, batch->slots[i],
											batch->estate, false, false,
											NULL, NIL));
			ResetPerTupleExprContext(batch->estate);
		}
		ExecClearTuple(batch->slots[i]);
	}
	batch->npending = 0;
	MemoryContextReset(batch->cxt);
}

void
trail_batch_add(TrailBatch *batch)
{
	ExecStoreVirtualTuple(batch->slots[batch->npending]);
	batch->npending++;
	if (batch->npending == BATCH_ROWS ||
		MemoryContextMemAllocated(batch->cxt, false) >= BATCH_BYTES)
	{
		/* a big statement: write through a bulk-insert ring from now on */
		if (batch->bistate == NULL)
			batch->bistate = GetBulkInsertState();
		write_pending(batch);
	}
}

void
trail_batch_close(TrailBatch *batch)
{
	int			i;

	write_pending(batch);
	if (batch->bistate != NULL)
	{
		table_finish_bulk_insert(batch->rel, 0);
		FreeBulkInsertState(batch->bistate);
	}
	for (i = 0; i < batch->nslots; i++)
		ExecDropSingleTupleTableSlot(batch->slots[i]);
	if (batch->estate != NULL)
	{
		ExecCloseIndices(batch->rri);
		FreeExecutorState(batch->estate);
	}
	table_close(batch->rel, NoLock);
	MemoryContextDelete(batch->cxt);
	pfree(batch);
}

void
trail_batch_store_event(const TrailEvent *ev)
{
	TrailBatch *batch = trail_batch_open("events", ev->event_time);
	TupleTableSlot *slot = trail_batch_slot(batch);
	Datum		values[TRAIL_EVENT_NCOLUMNS];
	bool		nulls[TRAIL_EVENT_NCOLUMNS];
	int			i;

	trail_event_datums(ev, values, nulls);
	for (i = 0; i < TRAIL_EVENT_NCOLUMNS; i++)
	{
		AttrNumber	attnum = trail_batch_attnum(batch, trail_event_columns[i]);

		slot->tts_values[attnum - 1] = values[i];
		slot->tts_isnull[attnum - 1] = nulls[i];
	}
	trail_batch_add(batch);
	trail_batch_close(batch);
}
