/*-------------------------------------------------------------------------
 *
 * import_worker.c
 *	  An import's reader in a background worker.
 *
 * trail.import_logs() spends about as much time reading its files
 * (inflating, scanning, parsing, forming rows: log_reader.c) as writing
 * the rows (import.c).  A background worker reads while the importing
 * backend writes, so that the two halves run on two cores.  The worker
 * runs the reader with a sink that sends each message through a shm_mq;
 * the backend hands each message it receives to its own sink, which so
 * sees the same messages in the same order as when the backend reads
 * itself.  The queue is the only buffer: when the backend falls behind,
 * the worker waits, so memory stays bounded.
 *
 * The worker is connected to no database, and needs none: the reader
 * touches no catalog (the row type comes in the shared memory, as its
 * attributes) and converts text only to the database's encoding, which
 * comes along: UTF8 or SQL_ASCII, which need no conversion function (in
 * a database of another encoding, which would, the backend reads itself).
 * It shows in pg_stat_activity (backend_type "trail import reader", query
 * the path it reads).
 *
 * An error in the worker (a file that is not a log file, a record without
 * eventID...) is sent as a message of its own and raised again in the
 * backend with its code, message, detail and hint, so that it reads the
 * same as when the backend reads.  A worker that ends without its totals
 * (terminated, out of memory) makes the backend fail with an error of its
 * own.  When the backend's transaction ends first (an error while writing,
 * a cancel), its detaching from the segment stops the worker at its next
 * send.
 *
 * The backend reads the files itself when trail.import_parallel is off, or
 * when no background worker can be started (every max_worker_processes slot
 * taken, or the postmaster could not fork it).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "storage/dsm.h"
#include "storage/ipc.h"
#include "storage/proc.h"
#include "storage/shm_mq.h"
#include "tcop/tcopprot.h"
#include "utils/backend_status.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

#include "import_worker.h"
#include "trail.h"

/* the queue from the worker to the backend */
#define READER_QUEUE_BYTES (4 * 1024 * 1024)

/* a message of the worker's only: an error, then the end */
#define READER_ERROR 'E'

/* The start of the shared segment; the attributes, path and queue follow */
typedef struct ReaderShared
{
	int			encoding;		/* the database's */
	bool		is_dir;
	int64		commit_seq;
	TimestampTz retention_start;
	Oid			tdtypeid;
	int32		tdtypmod;
	int			natts;
	Size		attrs_offset;	/* FormData_pg_attribute[natts] */
#ifdef HEAP_IS_DATUM
	/* servers that version row types check a row's against its type's */
	XLogRecPtr	version;
	Size		versions_offset;	/* XLogRecPtr[natts], the attributes' */
#endif
	Size		path_offset;
	Size		queue_offset;
} ReaderShared;

/*
 * The worker's sink: the message goes into the queue, waiting for room.
 * A backend that has gone away (its transaction ended) ends the worker.
 */
static void
queue_sink(void *arg, const char *msg, Size len)
{
	if (shm_mq_send((shm_mq_handle *) arg, len, msg, false, true) != SHM_MQ_SUCCESS)
		proc_exit(0);
}

/*
 * Append a string (NULL as empty) to an error message, NUL-ended.
 */
static void
append_field(StringInfo buf, const char *s)
{
	appendBinaryStringInfo(buf, s ? s : "", (s ? strlen(s) : 0) + 1);
}

/*
 * The next NUL-ended field of an error message (NULL for an empty one).
 */
static char *
next_field(const char **p, const char *end)
{
	const char *s = *p;
	Size		len = strnlen(s, end - s);

	if (s + len >= end)
		elog(ERROR, "trail: malformed error message from the import's reader");
	*p = s + len + 1;
	return len > 0 ? pstrdup(s) : NULL;
}

/*
 * Raise again in the backend an error the worker sent: code, message,
 * detail, hint; the backend's error context is added as for its own.
 */
