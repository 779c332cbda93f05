/*-------------------------------------------------------------------------
 *
 * batch.c
 *	  Writing events straight into the partitions: data events in bulk at
 *	  commit, other events one at a time, at once.
 *
 * Management events are few and are written at once, each as it is stored
 * (store.c), so that the transaction sees them.  Data events can be
 * millions per statement and several per transaction on a hot table, so
 * they skip SQL altogether: each is formed as a heap tuple in
 * C and queued for the transaction; just before it commits (or prepares),
 * the queue is written with the table AM's multi-insert into the partition
 * of each event's day, the way COPY FROM writes (bulk_write.c: only the
 * indexes whose predicates data rows satisfy take entries, which leaves
 * trail.events' commit_seq BRIN index, and the BRIN index gets one entry
 * per page, not per row).  A transaction of a few
 * statements thus opens each partition once and writes its events in one
 * WAL record, instead of paying an insert per statement.
 *
 * Design notes:
 *
 *	- Transactional: the writes happen inside the transaction, before
 *	  commit; an error while writing aborts it.  Each queued row remembers
 *	  its subtransaction: a subtransaction that aborts drops its rows, one
 *	  that commits hands them to its parent.
 *	- Bounded memory: when the queue holds more than QUEUE_BUDGET bytes, the
 *	  rows of the current subtransaction are written at once (rows of outer
 *	  subtransactions must wait: written now they would be undone if this
 *	  one aborted).  A statement of any size is captured in that budget plus
 *	  its transition tables, which spill to disk past work_mem.
 *	- Visibility: queued events become visible in the table when written,
 *	  so a transaction does not see its own data events before it commits
 *	  unless the queue was flushed by size.  Management events, written at
 *	  once, are not affected.
 *	- Partitions are found by name (partition.c): all events of a day go to
 *	  its partition, or to the default one.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "batch.h"
#include "bulk_write.h"
#include "catalog.h"
#include "context.h"
#include "commit_order.h"
#include "partition.h"
#include "reactions.h"
#include "record.h"
#include "store.h"

/* memory the queue may hold before rows are written early */
#define QUEUE_BUDGET (16 * 1024 * 1024)

/* The tables data events go to */
typedef enum TrailTable
{
	TRAIL_EVENTS,				/* trail.events: statement events */
	TRAIL_EVENT_ROWS			/* trail.event_rows: row events */
} TrailTable;

static const char *const table_names[] = {
	[TRAIL_EVENTS] = "events",
	[TRAIL_EVENT_ROWS] = "event_rows"
};

/* One queued row */
typedef struct QueuedRow
{
	HeapTuple	tuple;			/* NULL once handed to write_group() */
	TrailTable	table;
	TimestampTz event_time;
	SubTransactionId subid;
} QueuedRow;

/* The transaction's queue, in TopTransactionContext */
static MemoryContext queue_cxt = NULL;
static QueuedRow *queue = NULL;
static int	queue_len = 0;
static int	queue_size = 0;
static Size queue_bytes = 0;	/* memory the queue holds */
static Size queue_threshold = QUEUE_BUDGET;	/* write early past this */

/*
 * When events are reacted to (reactions.c): the record template of the
 * statement whose row events are being queued, in TopTransactionContext.
 */
static TrailRowTemplate row_template;
static pg_uuid_t row_template_statement;
static char *row_template_source;
static char *row_template_name;

/*
 * Row types of the parent tables, and where trail.events' columns are in
 * it; kept per backend until the table changes or trail is reinstalled.
 */
static TupleDesc descs[lengthof(table_names)];
static Oid	desc_relids[lengthof(table_names)];
static Oid	desc_extension = InvalidOid;
static AttrNumber event_attnums[TRAIL_EVENT_NCOLUMNS];

/* trail.event_rows' columns, and where they are in its row type */
typedef enum RowColumn
{
	ROW_EVENT_TIME,
	ROW_EVENT_ID,
	ROW_STATEMENT_EVENT_ID,
	ROW_ROW_NUMBER,
	ROW_PARTITION_NAME,
	ROW_ROW_KEY,
	ROW_OLD_IMAGE,
	ROW_NEW_IMAGE,
	ROW_NCOLUMNS
} RowColumn;

static const char *const row_columns[ROW_NCOLUMNS] = {
	[ROW_EVENT_TIME] = "event_time",
	[ROW_EVENT_ID] = "event_id",
	[ROW_STATEMENT_EVENT_ID] = "statement_event_id",
	[ROW_ROW_NUMBER] = "row_number",
	[ROW_PARTITION_NAME] = "partition_name",
	[ROW_ROW_KEY] = "row_key",
	[ROW_OLD_IMAGE] = "old_image",
	[ROW_NEW_IMAGE] = "new_image"
};
static AttrNumber row_attnums[ROW_NCOLUMNS];

