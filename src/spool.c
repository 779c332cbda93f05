/*-------------------------------------------------------------------------
 *
 * spool.c
 *	  The durable side path: events that have no committed transaction to
 *	  ride on (failed statements, logins, logouts, global commands run where
 *	  trail is not installed) are written to a spool file and fsynced before
 *	  the client hears of what happened; the workers later move them into
 *	  trail.events, exactly once.
 *
 * Layout: pg_trail/spool/<target>/<pid>_<start>_<n>.spool in the data
 * directory, where <target> is a database's OID (its failed statements) or
 * "global" (logins and the like, which the home database, setting
 * trail.home_database, takes in).  Each process appends to a file of its
 * own per target, so writers never wait for each other.  A record is a
 * 4-byte length, a 4-byte CRC-32C of the payload, and the payload: one
 * event as a JSON object keyed by trail.events' column names.
 *
 * Design notes:
 *
 *	- Writing never raises an error (it runs from error reporting and at
 *	  connection time): a failure to write is counted in shared memory and
 *	  reported by the next drain, in the server log and by
 *	  trail.spool_status().
 *	- Draining: the worker of a database reads the records of its target
 *	  from where it stopped (trail.spool_progress), inserts them (ON
 *	  CONFLICT DO NOTHING on the event id, where an index allows) and moves
 *	  its position, in one transaction per 8 MB (a candidate of
 *	  analysis_failure.c is resolved first, and may come to nothing; a
 *	  stored event reaches the rules and the log stream like any other); a
 *	  file whose writer has exited is removed once drained, and only then
 *	  its position is forgotten, so no record is read twice.  A record cut short by a crash
 *	  is the end of its file.  So every spooled event reaches trail.events
 *	  once, whatever crashes.
 *	- Bounded: a process stops writing (and counts what it drops) when the
 *	  spool holds more than SPOOL_MAX_FILES files of its target, so a flood
 *	  of failures cannot fill the disk.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "common/file_perm.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "port/pg_crc32c.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "storage/procarray.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "analysis_failure.h"
#include "catalog.h"
#include "commit_order.h"
#include "context.h"
#include "reactions.h"
#include "record.h"
#include "spool.h"
#include "sql.h"
#include "store.h"
#include "trail.h"

PG_FUNCTION_INFO_V1(trail_spool_status);

#define SPOOL_DIR "pg_trail/spool"
#define SPOOL_MAX_FILES 10000
#define SPOOL_MAX_RECORD (1024 * 1024)
#define SPOOL_READ_MAX (8 * 1024 * 1024)	/* read per transaction */

/* Counters in shared memory, for trail.spool_status() */
typedef struct SpoolShared
{
	pg_atomic_uint64 written;
	pg_atomic_uint64 dropped;
	pg_atomic_uint64 reported_dropped;	/* dropped as of the last warning */
} SpoolShared;

static SpoolShared *spool_shared = NULL;
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/* This process's open spool files, one per target */
typedef struct SpoolFile
{
	char		target[16];
	int			fd;
} SpoolFile;

static SpoolFile files[2];
static int	nfiles = 0;
static int	file_seq = 0;

/*
 * Ask for the shared counters (PostgreSQL 15's request hook).
 */
static void
spool_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(sizeof(SpoolShared));
}

/*
 * Create or attach to the shared counters.
 */
static void
spool_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	spool_shared = ShmemInitStruct("trail spool", sizeof(SpoolShared), &found);
	if (!found)
	{
		pg_atomic_init_u64(&spool_shared->written, 0);
		pg_atomic_init_u64(&spool_shared->dropped, 0);
		pg_atomic_init_u64(&spool_shared->reported_dropped, 0);
	}
	LWLockRelease(AddinShmemInitLock);
}

/*
 * Append ,"key":<value JSON> (value NULL: JSON null).
 */
static void
put_raw(StringInfo buf, const char *key, const char *json)
{
	appendStringInfo(buf, "%s\"%s\":%s", buf->len > 1 ? "," : "", key,
					 json ? json : "null");
}

