/*-------------------------------------------------------------------------
 *
 * import.c
 *	  trail.import_logs(path): CloudTrail log files into trail.events.
 *
 * History kept elsewhere (a bucket copied from AWS with `aws s3 sync`, or
 * a trail's own bucket) is read into the event store, in the caller's
 * transaction, with every field of every record as it was: rendered again
 * by trail.cloudtrail_record(), an imported record is the record imported
 * (equal as jsonb).
 *
 * Reading and writing are two halves.  log_reader.c reads the files into
 * rows (and says how); a background worker runs it while this backend
 * writes, when one can be had (import_worker.c), so that the two halves
 * use two cores.  Here, the rows it sends are written:
 *
 *	- Rows go in batches of up to a thousand, written straight into the
 *	  partition of their day by the table AM's multi-insert, the way COPY
 *	  writes (bulk_write.c), not through an INSERT statement: its executor,
 *	  partition routing and speculative insertion took half of an import's
 *	  time.  Each row is checked against the unique indexes on (event_id,
 *	  event_time) its category has (management and insight events, and
 *	  imported data events), as ON CONFLICT DO NOTHING would: a record
 *	  already in the store, or earlier in the batch, is a counted duplicate.
 *	  The LookupEvents entries (trail.event_resources) of the events written
 *	  follow, the same way.  One import runs at a time (a lock on the
 *	  extension), so that no two find the same record absent.  The batch's
 *	  memory is reset after each.
 *	- Before a batch is inserted, the days it covers get their partitions
 *	  (partition.c, as maintenance makes them): history must not pile up in
 *	  the default partition.
 *	- Every row takes the transaction's commit sequence number, like any
 *	  other writer, so that later readers that follow commit_seq see
 *	  imported rows in order; imported rows fire no rule and reach no log
 *	  stream (they are history, not activity).
 *	- Any error, the reader's included, aborts the caller's transaction:
 *	  nothing of the import remains.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/stat.h>

#include "access/htup_details.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_extension.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/typcache.h"

#include "bulk_write.h"
#include "catalog.h"
#include "commit_order.h"
#include "context.h"
#include "import_worker.h"
#include "log_reader.h"
#include "partition.h"
#include "sql.h"
#include "store.h"
#include "trail.h"

PG_FUNCTION_INFO_V1(trail_import_logs);

/* a batch is inserted when it holds this many rows or bytes of records */
#define BATCH_ROWS 1000
#define BATCH_BYTES (8 * 1024 * 1024)

/* The unique key of an imported event */
typedef struct BatchKey
{
	pg_uuid_t	id;
	TimestampTz time;
} BatchKey;

/* An event of the batch, and whether it was written (not a duplicate) */
typedef struct BatchEvent
{
	BatchKey	key;
	bool		written;
} BatchEvent;

/* One call of trail.import_logs() */
typedef struct ImportRun
{
	/* what it reports */
	int64		files;
	int64		imported;
	int64		duplicates;
	int64		expired;
	bool		done;			/* the reader's totals came */

	TrailLogTarget target;		/* what the reader makes rows for */
	TrailLookupTable lookup_table;	/* trail.event_resources */
	char	   *file;			/* the file being read, for the error context */
	MemoryContext cxt;			/* the run's */
	List	   *keys;			/* LookupEvents keys met so far, as text */

	/* the batch, in batch_cxt */
	MemoryContext batch_cxt;
	HeapTuple  *rows;			/* trail.events rows */
	TimestampTz *row_times;
	pg_uuid_t  *row_ids;
	int			nrows;
	Size		batch_bytes;
	Datum	   *lookup_keys;	/* trail.event_resources entries */
	Datum	   *lookup_values;
	Datum	   *lookup_times;
	Datum	   *lookup_ids;
	int			nlookups;
	int			lookups_size;
	HTAB	   *batch_events;	/* its events, by key */

	/* days known to have their partitions, in the run's context */
	TimestampTz *days;
	int			ndays;
	int			days_size;
} ImportRun;

/*
 * Error context: the file being read (errors raised below trail, e.g.
 * while creating partitions or inserting a batch).
 */
static void
import_error_context(void *arg)
{
	ImportRun  *run = arg;

	if (run->file != NULL)
		errcontext("importing CloudTrail log file \"%s\"", run->file);
}

/*
 * The batch's entry of an event (made if new; *found says if it was not).
 */