/*
 * Relcache callback: forget a parent's row type when it changes.
 */
static void
batch_relcache_callback(Datum arg, Oid relid)
{
	int			t;

	for (t = 0; t < lengthof(table_names); t++)
		if (!OidIsValid(relid) || relid == desc_relids[t])
			desc_extension = InvalidOid;
}

/*
 * Attribute number of a column in a row type, or an error.
 */
static AttrNumber
find_attnum(TupleDesc desc, TrailTable table, const char *column)
{
	int			i;

	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (!att->attisdropped && strcmp(NameStr(att->attname), column) == 0)
			return att->attnum;
	}
	elog(ERROR, "trail: column \"%s\" is missing from trail.%s", column,
		 table_names[table]);
	return InvalidAttrNumber;	/* keep compiler quiet */
}

/*
 * The row type of a parent table (trail.events, trail.event_rows).
 */
static TupleDesc
table_desc(TrailTable table)
{
	const TrailCatalog *cat = trail_catalog();
	int			t;
	int			c;

	if (cat == NULL)
		elog(ERROR, "trail: not installed in this database");
	if (desc_extension == cat->extension_oid)
		return descs[table];

	for (t = 0; t < lengthof(table_names); t++)
	{
		Oid			relid = get_relname_relid(table_names[t], cat->namespace_oid);
		Relation	rel;
		MemoryContext oldcxt;

		if (!OidIsValid(relid))
			elog(ERROR, "trail: table trail.%s is missing", table_names[t]);
		rel = table_open(relid, AccessShareLock);

		/* write_group() stores the commit sequence number at a fixed place */
		if (RelationGetDescr(rel)->natts < 1 ||
			strcmp(NameStr(TupleDescAttr(RelationGetDescr(rel), 0)->attname), "commit_seq") != 0 ||
			TupleDescAttr(RelationGetDescr(rel), 0)->atttypid != INT8OID ||
			!TupleDescAttr(RelationGetDescr(rel), 0)->attnotnull)
			elog(ERROR, "trail: the first column of trail.%s must be commit_seq int8 NOT NULL",
				 table_names[t]);
		oldcxt = MemoryContextSwitchTo(TopMemoryContext);
		if (descs[t] != NULL)
			FreeTupleDesc(descs[t]);
		descs[t] = CreateTupleDescCopy(RelationGetDescr(rel));
		MemoryContextSwitchTo(oldcxt);
		desc_relids[t] = relid;
		table_close(rel, AccessShareLock);
	}
	for (c = 0; c < TRAIL_EVENT_NCOLUMNS; c++)
		event_attnums[c] = find_attnum(descs[TRAIL_EVENTS], TRAIL_EVENTS,
									   trail_event_columns[c]);
	for (c = 0; c < ROW_NCOLUMNS; c++)
		row_attnums[c] = find_attnum(descs[TRAIL_EVENT_ROWS], TRAIL_EVENT_ROWS,
									 row_columns[c]);
	desc_extension = cat->extension_oid;
	return descs[table];
}

/*
 * The partition each table's rows of one day were last written to.  Finding
 * it by name (partition.c) formats the name and searches the catalog at
 * every commit; the answer holds until the relcache entry of the partition
 * changes: dropping it does that, and so does making a day's partition
 * while the day's rows go to the default one (the default partition's
 * bounds change with it).
 */
static struct
{
	bool		valid;
	TimestampTz day;			/* its first instant */
	Oid			relid;
}			day_partitions[lengthof(table_names)];

/*
 * Relcache callback: forget the day partition of a relation that changed.
 */
static void
day_partition_callback(Datum arg, Oid relid)
{
	int			t;

	for (t = 0; t < lengthof(day_partitions); t++)
		if (!OidIsValid(relid) || day_partitions[t].relid == relid)
			day_partitions[t].valid = false;
}

/*
 * The partition of a table that takes the rows of a time's day.
 */
static Oid
day_partition(TrailTable table, TimestampTz event_time)
{
	TimestampTz day = trail_utc_day_start(event_time);

	if (!day_partitions[table].valid || day_partitions[table].day != day)
	{
		day_partitions[table].relid = trail_partition_for(table_names[table],
														  event_time);
		day_partitions[table].day = day;
		day_partitions[table].valid = true;
	}
	return day_partitions[table].relid;
}