/*
 * Append ,"key":"<string>" (NULL: JSON null).
 */
static void
put_string(StringInfo buf, const char *key, const char *value)
{
	appendStringInfo(buf, "%s\"%s\":", buf->len > 1 ? "," : "", key);
	if (value == NULL)
		appendStringInfoString(buf, "null");
	else
		escape_json(buf, value);
}

/*
 * Append ,"key":<jsonb as JSON> (NULL: JSON null).
 */
static void
put_jsonb(StringInfo buf, const char *key, Jsonb *value)
{
	put_raw(buf, key, value ? JsonbToCString(NULL, &value->root, VARSIZE(value)) : NULL);
}

char *
trail_spool_record(const TrailEvent *ev)
{
	StringInfoData buf;
	struct pg_tm tm;
	fsec_t		fsec;
	char		id[TRAIL_UUID_STRLEN];

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	if (timestamp2tm(ev->event_time, NULL, &tm, &fsec, NULL, NULL) != 0)
		elog(ERROR, "trail: timestamp out of range");
	put_raw(&buf, "event_time",
			psprintf("\"%04d-%02d-%02dT%02d:%02d:%02d.%06dZ\"", tm.tm_year, tm.tm_mon,
					 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int) fsec));
	trail_uuid_string(&ev->event_id, id);
	put_string(&buf, "event_id", id);
	put_string(&buf, "event_version", TRAIL_EVENT_VERSION);
	put_string(&buf, "event_category", ev->event_category);
	put_string(&buf, "event_type", ev->event_type);
	put_string(&buf, "event_source", ev->event_source);
	put_string(&buf, "event_name", ev->event_name);
	put_raw(&buf, "read_only", ev->read_only ? "true" : "false");
	put_raw(&buf, "management_event", ev->management_event ? "true" : "false");
	put_string(&buf, "region", ev->is_global ? NULL :
			   ev->region ? ev->region : trail_region());
	put_string(&buf, "recipient_account_id", trail_account_id());
	put_jsonb(&buf, "user_identity", ev->user_identity);
	put_string(&buf, "user_name", ev->user_name);
	put_string(&buf, "access_key_id", ev->access_key_id);
	put_string(&buf, "source_ip_address", ev->source_ip_address);
	put_string(&buf, "user_agent", ev->user_agent);
	put_string(&buf, "request_id", ev->request_id);
	if (FullTransactionIdIsValid(ev->transaction_id))
		put_raw(&buf, "transaction_id",
				psprintf("\"" UINT64_FORMAT "\"", U64FromFullTransactionId(ev->transaction_id)));
	put_jsonb(&buf, "request_parameters", ev->request_parameters);
	put_jsonb(&buf, "response_elements", ev->response_elements);
	put_jsonb(&buf, "additional_event_data", ev->additional_event_data);
	put_jsonb(&buf, "resources", ev->resources);
	put_string(&buf, "error_code", ev->error_code);
	put_string(&buf, "error_message", ev->error_message);
	put_raw(&buf, "is_global", ev->is_global ? "true" : "false");
	appendStringInfoChar(&buf, '}');
	return buf.data;
}

/*
 * Count a record that could not be written.
 */
static void
dropped(void)
{
	if (spool_shared != NULL)
		pg_atomic_fetch_add_u64(&spool_shared->dropped, 1);
}

/*
 * Does the target's directory hold too many files already?
 */
static bool
spool_full(const char *dir)
{
	DIR		   *d = opendir(dir);
	struct dirent *de;
	int			n = 0;

	if (d == NULL)
		return false;
	while ((de = readdir(d)) != NULL && n <= SPOOL_MAX_FILES)
		n++;
	closedir(d);
	return n > SPOOL_MAX_FILES;
}

/*
 * This process's file for a target, opened (and made durable) the first
 * time; -1 if it cannot be.
 */