static BatchEvent *
batch_event(ImportRun *run, const pg_uuid_t *id, TimestampTz time, bool *found)
{
	BatchKey	key;
	BatchEvent *ev;

	if (run->batch_events == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(BatchKey);
		ctl.entrysize = sizeof(BatchEvent);
		ctl.hcxt = run->batch_cxt;
		run->batch_events = hash_create("trail import batch events", BATCH_ROWS, &ctl,
										HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	memset(&key, 0, sizeof(key));
	key.id = *id;
	key.time = time;
	ev = hash_search(run->batch_events, &key, HASH_ENTER, found);
	if (!*found)
		ev->written = true;
	return ev;
}

/*
 * A LookupEvents key as text, made once per run: there are seven, and a
 * management row has about seven entries.
 */
static Datum
key_text(ImportRun *run, const char *key, int len)
{
	ListCell   *lc;
	MemoryContext oldcxt;
	text	   *t;

	foreach(lc, run->keys)
	{
		t = lfirst(lc);
		if (VARSIZE(t) - VARHDRSZ == len && memcmp(VARDATA(t), key, len) == 0)
			return PointerGetDatum(t);
	}
	oldcxt = MemoryContextSwitchTo(run->cxt);
	t = cstring_to_text_with_len(key, len);
	run->keys = lappend(run->keys, t);
	MemoryContextSwitchTo(oldcxt);
	return PointerGetDatum(t);
}

/*
 * Add a LookupEvents entry of a row to the batch.
 */
static void
add_lookup(ImportRun *run, const TrailLogLookup *entry, TimestampTz t,
		   const pg_uuid_t *id)
{
	if (run->nlookups == run->lookups_size)
	{
		int			size = Max(256, run->lookups_size * 2);

		if (run->lookups_size == 0)
		{
			run->lookup_keys = palloc(sizeof(Datum) * size);
			run->lookup_values = palloc(sizeof(Datum) * size);
			run->lookup_times = palloc(sizeof(Datum) * size);
			run->lookup_ids = palloc(sizeof(Datum) * size);
		}
		else
		{
			run->lookup_keys = repalloc(run->lookup_keys, sizeof(Datum) * size);
			run->lookup_values = repalloc(run->lookup_values, sizeof(Datum) * size);
			run->lookup_times = repalloc(run->lookup_times, sizeof(Datum) * size);
			run->lookup_ids = repalloc(run->lookup_ids, sizeof(Datum) * size);
		}
		run->lookups_size = size;
	}
	run->lookup_keys[run->nlookups] = key_text(run, entry->key, entry->keylen);
	run->lookup_values[run->nlookups] =
		PointerGetDatum(cstring_to_text_with_len(entry->value, entry->len));
	run->lookup_times[run->nlookups] = TimestampTzGetDatum(t);
	run->lookup_ids[run->nlookups] = UUIDPGetDatum(id);
	run->nlookups++;
}

/*
 * Add a row the reader sent to the batch, or count it as a duplicate when
 * the batch has its event already.
 */
static void
add_row(ImportRun *run, const char *msg, Size len)
{
	MemoryContext oldcxt = MemoryContextSwitchTo(run->batch_cxt);
	TrailLogRow row;
	BatchEvent *ev;
	HeapTuple	tuple;
	bool		repeated;
	int			i;

	trail_log_row_decode(msg, len, &row);
	ev = batch_event(run, &row.id, row.time, &repeated);
	if (repeated)
		run->duplicates++;
	else
	{
		tuple = heap_copytuple(&row.tuple);
		run->rows[run->nrows] = tuple;
		run->row_times[run->nrows] = row.time;
		run->row_ids[run->nrows] = row.id;
		run->nrows++;
		run->batch_bytes += tuple->t_len;
		for (i = 0; i < row.nlookups; i++)
			add_lookup(run, &row.lookups[i], row.time, &ev->key.id);
	}
	pfree(row.lookups);
	MemoryContextSwitchTo(oldcxt);
}

/*
 * Days of the batch's rows that may have no partition yet get theirs.
 */
static void
prepare_partitions(ImportRun *run)
{
	TimestampTz *wanted = palloc(sizeof(TimestampTz) * run->nrows);
	int			nwanted = 0;
	int			i;

	for (i = 0; i < run->nrows; i++)
	{
		TimestampTz day = trail_utc_day_start(run->row_times[i]);
		bool		known = false;
		int			j;

		for (j = run->ndays - 1; j >= 0 && !known; j--)
			known = (run->days[j] == day);
		for (j = 0; j < nwanted && !known; j++)
			known = (wanted[j] == day);
		if (known)
			continue;
		if (strcmp(get_rel_name(trail_partition_for("events", day)), "events_default") == 0)
			wanted[nwanted++] = day;
		else
		{
			if (run->ndays == run->days_size)
			{
				run->days_size *= 2;
				run->days = repalloc(run->days, sizeof(TimestampTz) * run->days_size);
			}
			run->days[run->ndays++] = day;
		}
	}
	/* made now, known from the next batch on by the check above */
	trail_partition_days(wanted, nwanted, "import");
	pfree(wanted);
}

/*
 * Write the rows of the batch that fall in one partition (rows[first..],
 * those of the day of rows[first] not yet written), skipping those already
 * in the store, and note which were written in the batch's events.
 */
static void
write_day(ImportRun *run, int first, bool *done)
{
	TimestampTz day = trail_utc_day_start(run->row_times[first]);
	HeapTuple  *tuples = palloc(sizeof(HeapTuple) * run->nrows);
	int		   *which = palloc(sizeof(int) * run->nrows);
	bool	   *written = palloc(sizeof(bool) * run->nrows);
	int			n = 0;
	int			i;

	for (i = first; i < run->nrows; i++)
	{
		if (done[i] || trail_utc_day_start(run->row_times[i]) != day)
			continue;
		done[i] = true;
		which[n] = i;
		tuples[n++] = run->rows[i];
	}
	run->imported += trail_bulk_write(trail_partition_for("events", day),
									  TRAIL_ROWS_OTHER, run->target.desc, tuples, n,
									  written);
	for (i = 0; i < n; i++)
	{
		bool		found;

		if (written[i])
			continue;
		run->duplicates++;
		batch_event(run, &run->row_ids[which[i]], run->row_times[which[i]],
					&found)->written = false;
	}
}

/*
 * Write the LookupEvents entries of the batch's events that were written
 * (a duplicate's entries are in the store with it).
 */
static void
write_lookups(ImportRun *run)
{
	HeapTuple  *tuples = palloc(sizeof(HeapTuple) * run->nlookups);
	int			n = 0;
	int			i;

	for (i = 0; i < run->nlookups; i++)
	{
		bool		found;
		TimestampTz t = DatumGetTimestampTz(run->lookup_times[i]);

		if (!batch_event(run, DatumGetUUIDP(run->lookup_ids[i]), t, &found)->written)
			continue;
		tuples[n++] = trail_lookup_tuple(&run->lookup_table, run->lookup_keys[i],
										 run->lookup_values[i], run->lookup_times[i],
										 run->lookup_ids[i]);
	}
	if (n > 0)
		(void) trail_bulk_write(run->lookup_table.relid, TRAIL_ROWS_OTHER,
								run->lookup_table.desc, tuples, n, NULL);
}

/*
 * Write the batch, each day's rows into the day's partition, then the
 * LookupEvents entries of those written; then start a new batch.
 */
static void
insert_batch(ImportRun *run)
{
	MemoryContext oldcxt;
	bool	   *done;
	int			i;

	if (run->nrows == 0)
		return;
	prepare_partitions(run);

	oldcxt = MemoryContextSwitchTo(run->batch_cxt);
	done = palloc0(sizeof(bool) * run->nrows);
	for (i = 0; i < run->nrows; i++)
		if (!done[i])
			write_day(run, i, done);
	write_lookups(run);
	MemoryContextSwitchTo(oldcxt);

	MemoryContextReset(run->batch_cxt);
	run->nrows = 0;
	run->batch_bytes = 0;
	run->nlookups = 0;
	run->lookups_size = 0;
	run->batch_events = NULL;
}

/*
 * The reader's sink: a file's name for the error context, a row for the
 * batch (inserted when full), a notice for the caller, the totals.
 */
static void
receive(void *arg, const char *msg, Size len)
{
	ImportRun  *run = arg;
	TrailLogTotals totals;

	switch (msg[0])
	{
		case TRAIL_LOG_FILE:
			if (run->file != NULL)
				pfree(run->file);
			run->file = MemoryContextStrdup(run->cxt, msg + 1);
			break;
		case TRAIL_LOG_ROW:
			add_row(run, msg, len);
			if (run->nrows >= BATCH_ROWS || run->batch_bytes >= BATCH_BYTES)
				insert_batch(run);
			break;
		case TRAIL_LOG_NOTICE:
			ereport(NOTICE, (errmsg_internal("%s", msg + 1)));
			break;
		case TRAIL_LOG_DONE:
			memcpy(&totals, msg + 1, sizeof(totals));
			run->files = totals.files;
			run->expired = totals.expired;
			run->done = true;
			break;
		default:
			elog(ERROR, "trail: unknown import message kind %d", msg[0]);
	}
}

/*
 * Superusers may import, and members of both pg_read_server_files (the
 * files are the server's) and trail_admin (it writes the event store).
 */
static void
check_privileges(void)
{
	Oid			admin = get_role_oid("trail_admin", true);

	if (superuser())
		return;
	if (!has_privs_of_role(GetUserId(), ROLE_PG_READ_SERVER_FILES) ||
		!OidIsValid(admin) || !has_privs_of_role(GetUserId(), admin))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to import CloudTrail log files"),
				 errdetail("Only superusers and members of both pg_read_server_files and trail_admin may import log files.")));
}