/*
 * Give a row its transaction's commit sequence number, in its first column
 * (int8, never NULL, so at offset 0).
 */
static void
set_commit_seq(HeapTuple tuple, int64 seq)
{
	*(int64 *) ((char *) tuple->t_data + tuple->t_data->t_hoff) = seq;
}

/*
 * Write the queued rows of one table and day, in queue order, into the
 * partition that holds the day.  rows point into the queue.
 */
static void
write_group(TrailTable table, TimestampTz event_time, QueuedRow **rows, int n)
{
	HeapTuple  *tuples = palloc(sizeof(HeapTuple) * n);
	int64		seq = trail_commit_seq();
	int			i;

	for (i = 0; i < n; i++)
	{
		set_commit_seq(rows[i]->tuple, seq);
		tuples[i] = rows[i]->tuple;
		/* the writer frees it: the queue lets go of it */
		rows[i]->tuple = NULL;
	}
	(void) trail_bulk_write(day_partition(table, event_time), TRAIL_ROWS_DATA,
							table_desc(table), tuples, n, NULL);
}

void
trail_batch_write_event(HeapTuple tuple, const TrailEvent *ev)
{
	/* the class decides which partial indexes take it */
	TrailRowClass row_class = strcmp(ev->event_category, "Data") == 0 ?
		TRAIL_ROWS_DATA : TRAIL_ROWS_OTHER;

	set_commit_seq(tuple, trail_commit_seq());
	(void) trail_bulk_write(day_partition(TRAIL_EVENTS, ev->event_time), row_class,
							table_desc(TRAIL_EVENTS), &tuple, 1, NULL);
}

/*
 * Is a the same group (table, UTC day) as b?
 */
static bool
same_group(const QueuedRow *a, const QueuedRow *b)
{
	return a->table == b->table &&
		trail_utc_day_start(a->event_time) == trail_utc_day_start(b->event_time);
}

/*
 * Write the queued rows (all, or those of one subtransaction) and take them
 * off the queue.
 */
static void
write_queue(bool all, SubTransactionId subid)
{
	QueuedRow **group;
	bool	   *written;
	int			kept = 0;
	int			i;
	MemoryContext write_cxt;
	MemoryContext oldcxt;

	if (queue_len == 0)
		return;
	if (trail_catalog() == NULL)
	{
		/* DROP EXTENSION trail in this transaction: nowhere to write */
		queue_len = 0;
		queue_bytes = 0;
		return;
	}

	/* what the table AM and the executor allocate goes when we are done */
	write_cxt = AllocSetContextCreate(CurrentMemoryContext, "trail queue write",
									  ALLOCSET_DEFAULT_SIZES);
	oldcxt = MemoryContextSwitchTo(write_cxt);
	group = palloc(sizeof(QueuedRow *) * queue_len);
	written = palloc0(sizeof(bool) * queue_len);

	/* one write per (table, day), each in queue order */
	for (i = 0; i < queue_len; i++)
	{
		int			n = 0;
		int			j;

		if (written[i] || (!all && queue[i].subid != subid))
			continue;
		for (j = i; j < queue_len; j++)
		{
			if (written[j] || (!all && queue[j].subid != subid) ||
				!same_group(&queue[i], &queue[j]))
				continue;
			group[n++] = &queue[j];
			written[j] = true;
		}
		write_group(queue[i].table, queue[i].event_time, group, n);
	}

	/* the written rows' tuples went with the slots that wrote them */
	for (i = 0; i < queue_len; i++)
		if (!written[i])
			queue[kept++] = queue[i];
	queue_len = kept;
	MemoryContextSwitchTo(oldcxt);
	MemoryContextDelete(write_cxt);

	/* an empty queue gives its memory back */
	if (queue_len == 0)
	{
		MemoryContextReset(queue_cxt);
		queue = NULL;
		queue_size = 0;
		queue_bytes = 0;
	}
}

/*
 * Queue one row (values and nulls for every attribute) for one table.
 */