static int
spool_fd(const char *target)
{
	char		dir[MAXPGPATH];
	char		path[MAXPGPATH];
	int			i;
	int			fd;
	int			dirfd;

	for (i = 0; i < nfiles; i++)
		if (strcmp(files[i].target, target) == 0)
			return files[i].fd;
	if (nfiles == lengthof(files))
		return -1;

	snprintf(dir, sizeof(dir), "%s/%s", SPOOL_DIR, target);
	if (mkdir("pg_trail", pg_dir_create_mode) != 0 && errno != EEXIST)
		return -1;
	if (mkdir(SPOOL_DIR, pg_dir_create_mode) != 0 && errno != EEXIST)
		return -1;
	if (mkdir(dir, pg_dir_create_mode) != 0 && errno != EEXIST)
		return -1;
	if (spool_full(dir))
		return -1;
	snprintf(path, sizeof(path), "%s/%d_" INT64_FORMAT "_%d.spool", dir, MyProcPid,
			 (int64) MyStartTime, file_seq++);
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | PG_BINARY, pg_file_create_mode);
	if (fd < 0)
		return -1;
	/* the file's name must survive a crash too */
	dirfd = open(dir, O_RDONLY);
	if (dirfd < 0 || fsync(dirfd) != 0)
	{
		if (dirfd >= 0)
			close(dirfd);
		close(fd);
		return -1;
	}
	close(dirfd);
	strlcpy(files[nfiles].target, target, sizeof(files[nfiles].target));
	files[nfiles].fd = fd;
	nfiles++;
	return fd;
}

bool
trail_spool_write(const char *record, Oid dboid)
{
	char		target[16];
	uint32		len = strlen(record);
	uint32		header[2];
	pg_crc32c	crc;
	struct iovec iov[2];
	int			fd;

	if (OidIsValid(dboid))
		snprintf(target, sizeof(target), "%u", dboid);
	else
		strlcpy(target, "global", sizeof(target));
	fd = spool_fd(target);
	if (fd < 0 || len > SPOOL_MAX_RECORD)
	{
		dropped();
		return false;
	}
	INIT_CRC32C(crc);
	COMP_CRC32C(crc, record, len);
	FIN_CRC32C(crc);
	header[0] = len;
	header[1] = crc;
	iov[0].iov_base = header;
	iov[0].iov_len = sizeof(header);
	iov[1].iov_base = unconstify(char *, record);
	iov[1].iov_len = len;
	if (writev(fd, iov, 2) != (ssize_t) (sizeof(header) + len) || fdatasync(fd) != 0)
	{
		dropped();
		return false;
	}
	if (spool_shared != NULL)
		pg_atomic_fetch_add_u64(&spool_shared->written, 1);
	return true;
}

/*
 * Is the process that wrote a spool file (named <pid>_<start>_<n>.spool)
 * still running?  A live backend of that pid that started at that time.
 */
static bool
writer_alive(const char *name)
{
	int			pid;
	int64		start;

	if (sscanf(name, "%d_" INT64_FORMAT "_", &pid, &start) != 2)
		return false;
	if (pid == MyProcPid)
		return start == (int64) MyStartTime;
	/* a pid is reused only after its process exited: alive means it */
	return kill(pid, 0) == 0 && BackendPidGetProc(pid) != NULL;
}

/*
 * Insert one spooled event (JSON text), unless it is there already, and
 * react to it (rules, log stream) as to any stored event; its LookupEvents
 * entries are those store.c gives a captured event.  A candidate
 * (analysis_failure.c) is resolved first, and may come to nothing.
 */