static void
raise_reader_error(const char *msg, Size len)
{
	const char *p = msg + 1;
	const char *end = msg + len;
	ErrorData	edata;

	memset(&edata, 0, sizeof(edata));
	edata.elevel = ERROR;
	if (len < 1 + sizeof(int))
		elog(ERROR, "trail: malformed error message from the import's reader");
	memcpy(&edata.sqlerrcode, p, sizeof(int));
	p += sizeof(int);
	edata.message = next_field(&p, end);
	edata.detail = next_field(&p, end);
	edata.hint = next_field(&p, end);
	if (edata.message == NULL)
		edata.message = "unknown error in the import's reader";
	ThrowErrorData(&edata);
}

/*
 * Start a worker reading path for target; false if none could be
 * registered.  The segment and the queue's handle are the caller's.
 */
static bool
start_worker(const char *path, bool is_dir, const TrailLogTarget *target,
			 dsm_segment **seg, shm_mq_handle **mqh)
{
	TupleDesc	desc = target->desc;
	Size		attrs_bytes = sizeof(FormData_pg_attribute) * desc->natts;
	Size		attrs_offset = MAXALIGN(sizeof(ReaderShared));
	Size		versions_offset = attrs_offset + MAXALIGN(attrs_bytes);
	Size		path_offset = versions_offset;
	Size		queue_offset;
	ReaderShared *shared;
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;
	shm_mq	   *mq;
	pid_t		pid;
	int			i;

#ifdef HEAP_IS_DATUM
	path_offset += MAXALIGN(sizeof(XLogRecPtr) * desc->natts);
#endif
	queue_offset = path_offset + MAXALIGN(strlen(path) + 1);
	*seg = dsm_create(queue_offset + READER_QUEUE_BYTES, 0);
	shared = dsm_segment_address(*seg);
	shared->encoding = GetDatabaseEncoding();
	shared->is_dir = is_dir;
	shared->commit_seq = target->commit_seq;
	shared->retention_start = target->retention_start;
	shared->tdtypeid = desc->tdtypeid;
	shared->tdtypmod = desc->tdtypmod;
	shared->natts = desc->natts;
	shared->attrs_offset = attrs_offset;
	shared->path_offset = path_offset;
	shared->queue_offset = queue_offset;
	for (i = 0; i < desc->natts; i++)
		memcpy((char *) shared + attrs_offset + i * sizeof(FormData_pg_attribute),
			   TupleDescAttr(desc, i), sizeof(FormData_pg_attribute));
#ifdef HEAP_IS_DATUM
	shared->version = TupleDescGetVersion(desc);
	shared->versions_offset = versions_offset;
	for (i = 0; i < desc->natts; i++)
		((XLogRecPtr *) ((char *) shared + versions_offset))[i] =
			TupleDescGetAttrVersion(desc, i + 1);
#endif
	strcpy((char *) shared + path_offset, path);
	mq = shm_mq_create((char *) shared + queue_offset, READER_QUEUE_BYTES);
	shm_mq_set_receiver(mq, MyProc);

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_ConsistentState;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	strcpy(worker.bgw_library_name, "trail");
	strcpy(worker.bgw_function_name, "trail_import_reader_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "trail import reader for PID %d", MyProcPid);
	strcpy(worker.bgw_type, "trail import reader");
	worker.bgw_main_arg = UInt32GetDatum(dsm_segment_handle(*seg));
	worker.bgw_notify_pid = MyProcPid;
	/* no slot free, or no process (fork failed): the caller reads itself */
	if (!RegisterDynamicBackgroundWorker(&worker, &handle) ||
		WaitForBackgroundWorkerStartup(handle, &pid) != BGWH_STARTED)
	{
		dsm_detach(*seg);
		ereport(DEBUG1,
				(errmsg("no background worker could be started to read \"%s\": this backend reads it",
						path),
				 errhint("Background workers are limited by max_worker_processes.")));
		return false;
	}
	*mqh = shm_mq_attach(mq, *seg, handle);
	return true;
}

/*
 * Read the log files of path for target, sending each message to sink
 * (see trail_log_read): in a background worker when one can be had, else
 * in this backend.
 */
void
trail_import_read(const char *path, bool is_dir, const TrailLogTarget *target,
				  TrailLogSink sink, void *arg)
{
	dsm_segment *seg;
	shm_mq_handle *mqh;

	if (!trail_import_parallel ||
		(GetDatabaseEncoding() != PG_UTF8 && GetDatabaseEncoding() != PG_SQL_ASCII) ||
		!start_worker(path, is_dir, target, &seg, &mqh))
	{
		trail_log_read(path, is_dir, target, sink, arg);
		return;
	}

	for (;;)
	{
		Size		len;
		void	   *data;
		const char *msg;

		if (shm_mq_receive(mqh, &len, &data, false) != SHM_MQ_SUCCESS)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("could not import CloudTrail log files: the background worker reading them stopped"),
					 errhint("The server log may say why.")));
		msg = data;
		if (len == 0)
			elog(ERROR, "trail: empty message from the import's reader");
		if (msg[0] == READER_ERROR)
			raise_reader_error(msg, len);
		sink(arg, msg, len);
		if (msg[0] == TRAIL_LOG_DONE)
			break;
		/* a receive that finds a message waiting does not check */
		CHECK_FOR_INTERRUPTS();
	}
	dsm_detach(seg);
}