static HeapTuple
queue_row(TrailTable table, TimestampTz event_time, Datum *values, bool *nulls)
{
	MemoryContext oldcxt;
	QueuedRow  *row;
	HeapTuple	tuple;

	if (queue_cxt == NULL)
		queue_cxt = AllocSetContextCreate(TopTransactionContext,
										  "trail event queue",
										  ALLOCSET_DEFAULT_SIZES);
	oldcxt = MemoryContextSwitchTo(queue_cxt);
	if (queue_len == queue_size)
	{
		queue_size = Max(64, queue_size * 2);
		queue = queue == NULL ? palloc(sizeof(QueuedRow) * queue_size) :
			repalloc(queue, sizeof(QueuedRow) * queue_size);
	}
	row = &queue[queue_len++];
	row->tuple = tuple = heap_form_tuple(table_desc(table), values, nulls);
	row->table = table;
	row->event_time = event_time;
	row->subid = GetCurrentSubTransactionId();
	MemoryContextSwitchTo(oldcxt);

	queue_bytes = MemoryContextMemAllocated(queue_cxt, false);
	if (queue_bytes > queue_threshold)
	{
		write_queue(false, GetCurrentSubTransactionId());

		/*
		 * What is left belongs to outer subtransactions and must wait; let
		 * this one queue a good batch again before the next write.
		 */
		queue_threshold = Max(QUEUE_BUDGET,
							  MemoryContextMemAllocated(queue_cxt, false) + QUEUE_BUDGET / 4);
	}
	return tuple;
}

/*
 * The values and nulls of a whole row of a table from those of some of its
 * columns, given in the order of attnums; the other columns are NULL but
 * commit_seq, which gets a place for the number write_group() fills in.
 */
static void
whole_row(TrailTable table, int ncolumns, const AttrNumber *attnums,
		  const Datum *values, const bool *nulls, Datum **row_values, bool **row_nulls)
{
	int			natts = table_desc(table)->natts;
	int			i;

	*row_values = palloc(sizeof(Datum) * natts);
	*row_nulls = palloc(sizeof(bool) * natts);
	memset(*row_nulls, true, sizeof(bool) * natts);
	(*row_values)[0] = Int64GetDatum(0);
	(*row_nulls)[0] = false;
	for (i = 0; i < ncolumns; i++)
	{
		(*row_values)[attnums[i] - 1] = values[i];
		(*row_nulls)[attnums[i] - 1] = nulls[i];
	}
}

/*
 * Queue one row of a table from the values of some of its columns (see
 * whole_row); returns the queued tuple.
 */
static HeapTuple
queue_columns(TrailTable table, TimestampTz event_time, int ncolumns,
			  const AttrNumber *attnums, const Datum *values, const bool *nulls)
{
	Datum	   *row_values;
	bool	   *row_nulls;
	HeapTuple	tuple;

	whole_row(table, ncolumns, attnums, values, nulls, &row_values, &row_nulls);
	tuple = queue_row(table, event_time, row_values, row_nulls);
	pfree(row_values);
	pfree(row_nulls);
	return tuple;
}

HeapTuple
trail_batch_event_tuple(const TrailEvent *ev)
{
	Datum		values[TRAIL_EVENT_NCOLUMNS];
	bool		nulls[TRAIL_EVENT_NCOLUMNS];
	Datum	   *row_values;
	bool	   *row_nulls;

	(void) table_desc(TRAIL_EVENTS);	/* event_attnums are current */
	trail_event_datums(ev, values, nulls);
	whole_row(TRAIL_EVENTS, TRAIL_EVENT_NCOLUMNS, event_attnums, values, nulls,
				&row_values, &row_nulls);
	return heap_form_tuple(table_desc(TRAIL_EVENTS), row_values, row_nulls);
}

void
trail_batch_queue_event(const TrailEvent *ev)
{
	Datum		values[TRAIL_EVENT_NCOLUMNS];
	bool		nulls[TRAIL_EVENT_NCOLUMNS];
	HeapTuple	tuple;

	(void) table_desc(TRAIL_EVENTS);	/* event_attnums are current */
	trail_event_datums(ev, values, nulls);
	tuple = queue_columns(TRAIL_EVENTS, ev->event_time, TRAIL_EVENT_NCOLUMNS,
						  event_attnums, values, nulls);
	if (!trail_reactions_wanted(ev->event_category, ev->event_source, ev->event_name, ev))
		return;

	/*
	 * A statement event that heads row events is not an event of its own:
	 * it becomes the template of theirs.
	 */
	if (ev->additional_event_data != NULL &&
		getKeyJsonValueFromContainer(&ev->additional_event_data->root, "rowImages", 9, NULL))
	{
		MemoryContext oldcxt = MemoryContextSwitchTo(TopTransactionContext);

		trail_render_row_template(tuple->t_data, &row_template);
		row_template_statement = ev->event_id;
		row_template_source = pstrdup(ev->event_source);
		row_template_name = pstrdup(ev->event_name);
		MemoryContextSwitchTo(oldcxt);
	}
	else
	{
		StringInfoData record;

		initStringInfo(&record);
		trail_render_record(tuple->t_data, &record);
		trail_react(ev->event_category, ev->event_source, ev->event_name, record.data, ev);
		pfree(record.data);
	}
}