static void
insert_record(const char *record)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[2] = {JSONBOID, INT8OID};
	Datum		values[2];
	Jsonb	   *event;
	bool		isnull;
	HeapTuple	row;
	TupleDesc	desc;
	char	   *category;
	char	   *source;
	char	   *name;

	if (plan == NULL)
	{
		plan = SPI_prepare("WITH r AS (SELECT (pg_catalog.jsonb_populate_record(NULL::trail.events,"
						   "   $1 || pg_catalog.jsonb_build_object('commit_seq', $2,"
						   "   'region', coalesce($1->>'region', pg_catalog.current_database())))).*),"
						   " ev AS (INSERT INTO trail.events AS stored SELECT * FROM r"
						   "   ON CONFLICT (event_time, event_id) WHERE event_category <> 'Data'"
						   "   DO NOTHING RETURNING stored.event_time, stored.event_id, stored.resources,"
						   "   stored.event_category, stored.event_source, stored.event_name,"
						   "   stored.user_name, stored.access_key_id, stored),"
						   " res AS (INSERT INTO trail.event_resources (lookup_key, lookup_value, event_time, event_id)"
						   " SELECT DISTINCT x.k, x.v, ev.event_time, ev.event_id"
						   "   FROM ev, LATERAL (VALUES ('EventName', ev.event_name), ('Username', ev.user_name),"
						   "   ('EventSource', ev.event_source), ('AccessKeyId', ev.access_key_id)"
						   "   UNION ALL SELECT 'EventId', ev.event_id::text"
						   "   WHERE NOT trail._event_id_names_time(ev.event_id, ev.event_time)"
						   "   UNION ALL SELECT r.k, r.v FROM pg_catalog.jsonb_array_elements(coalesce(ev.resources, '[]')) e,"
						   "   LATERAL (VALUES ('ResourceType', e->>'type'), ('ResourceName', e->>'name')) r(k, v)) x(k, v)"
						   "  WHERE x.v IS NOT NULL AND ev.event_category <> 'Data')"
						   " SELECT event_category, event_source, event_name, stored FROM ev",
						   2, types);
		if (plan == NULL || SPI_keepplan(plan) != 0)
			elog(ERROR, "trail: could not prepare the spool insert");
	}
	event = trail_analysis_failure_resolve(DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
																			  CStringGetDatum(record))));
	if (event == NULL)
		return;
	values[0] = JsonbPGetDatum(event);
	values[1] = Int64GetDatum(trail_commit_seq());
	if (SPI_execute_plan(plan, values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "trail: could not insert a spooled event");
	if (SPI_processed != 1)
		return;					/* stored by an earlier drain */

	row = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	category = SPI_getvalue(row, desc, 1);
	source = SPI_getvalue(row, desc, 2);
	name = SPI_getvalue(row, desc, 3);
	if (trail_reactions_wanted(category, source, name, NULL))
	{
		StringInfoData rendered;

		initStringInfo(&rendered);
		trail_render_record(DatumGetHeapTupleHeader(SPI_getbinval(row, desc, 4, &isnull)),
							&rendered);
		trail_react(category, source, name, rendered.data, NULL);
	}
}

/* What draining a part of a file found */
typedef enum DrainResult
{
	DRAIN_WAIT,					/* its writer may add more: keep it */
	DRAIN_MORE,					/* more to read in another transaction */
	DRAIN_DONE					/* all read, writer gone: remove it */
} DrainResult;

/*
 * Drain the next part of a file (at most SPOOL_READ_MAX bytes) from its
 * recorded position, and record the new position.
 */