/*
 * Set up a run: the row types of trail.events and trail.event_resources,
 * the retention start, the commit sequence number, memory, and the lock
 * that keeps other imports out.
 */
static void
start_run(ImportRun *run)
{
	const TrailCatalog *cat = trail_require_catalog();
	bool		isnull;

	/*
	 * One import at a time: a record two imports both found absent would
	 * make the second fail on the unique index instead of skipping it
	 * (bulk_write.c).  The extension's own lock, so that nothing else waits.
	 */
	LockDatabaseObject(ExtensionRelationId, cat->extension_oid, 0,
					   ShareUpdateExclusiveLock);

	memset(run, 0, sizeof(*run));
	run->cxt = CurrentMemoryContext;
	run->target.retention_start =
		DatumGetTimestampTz(trail_sql_run("SELECT trail.retention_start()",
										  0, NULL, NULL, NULL,
										  CurrentMemoryContext, &isnull));
	run->target.commit_seq = trail_commit_seq();
	run->target.desc = lookup_rowtype_tupdesc_copy(get_rel_type_id(cat->events_relid), -1);
	trail_lookup_table(cat, &run->lookup_table);
	run->rows = palloc(sizeof(HeapTuple) * BATCH_ROWS);
	run->row_times = palloc(sizeof(TimestampTz) * BATCH_ROWS);
	run->row_ids = palloc(sizeof(pg_uuid_t) * BATCH_ROWS);
	run->days_size = 16;
	run->days = palloc(sizeof(TimestampTz) * run->days_size);

	/*
	 * Reset again and again.  Its first block, which a reset keeps, holds a
	 * common batch: without it, each reset gave the memory back to the
	 * system and the next batch faulted it in again.
	 */
	run->batch_cxt = AllocSetContextCreate(CurrentMemoryContext, "trail import batch",
										   BATCH_BYTES, BATCH_BYTES, ALLOCSET_DEFAULT_MAXSIZE);
}