/*
 * The worker: read the files named in the segment into its queue, and
 * send an error that stops it as a message.
 */
void
trail_import_reader_main(Datum arg)
{
	dsm_segment *seg;
	ReaderShared *shared;
	shm_mq	   *mq;
	shm_mq_handle *mqh;
	TrailLogTarget target;
	TupleDesc	desc;
	MemoryContext cxt;
	int			i;

	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	CurrentResourceOwner = ResourceOwnerCreate(NULL, "trail import reader");
	seg = dsm_attach(DatumGetUInt32(arg));
	if (seg == NULL)
		proc_exit(0);			/* the backend is gone already */
	shared = dsm_segment_address(seg);

	/* no database: only to show in pg_stat_activity, with what it reads */
	BackgroundWorkerInitializeConnectionByOid(InvalidOid, InvalidOid, 0);
	pgstat_report_activity(STATE_RUNNING, (char *) shared + shared->path_offset);
	SetDatabaseEncoding(shared->encoding);
	mq = (shm_mq *) ((char *) shared + shared->queue_offset);
	shm_mq_set_sender(mq, MyProc);
	mqh = shm_mq_attach(mq, seg, NULL);

	desc = CreateTemplateTupleDesc(shared->natts);
	desc->tdtypeid = shared->tdtypeid;
	desc->tdtypmod = shared->tdtypmod;
	for (i = 0; i < shared->natts; i++)
		memcpy(TupleDescAttr(desc, i),
			   (char *) shared + shared->attrs_offset + i * sizeof(FormData_pg_attribute),
			   sizeof(FormData_pg_attribute));
#ifdef HEAP_IS_DATUM
	TupleDescSetVersion(desc, shared->version);
	for (i = 0; i < shared->natts; i++)
		TupleDescSetAttrVersion(desc, i + 1,
								((XLogRecPtr *) ((char *) shared + shared->versions_offset))[i]);
#endif
	target.desc = desc;
	target.commit_seq = shared->commit_seq;
	target.retention_start = shared->retention_start;

	cxt = AllocSetContextCreate(TopMemoryContext, "trail import reader",
								ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		trail_log_read((char *) shared + shared->path_offset, shared->is_dir,
					   &target, queue_sink, mqh);
	}
	PG_CATCH();
	{
		ErrorData  *edata;
		StringInfoData msg;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		initStringInfo(&msg);
		appendStringInfoChar(&msg, READER_ERROR);
		appendBinaryStringInfo(&msg, (const char *) &edata->sqlerrcode, sizeof(int));
		append_field(&msg, edata->message);
		append_field(&msg, edata->detail);
		append_field(&msg, edata->hint);
		queue_sink(mqh, msg.data, msg.len);
	}
	PG_END_TRY();
	proc_exit(0);
}