static DrainResult
drain_file(const char *path, const char *name)
{
	Oid			types[2] = {TEXTOID, INT8OID};
	Datum		values[2];
	bool		isnull;
	int64		offset = 0;
	bool		alive = writer_alive(name);
	int			fd;
	struct stat st;
	char	   *data;
	int64		avail;
	int64		pos;
	MemoryContext record_cxt;

	values[0] = CStringGetTextDatum(name);
	if (SPI_execute_with_args("SELECT byte_offset FROM trail.spool_progress WHERE file = $1",
							  1, types, values, NULL, true, 1) == SPI_OK_SELECT &&
		SPI_processed == 1)
		offset = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
											 SPI_tuptable->tupdesc, 1, &isnull));

	fd = OpenTransientFile(path, O_RDONLY | PG_BINARY);
	if (fd < 0)
		return DRAIN_WAIT;
	if (fstat(fd, &st) != 0 || st.st_size < offset)
	{
		CloseTransientFile(fd);
		return DRAIN_WAIT;
	}
	avail = Min(st.st_size - offset, SPOOL_READ_MAX + 8 + SPOOL_MAX_RECORD);
	data = palloc(avail + 1);
	if (pg_pread(fd, data, avail, offset) != avail)
	{
		CloseTransientFile(fd);
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not read spool file \"%s\": %m", path)));
	}
	CloseTransientFile(fd);

	record_cxt = AllocSetContextCreate(CurrentMemoryContext, "trail spool record",
									   ALLOCSET_DEFAULT_SIZES);
	pos = 0;
	while (pos + 8 <= avail && pos < SPOOL_READ_MAX)
	{
		uint32		header[2];
		pg_crc32c	crc;
		MemoryContext oldcxt;

		memcpy(header, data + pos, sizeof(header));
		if (header[0] > SPOOL_MAX_RECORD || pos + 8 + header[0] > avail)
			break;
		INIT_CRC32C(crc);
		COMP_CRC32C(crc, data + pos + 8, header[0]);
		FIN_CRC32C(crc);
		if (crc != header[1])
			break;				/* cut short by a crash */
		oldcxt = MemoryContextSwitchTo(record_cxt);
		insert_record(pnstrdup(data + pos + 8, header[0]));
		MemoryContextSwitchTo(oldcxt);
		MemoryContextReset(record_cxt);
		pos += 8 + header[0];
	}
	MemoryContextDelete(record_cxt);
	if (pos > 0)
	{
		values[1] = Int64GetDatum(offset + pos);
		if (SPI_execute_with_args("INSERT INTO trail.spool_progress (file, byte_offset) VALUES ($1, $2)"
								  " ON CONFLICT (file) DO UPDATE SET byte_offset = EXCLUDED.byte_offset",
								  2, types, values, NULL, false, 0) < 0)
			elog(ERROR, "trail: could not record spool progress");
	}
	if (pos >= SPOOL_READ_MAX)
		return DRAIN_MORE;
	if (alive)
		return DRAIN_WAIT;
	if (offset + pos < st.st_size)
		ereport(WARNING,
				(errmsg("trail: spool file \"%s\" ends with %lld bytes cut short by a crash",
						path, (long long) (st.st_size - offset - pos))));
	return DRAIN_DONE;
}

/*
 * Forget the position in a removed file (NULL: in every file of the spool
 * that no longer exists).
 */
static void
forget_progress(const char *name)
{
	TrailSqlScope scope;
	Oid			types[1] = {TEXTOID};
	Datum		values[1];

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	trail_sql_begin(&scope, trail_require_catalog()->owner);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "trail: SPI_connect failed");
	if (name != NULL)
	{
		values[0] = CStringGetTextDatum(name);
		(void) SPI_execute_with_args("DELETE FROM trail.spool_progress WHERE file = $1",
									 1, types, values, NULL, false, 0);
	}
	else if (SPI_execute("SELECT file FROM trail.spool_progress", true, 0) == SPI_OK_SELECT)
	{
		uint64		n = SPI_processed;
		SPITupleTable *tuptable = SPI_tuptable;
		uint64		i;

		for (i = 0; i < n; i++)
		{
			char	   *file = SPI_getvalue(tuptable->vals[i], tuptable->tupdesc, 1);
			char		target[NAMEDATALEN];
			char		path[MAXPGPATH];
			bool		exists = false;
			int			t;

			/* the file is in this database's directory or the global one */
			for (t = 0; t < 2 && !exists; t++)
			{
				struct stat st;

				if (t == 0)
					snprintf(target, sizeof(target), "%u", MyDatabaseId);
				else
					strlcpy(target, "global", sizeof(target));
				snprintf(path, sizeof(path), "%s/%s/%s", SPOOL_DIR, target, file);
				exists = (stat(path, &st) == 0);
			}
			if (!exists)
			{
				values[0] = CStringGetTextDatum(file);
				(void) SPI_execute_with_args("DELETE FROM trail.spool_progress WHERE file = $1",
											 1, types, values, NULL, false, 0);
			}
		}
	}
	SPI_finish();
	trail_sql_end(&scope);
	PopActiveSnapshot();
	CommitTransactionCommand();
}

/*
 * Drain one target's directory: one transaction per part of a file.
 */