void
trail_batch_queue_row_event(const TrailRowEvent *row)
{
	Datum		values[ROW_NCOLUMNS];
	bool		nulls[ROW_NCOLUMNS];

	(void) table_desc(TRAIL_EVENT_ROWS);	/* row_attnums are current */
	values[ROW_EVENT_TIME] = TimestampTzGetDatum(row->event_time);
	values[ROW_EVENT_ID] = UUIDPGetDatum(&row->event_id);
	values[ROW_STATEMENT_EVENT_ID] = UUIDPGetDatum(row->statement_event_id);
	values[ROW_ROW_NUMBER] = Int32GetDatum(row->row_number);
	values[ROW_PARTITION_NAME] = row->partition_name ?
		CStringGetTextDatum(row->partition_name) : (Datum) 0;
	values[ROW_ROW_KEY] = PointerGetDatum(row->row_key);
	values[ROW_OLD_IMAGE] = PointerGetDatum(row->old_image);
	values[ROW_NEW_IMAGE] = PointerGetDatum(row->new_image);
	memset(nulls, false, sizeof(nulls));
	nulls[ROW_PARTITION_NAME] = (row->partition_name == NULL);
	nulls[ROW_ROW_KEY] = (row->row_key == NULL);
	nulls[ROW_OLD_IMAGE] = (row->old_image == NULL);
	nulls[ROW_NEW_IMAGE] = (row->new_image == NULL);
	(void) queue_columns(TRAIL_EVENT_ROWS, row->event_time, ROW_NCOLUMNS,
						 row_attnums, values, nulls);

	if (row_template.text != NULL &&
		memcmp(&row_template_statement, row->statement_event_id, sizeof(pg_uuid_t)) == 0 &&
		trail_reactions_wanted("Data", row_template_source, row_template_name, NULL))
	{
		TrailRowParts parts;
		StringInfoData record;

		parts.event_id = &row->event_id;
		parts.statement_event_id = row->statement_event_id;
		parts.row_number = row->row_number;
		parts.partition_name = row->partition_name;
		parts.partition_arn = row->partition_name ?
			trail_arn("table", trail_region(), row->partition_name) : NULL;
		parts.row_key = row->row_key ? text_to_cstring((text *) row->row_key) : NULL;
		parts.old_image = row->old_image ? text_to_cstring((text *) row->old_image) : NULL;
		parts.new_image = row->new_image ? text_to_cstring((text *) row->new_image) : NULL;
		initStringInfo(&record);
		trail_render_row_record(&row_template, &parts, &record);
		trail_react("Data", row_template_source, row_template_name, record.data, NULL);
		pfree(record.data);
	}
}

/*
 * Forget the queue (its memory goes with TopTransactionContext).
 */
static void
reset_queue(void)
{
	row_template.text = NULL;
	queue_cxt = NULL;
	queue = NULL;
	queue_len = 0;
	queue_size = 0;
	queue_bytes = 0;
	queue_threshold = QUEUE_BUDGET;
}

/*
 * Transaction callback: write the queue before commit or prepare; forget
 * it when the transaction ends.
 */
static void
batch_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PRE_PREPARE:
			write_queue(true, InvalidSubTransactionId);
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PREPARE:
			reset_queue();
			break;
		default:
			break;
	}
}

/*
 * Subtransaction callback: an aborted subtransaction's rows go, a committed
 * one's become its parent's.
 */
static void
batch_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					   SubTransactionId parentSubid, void *arg)
{
	int			kept = 0;
	int			i;

	if (queue_len == 0)
		return;
	if (event == SUBXACT_EVENT_COMMIT_SUB)
	{
		for (i = 0; i < queue_len; i++)
			if (queue[i].subid == mySubid)
				queue[i].subid = parentSubid;
	}
	else if (event == SUBXACT_EVENT_ABORT_SUB)
	{
		for (i = 0; i < queue_len; i++)
		{
			if (queue[i].subid == mySubid)
			{
				/* NULL: handed to a write that failed */
				if (queue[i].tuple != NULL)
					heap_freetuple(queue[i].tuple);
			}
			else
				queue[kept++] = queue[i];
		}
		queue_len = kept;
	}
}

void
trail_batch_init(void)
{
	CacheRegisterRelcacheCallback(batch_relcache_callback, (Datum) 0);
	CacheRegisterRelcacheCallback(day_partition_callback, (Datum) 0);
	RegisterXactCallback(batch_xact_callback, NULL);
	RegisterSubXactCallback(batch_subxact_callback, NULL);
}