/*
 * SQL: trail.import_logs(path) RETURNS (files, records_imported,
 * duplicates_skipped, expired_skipped).
 */
Datum
trail_import_logs(PG_FUNCTION_ARGS)
{
	char	   *given = text_to_cstring(PG_GETARG_TEXT_PP(0));
	MemoryContext import_cxt;
	MemoryContext oldcxt;
	ImportRun	run;
	ErrorContextCallback errcb;
	TupleDesc	result_desc;
	Datum		result[4];
	bool		result_nulls[4] = {false, false, false, false};
	StringInfoData params;
	struct stat st;
	char	   *path;

	(void) trail_require_catalog();
	check_privileges();
	PreventCommandIfReadOnly("trail.import_logs()");
	if (get_call_result_type(fcinfo, NULL, &result_desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "trail: import_logs must return a record");

	/* relative paths are the data directory's, like the server's own */
	path = is_absolute_path(given) ? pstrdup(given) : psprintf("%s/%s", DataDir, given);
	canonicalize_path(path);
	if (stat(path, &st) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not import CloudTrail log files from \"%s\": %m", path)));
	if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("could not import CloudTrail log files from \"%s\": it is neither a file nor a directory",
						path)));

	/* the call is an event of its own, before the events it imports */
	initStringInfo(&params);
	appendStringInfoString(&params, "{\"path\":");
	escape_json(&params, given);
	appendStringInfoChar(&params, '}');
	trail_store_api_call("StartImport", params.data, "PG::EventDataStore",
						 trail_arn(TRAIL_SERVICE_NAME, trail_region(),
								   psprintf("eventdatastore/%s", trail_region())),
						 trail_region());

	import_cxt = AllocSetContextCreate(CurrentMemoryContext, "trail import",
									   ALLOCSET_DEFAULT_SIZES);
	oldcxt = MemoryContextSwitchTo(import_cxt);
	start_run(&run);

	errcb.callback = import_error_context;
	errcb.arg = &run;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;

	trail_import_read(path, S_ISDIR(st.st_mode), &run.target, receive, &run);
	if (!run.done)
		elog(ERROR, "trail: the import's reader stopped before its end");
	insert_batch(&run);

	error_context_stack = errcb.previous;
	MemoryContextSwitchTo(oldcxt);

	result[0] = Int64GetDatum(run.files);
	result[1] = Int64GetDatum(run.imported);
	result[2] = Int64GetDatum(run.duplicates);
	result[3] = Int64GetDatum(run.expired);
	MemoryContextDelete(import_cxt);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(result_desc),
													  result, result_nulls)));
}