static void
drain_dir(const char *target)
{
	char		dir[MAXPGPATH];
	DIR		   *d;
	struct dirent *de;
	List	   *names = NIL;
	ListCell   *lc;

	snprintf(dir, sizeof(dir), "%s/%s", SPOOL_DIR, target);
	d = AllocateDir(dir);
	if (d == NULL)
		return;
	while ((de = ReadDirExtended(d, dir, LOG)) != NULL)
		if (strlen(de->d_name) > 6 &&
			strcmp(de->d_name + strlen(de->d_name) - 6, ".spool") == 0)
			names = lappend(names, pstrdup(de->d_name));
	FreeDir(d);

	foreach(lc, names)
	{
		char		path[MAXPGPATH];
		const char *name = lfirst(lc);
		DrainResult result;

		snprintf(path, sizeof(path), "%s/%s", dir, name);
		do
		{
			TrailSqlScope scope;

			SetCurrentStatementStartTimestamp();
			StartTransactionCommand();
			PushActiveSnapshot(GetTransactionSnapshot());
			trail_sql_begin(&scope, trail_require_catalog()->owner);
			if (SPI_connect() != SPI_OK_CONNECT)
				elog(ERROR, "trail: SPI_connect failed");
			result = drain_file(path, name);
			SPI_finish();
			trail_sql_end(&scope);
			PopActiveSnapshot();
			CommitTransactionCommand();
			CHECK_FOR_INTERRUPTS();
		} while (result == DRAIN_MORE);

		/*
		 * Drained and committed (synchronously): the file goes first, its
		 * position after, so a crash in between never reads it again.
		 */
		if (result == DRAIN_DONE)
		{
			if (unlink(path) != 0 && errno != ENOENT)
				ereport(WARNING,
						(errcode_for_file_access(),
						 errmsg("could not remove spool file \"%s\": %m", path)));
			else
				forget_progress(name);
		}
	}

	/* positions of files a crash removed before they were forgotten */
	forget_progress(NULL);
}

void
trail_spool_drain(bool home)
{
	char		target[16];
	uint64		lost;

	snprintf(target, sizeof(target), "%u", MyDatabaseId);
	drain_dir(target);
	if (home)
		drain_dir("global");

	/* say so when records could not be written */
	lost = pg_atomic_read_u64(&spool_shared->dropped);
	if (lost > pg_atomic_read_u64(&spool_shared->reported_dropped))
	{
		ereport(WARNING,
				(errmsg("trail: " UINT64_FORMAT " events could not be written to the spool since the server started",
						lost),
				 errhint("See trail.spool_status(); the spool holds at most %d files per database.",
						 SPOOL_MAX_FILES)));
		pg_atomic_write_u64(&spool_shared->reported_dropped, lost);
	}
}

/*
 * trail.spool_status(): events written to the spool and dropped since the
 * server started, and the files waiting now.
 */
Datum
trail_spool_status(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[3];
	bool		nulls[3] = {false, false, false};
	DIR		   *d;
	struct dirent *de;
	int64		waiting = 0;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	d = AllocateDir(SPOOL_DIR);
	while (d != NULL && (de = ReadDirExtended(d, SPOOL_DIR, LOG)) != NULL)
	{
		char		sub[MAXPGPATH];
		DIR		   *s;
		struct dirent *f;

		if (de->d_name[0] == '.')
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", SPOOL_DIR, de->d_name);
		s = AllocateDir(sub);
		while (s != NULL && (f = ReadDirExtended(s, sub, LOG)) != NULL)
			if (strstr(f->d_name, ".spool") != NULL)
				waiting++;
		if (s != NULL)
			FreeDir(s);
	}
	if (d != NULL)
		FreeDir(d);
	values[0] = Int64GetDatum((int64) pg_atomic_read_u64(&spool_shared->written));
	values[1] = Int64GetDatum((int64) pg_atomic_read_u64(&spool_shared->dropped));
	values[2] = Int64GetDatum(waiting);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

void
trail_spool_init(void)
{
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = spool_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = spool_shmem_startup;
}
