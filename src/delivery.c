/*-------------------------------------------------------------------------
 *
 * delivery.c
 *	  What a trail delivers: CloudTrail log files of its events, and signed,
 *	  chained digest files, written into its bucket under
 *	  trail.log_directory (spec sections b and c).
 *
 * A delivery pass runs in a background worker connected to one database
 * (worker.c) and does, for each trail:
 *
 *	1. finish what an earlier pass left half-done (files recorded as
 *	   written but not yet renamed into place);
 *	2. deliver: read the events after the trail's cursor and below the
 *	   commit watermark (commit_order.c) in (commit_seq, event_id) order,
 *	   render each selected one (record.c), gzip them into log files of at
 *	   most trail.max_file_records records (Insight events, chosen by the
 *	   trail's insight selectors, in files of their own under
 *	   CloudTrail-Insight/), then rename the files into place and announce
 *	   them with NOTIFY on the trail's topic.  Imported history
 *	   (import.c) is not delivered again;
 *	3. digest: when the digest period is over (or the trail stopped), write
 *	   a digest listing the log files delivered since the previous one,
 *	   signed (keys.c) over CloudTrail's signing string and chained to it.
 *
 * Design notes:
 *
 *	- Exactly once.  A file's temporary copy is written and fsynced first;
 *	  then one transaction records the file (state 'written', with the
 *	  range of events it holds) and moves the cursor past its events; then
 *	  the file is renamed into place and marked 'delivered'.  A crash before
 *	  that commit leaves only a temporary file, and the events are read
 *	  again; a crash after it leaves a recorded file that step 1 renames
 *	  (or, if its temporary copy is gone, writes again from its range).
 *	  The watermark guarantees that no event can later appear behind the
 *	  cursor.  So every selected committed event is in exactly one file.
 *	- Bounded.  Events are read by a cursor in windows of commit sequence
 *	  numbers, one transaction per window, into files of at most
 *	  trail.max_file_records records and 32 MB (compressed whole with
 *	  libdeflate): a backlog of millions of events is many short
 *	  transactions and files, in bounded memory.
 *	- Failures of the destination (missing directory, permissions, a full
 *	  disk) abort the pass for that trail: nothing is recorded, the cursor
 *	  stays, the error goes to LatestDeliveryError, and the next pass tries
 *	  again.
 *	- A digest's exact bytes and signature are recorded with it, so a
 *	  digest is written again byte for byte if its rename was lost.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/stat.h>
#include <unistd.h>
#include <libdeflate.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "common/cryptohash.h"
#include "common/file_perm.h"
#include "common/sha2.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/interrupt.h"
#include "storage/fd.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "catalog.h"
#include "commit_order.h"
#include "context.h"
#include "delivery.h"
#include "event.h"
#include "keys.h"
#include "record.h"
#include "regions.h"
#include "selectors.h"
#include "sql.h"
#include "trail.h"

/* commit sequence numbers read per transaction, at first */
#define INITIAL_WINDOW 1024
#define MAX_WINDOW (1024 * 1024)

/* rows fetched from the cursor at a time */
#define FETCH_ROWS 1000

/*
 * Compression: libdeflate's level 1 compresses trail's records at ~430 MB/s
 * and ~25:1, zlib's level 1 at ~256 MB/s and ~19:1 (measured once on a 13 MB log
 * file of row events on the development machine).  A file is compressed
 * whole, so its uncompressed size is bounded too.
 */
#define GZIP_LEVEL 1

/* where Insight events are delivered, beside CloudTrail/ (spec section b) */
#define INSIGHT_FOLDER "CloudTrail-Insight"

/* a bucket's directory of files being written (staging_path) */
#define STAGING_DIR ".trail-staging"
#define MAX_FILE_BYTES (32 * 1024 * 1024)

/* A position in delivery order */
typedef struct EventKey
{
	int64		seq;
	pg_uuid_t	id;
} EventKey;

/* A trail, as one delivery pass sees it */
typedef struct Trail
{
	char	   *name;
	char	   *bucket;
	char	   *prefix;			/* NULL: none */
	char	   *topic;			/* NULL: no notifications */
	bool		include_global;
	bool		validation;
	bool		logging;
	bool		stopped_at_seq; /* stopped: deliver up to stop_seq */
	int64		stop_seq;
	TrailSelectorSet *selectors;
	bool		call_rate_insights; /* insight selectors */
	bool		error_rate_insights;
	char	   *region;			/* this database's region */
	char	   *home_region;	/* where the trail was created */
	EventKey	after;			/* the cursor */
	bool		digest_open;
	TimestampTz digest_start;
	char	   *prev_bucket;	/* previous digest (NULL: none) */
	char	   *prev_object;
	char	   *prev_hash;
	char	   *prev_signature;
} Trail;

/* A gzip file being written, with the SHA-256 of its uncompressed bytes */
typedef struct GzipFile
{
	char		path[MAXPGPATH];
	StringInfoData data;		/* uncompressed, whole */
} GzipFile;

/* A log file being filled */
typedef struct LogFile
{
	char	   *key;
	char		final_path[MAXPGPATH];
	GzipFile	gz;
	int			records;
	TimestampTz oldest;
	TimestampTz newest;
	EventKey	from;			/* excluded */
	EventKey	to;				/* included */
	char		hash[PG_SHA256_DIGEST_STRING_LENGTH];
	StringInfoData record;		/* the record being added */
} LogFile;

/* ---------- files ---------- */

/*
 * The root of the buckets: trail.log_directory (relative paths are taken
 * from the data directory, the server's working directory).
 */
static const char *
log_root(void)
{
	return trail_log_directory;
}

/*
 * Fail unless dir, which exists, resolves to a place below the root (no
 * symbolic link leads out of it).
 */
static void
check_inside(const char *dir, const char *real_root, const char *path)
{
	char		real_dir[PATH_MAX];

	if (realpath(dir, real_dir) == NULL ||
		strncmp(real_dir, real_root, strlen(real_root)) != 0 ||
		real_dir[strlen(real_root)] != '/')
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("trail: refusing to write \"%s\": it is outside trail.log_directory",
						path)));
}

/*
 * Make the directories of path's parent that do not exist yet, and the
 * root itself if it is missing.  Each directory below the root is checked
 * before anything is made in it, so a symbolic link out of the root never
 * gets so much as a directory made at its far end.
 */
static void
make_parent_dirs(const char *path)
{
	char		dir[MAXPGPATH];
	char		real_root[PATH_MAX];
	char	   *p;
	size_t		rootlen = strlen(log_root());

	strlcpy(dir, path, sizeof(dir));
	p = strrchr(dir, '/');
	if (p == NULL)
		elog(ERROR, "trail: bad delivery path \"%s\"", path);
	*p = '\0';
	/* the root is made when missing; one that cannot be is an error */
	if (realpath(log_root(), real_root) == NULL && errno == ENOENT)
		(void) pg_mkdir_p(unconstify(char *, log_root()), pg_dir_create_mode);
	if (realpath(log_root(), real_root) == NULL)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("trail.log_directory \"%s\" is not accessible: %m", log_root())));
	for (p = dir + rootlen + 1;; p++)
	{
		bool		last = (*p == '\0');

		if (!last && *p != '/')
			continue;
		*p = '\0';
		if (MakePGDirectory(dir) < 0 && errno != EEXIST)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not create directory \"%s\": %m", dir)));
		check_inside(dir, real_root, path);
		if (last)
			break;
		*p = '/';
	}
}

/*
 * Where a file of a bucket is written before it is renamed into place:
 * the bucket's staging directory, so that copies a crash left behind are
 * found (and removed) without walking the bucket.
 */
static void
staging_path(char *out, const char *bucket, const char *key)
{
	const char *name = strrchr(key, '/');

	snprintf(out, MAXPGPATH, "%s/%s/" STAGING_DIR "/%s.tmp", log_root(), bucket,
			 name ? name + 1 : key);
}

/*
 * The path of an object of a bucket.
 */
static void
object_path(char *out, const char *bucket, const char *key)
{
	snprintf(out, MAXPGPATH, "%s/%s/%s", log_root(), bucket, key);
}

/*
 * Write all of buf to fd, or raise an error naming path.
 */
static void
write_all(int fd, const void *buf, size_t len, const char *path)
{
	const char *p = buf;

	while (len > 0)
	{
		ssize_t		n;

		errno = 0;
		n = write(fd, p, len);
		if (n <= 0)
		{
			/* a short write without an error means the disk is full */
			if (errno == 0)
				errno = ENOSPC;
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not write file \"%s\": %m", path)));
		}
		p += n;
		len -= n;
	}
}

/*
 * Start a gzip file at path.
 */
static void
gz_open(GzipFile *gz, const char *path)
{
	strlcpy(gz->path, path, sizeof(gz->path));
	initStringInfo(&gz->data);
}

/*
 * Add uncompressed bytes.
 */
static void
gz_write(GzipFile *gz, const char *data, size_t len)
{
	appendBinaryStringInfo(&gz->data, data, len);
}

/*
 * The compressor, made once per process (libdeflate's memory is malloc'd,
 * so it is kept rather than risk leaking it on an error).
 */
static struct libdeflate_compressor *
compressor(void)
{
	static struct libdeflate_compressor *c = NULL;

	if (c == NULL)
	{
		c = libdeflate_alloc_compressor(GZIP_LEVEL);
		if (c == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of memory")));
	}
	return c;
}

/*
 * Compress the file in one go, write it (truncating what was there), fsync
 * it and close it; hash receives the hex SHA-256 of the uncompressed bytes.
 */
static void
gz_close(GzipFile *gz, char *hash)
{
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
	pg_cryptohash_ctx *sha = pg_cryptohash_create(PG_SHA256);
	size_t		bound = libdeflate_gzip_compress_bound(compressor(), gz->data.len);
	char	   *out = palloc(bound);
	size_t		outlen;
	int			fd;
	int			i;

	if (sha == NULL || pg_cryptohash_init(sha) < 0 ||
		pg_cryptohash_update(sha, (uint8 *) gz->data.data, gz->data.len) < 0 ||
		pg_cryptohash_final(sha, digest, sizeof(digest)) < 0)
		elog(ERROR, "trail: SHA-256 failed");
	pg_cryptohash_free(sha);
	for (i = 0; i < PG_SHA256_DIGEST_LENGTH; i++)
		sprintf(hash + 2 * i, "%02x", digest[i]);

	outlen = libdeflate_gzip_compress(compressor(), gz->data.data, gz->data.len, out, bound);
	if (outlen == 0)
		elog(ERROR, "trail: gzip failed");

	make_parent_dirs(gz->path);
	fd = OpenTransientFile(gz->path, O_WRONLY | O_CREAT | O_TRUNC | PG_BINARY);
	if (fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create file \"%s\": %m", gz->path)));
	write_all(fd, out, outlen, gz->path);
	if (pg_fsync(fd) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not fsync file \"%s\": %m", gz->path)));
	if (CloseTransientFile(fd) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not close file \"%s\": %m", gz->path)));
	pfree(out);
	pfree(gz->data.data);
}

/*
 * Write a small file whole (a digest's sidecar), fsynced.
 */
static void
write_small_file(const char *path, const char *data)
{
	int			fd;

	make_parent_dirs(path);
	fd = OpenTransientFile(path, O_WRONLY | O_CREAT | O_TRUNC | PG_BINARY);
	if (fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create file \"%s\": %m", path)));
	write_all(fd, data, strlen(data), path);
	if (pg_fsync(fd) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not fsync file \"%s\": %m", path)));
	CloseTransientFile(fd);
}

/*
 * Does a file exist?
 */
static bool
file_exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

/* ---------- names ---------- */

/*
 * Format t (UTC) with a strftime-like pattern of %Y %m %d %H %M %S only.
 */
static char *
format_utc(TimestampTz t, const char *pattern)
{
	struct pg_tm tm;
	fsec_t		fsec;
	StringInfoData buf;
	const char *p;

	if (timestamp2tm(t, NULL, &tm, &fsec, NULL, NULL) != 0)
		elog(ERROR, "trail: timestamp out of range");
	initStringInfo(&buf);
	for (p = pattern; *p; p++)
	{
		if (*p != '%' || p[1] == '\0')
		{
			appendStringInfoChar(&buf, *p);
			continue;
		}
		switch (*++p)
		{
			case 'Y':
				appendStringInfo(&buf, "%04d", tm.tm_year);
				break;
			case 'm':
				appendStringInfo(&buf, "%02d", tm.tm_mon);
				break;
			case 'd':
				appendStringInfo(&buf, "%02d", tm.tm_mday);
				break;
			case 'H':
				appendStringInfo(&buf, "%02d", tm.tm_hour);
				break;
			case 'M':
				appendStringInfo(&buf, "%02d", tm.tm_min);
				break;
			case 'S':
				appendStringInfo(&buf, "%02d", tm.tm_sec);
				break;
			default:
				appendStringInfoChar(&buf, *p);
		}
	}
	return buf.data;
}

/*
 * The key of a new object: [prefix/]AWSLogs/<account>/<folder>/<region>/
 * YYYY/MM/DD/<name>, dated by t.
 */
static char *
object_key(const Trail *trail, const char *folder, TimestampTz t, const char *name)
{
	return psprintf("%s%sAWSLogs/%s/%s/%s/%s/%s",
					trail->prefix ? trail->prefix : "", trail->prefix ? "/" : "",
					trail_account_id(), folder, trail->region,
					format_utc(t, "%Y/%m/%d"), name);
}

/*
 * 16 random letters and digits: the unique part of a log file's name.
 */
static char *
unique_part(void)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
	unsigned char bytes[16];
	char	   *s = palloc(17);
	int			i;

	if (!pg_strong_random(bytes, sizeof(bytes)))
		elog(ERROR, "trail: could not generate random bytes");
	for (i = 0; i < 16; i++)
		s[i] = alphabet[bytes[i] % (sizeof(alphabet) - 1)];
	s[16] = '\0';
	return s;
}

/* ---------- SQL ---------- */

/*
 * Run one statement in the current SPI connection, as trail's own work (its
 * tables refuse changes from anyone else); returns SPI_processed.
 */
static uint64
run(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls)
{
	TrailSqlScope scope;
	volatile int rc;

	trail_sql_begin(&scope, trail_require_catalog()->owner);
	PG_TRY();
	{
		rc = SPI_execute_with_args(sql, nargs, types, values, nulls, false, 0);
	}
	PG_FINALLY();
	{
		trail_sql_end(&scope);
	}
	PG_END_TRY();
	if (rc < 0)
		elog(ERROR, "trail: delivery statement failed (%s): %s",
			 SPI_result_code_string(rc), sql);
	return SPI_processed;
}

/*
 * Column i (1-based) of row r of the last result as a C string, or NULL.
 */
static char *
text_col(uint64 r, int i)
{
	return SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, i);
}

/*
 * Column i of row r as a Datum; *isnull says whether it is NULL.
 */
static Datum
col(uint64 r, int i, bool *isnull)
{
	return SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, i, isnull);
}

/*
 * Start a transaction with a snapshot and an SPI connection.
 */
static void
begin_work(void)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "trail: SPI_connect failed");
}

/*
 * Commit what begin_work() started.
 */
static void
commit_work(void)
{
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
}

/*
 * Read a trail and its state in this region (state made if missing);
 * false if the trail no longer exists.
 */
static bool
load_trail(const char *name, Trail *t)
{
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		values[2] = {CStringGetTextDatum(name), CStringGetTextDatum(trail_region())};
	bool		isnull;
	Datum		d;

	if (run("SELECT t.s3_bucket_name, t.s3_key_prefix, t.sns_topic_name,"
			" t.include_global_service_events, t.enable_log_file_validation,"
			" t.is_logging, t.stop_seq, t.advanced_event_selectors,"
			" s.after_seq, s.after_event_id, s.digest_start_time,"
			" s.previous_digest_bucket, s.previous_digest_object,"
			" s.previous_digest_hash, s.previous_digest_signature, t.home_region,"
			" coalesce(t.insight_selectors @> '[{\"InsightType\": \"ApiCallRateInsight\"}]', false),"
			" coalesce(t.insight_selectors @> '[{\"InsightType\": \"ApiErrorRateInsight\"}]', false)"
			" FROM trail.trails t JOIN trail.trail_state s ON s.trail_name = t.name"
			" WHERE t.name = $1 AND s.region = $2 FOR UPDATE OF s",
			2, types, values, NULL) != 1)
		return false;
	memset(t, 0, sizeof(Trail));
	t->name = pstrdup(name);
	t->region = pstrdup(trail_region());
	t->bucket = text_col(0, 1);
	t->prefix = text_col(0, 2);
	t->topic = text_col(0, 3);
	t->include_global = DatumGetBool(col(0, 4, &isnull));
	t->validation = DatumGetBool(col(0, 5, &isnull));
	t->logging = DatumGetBool(col(0, 6, &isnull));
	d = col(0, 7, &isnull);
	t->stopped_at_seq = !isnull;
	t->stop_seq = isnull ? 0 : DatumGetInt64(d);
	d = col(0, 8, &isnull);
	t->selectors = trail_selectors_compile(isnull ? NULL : DatumGetJsonbPCopy(d));
	t->after.seq = DatumGetInt64(col(0, 9, &isnull));
	memcpy(&t->after.id, DatumGetUUIDP(col(0, 10, &isnull)), sizeof(pg_uuid_t));
	d = col(0, 11, &isnull);
	t->digest_open = !isnull;
	t->digest_start = isnull ? 0 : DatumGetTimestampTz(d);
	t->prev_bucket = text_col(0, 12);
	t->prev_object = text_col(0, 13);
	t->prev_hash = text_col(0, 14);
	t->prev_signature = text_col(0, 15);
	t->home_region = text_col(0, 16);
	t->call_rate_insights = DatumGetBool(col(0, 17, &isnull));
	t->error_rate_insights = DatumGetBool(col(0, 18, &isnull));
	return true;
}

/*
 * Record the outcome of a delivery attempt in the trail's status.
 */
static void
record_status(const char *name, bool digest, const char *error)
{
	Oid			types[3] = {TEXTOID, TEXTOID, TEXTOID};
	Datum		values[3] = {CStringGetTextDatum(name), CStringGetTextDatum(trail_region()),
	error ? CStringGetTextDatum(error) : (Datum) 0};
	char		nulls[3] = {' ', ' ', error ? ' ' : 'n'};

	if (digest)
		run("UPDATE trail.trail_state SET latest_digest_delivery_error = $3"
			" WHERE trail_name = $1 AND region = $2", 3, types, values, nulls);
	else
		run("UPDATE trail.trail_state SET latest_delivery_error = $3,"
			" latest_delivery_attempt_time = pg_catalog.now()"
			" WHERE trail_name = $1 AND region = $2", 3, types, values, nulls);
}

/* ---------- log files ---------- */

/*
 * The columns of the delivery query (open_events), by position.  Row events
 * come with their own parts and the id of their statement's row; all other
 * events with their whole row and what selection looks at.
 */
enum
{
	Q_COMMIT_SEQ = 1,
	Q_EVENT_ID,
	Q_EVENT_TIME,
	Q_STATEMENT_EVENT_ID,
	Q_ROW_NUMBER,
	Q_PARTITION_NAME,
	Q_ROW_KEY,
	Q_OLD_IMAGE,
	Q_NEW_IMAGE,
	Q_EVENT,
	Q_CATEGORY,
	Q_NAME,
	Q_READ_ONLY,
	Q_SOURCE,
	Q_IS_GLOBAL,
	Q_USER_ARN,
	Q_RESOURCES,
	Q_INSIGHT_TYPE
};

/*
 * A statement row heading row events: its record made once into a
 * template, and what selection needs (in the window's hash table).
 */
typedef struct Statement
{
	pg_uuid_t	event_id;		/* hash key */
	TrailRowTemplate tpl;
	SelectorEvent sel;
	bool		is_global;
	bool		selected;		/* for rows of the table named */
} Statement;

/*
 * Does the trail deliver an event with these attributes?
 */
static bool
trail_selects(const Trail *t, const SelectorEvent *ev, bool is_global)
{
	if (is_global && !t->include_global)
		return false;
	return trail_selector_set_matches(t->selectors, ev);
}

/*
 * Selection attributes of a whole event, from columns first..first+6 of row
 * r of the last result (category, name, read_only, source, is_global, user
 * ARN, resources).
 */
static void
selector_event(uint64 r, int first, SelectorEvent *ev, bool *is_global)
{
	bool		isnull;
	Datum		d;

	memset(ev, 0, sizeof(SelectorEvent));
	ev->event_category = text_col(r, first);
	ev->event_name = text_col(r, first + 1);
	d = col(r, first + 2, &isnull);
	ev->read_only = !isnull && DatumGetBool(d);
	ev->event_source = text_col(r, first + 3);
	*is_global = DatumGetBool(col(r, first + 4, &isnull));
	ev->user_arn = text_col(r, first + 5);
	d = col(r, first + 6, &isnull);
	trail_selector_event_resources(ev, isnull ? NULL : DatumGetJsonbPCopy(d));
}

/*
 * The statement rows heading the row events of commit numbers [from, to],
 * each made into a template, in a hash table by event id.
 */
static HTAB *
load_statements(const Trail *t, int64 from, int64 to)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[2] = {INT8OID, INT8OID};
	Datum		values[2] = {Int64GetDatum(from), Int64GetDatum(to)};
	HASHCTL		ctl;
	HTAB	   *statements;
	Portal		portal;

	ctl.keysize = sizeof(pg_uuid_t);
	ctl.entrysize = sizeof(Statement);
	ctl.hcxt = CurrentMemoryContext;
	statements = hash_create("trail statements", 256, &ctl,
							 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	if (plan == NULL)
	{
		plan = SPI_prepare("SELECT e.event_id, e, e.event_category, e.event_name,"
						   " e.read_only, e.event_source, e.is_global,"
						   " e.user_identity->>'arn', e.resources"
						   " FROM trail.events e"
						   " WHERE e.commit_seq >= $1 AND e.commit_seq <= $2"
						   " AND e.event_category = 'Data'"
						   " AND e.additional_event_data ? 'rowImages'",
						   2, types);
		if (plan == NULL || SPI_keepplan(plan) != 0)
			elog(ERROR, "trail: could not prepare the statement query");
	}
	portal = SPI_cursor_open(NULL, plan, values, NULL, true);
	for (;;)
	{
		uint64		r;

		SPI_cursor_fetch(portal, true, FETCH_ROWS);
		if (SPI_processed == 0)
			break;
		for (r = 0; r < SPI_processed; r++)
		{
			bool		isnull;
			bool		found;
			Statement  *st = hash_search(statements,
										 DatumGetUUIDP(col(r, 1, &isnull)),
										 HASH_ENTER, &found);

			trail_render_row_template(DatumGetHeapTupleHeader(col(r, 2, &isnull)), &st->tpl);
			selector_event(r, 3, &st->sel, &st->is_global);
			st->selected = trail_selects(t, &st->sel, st->is_global);
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	return statements;
}

/*
 * Does the trail deliver a row event of that statement in that partition
 * (NULL: the table named)?  A partition is one more resource to select by.
 */
static bool
row_selected(const Trail *t, Statement *st, const char *partition_arn)
{
	SelectorEvent ev = st->sel;
	const char **types;
	const char **arns;

	if (partition_arn == NULL)
		return st->selected;
	types = palloc(sizeof(char *) * (ev.nresources + 1));
	arns = palloc(sizeof(char *) * (ev.nresources + 1));
	memcpy(types, ev.resource_types, sizeof(char *) * ev.nresources);
	memcpy(arns, ev.resource_arns, sizeof(char *) * ev.nresources);
	types[ev.nresources] = "PG::Table";
	arns[ev.nresources] = partition_arn;
	ev.resource_types = types;
	ev.resource_arns = arns;
	ev.nresources++;
	return trail_selects(t, &ev, st->is_global);
}

/*
 * Start a log file whose events come after from: of Insight events in
 * their own folder (spec section b), or of all others.
 */
static LogFile *
log_open(const Trail *t, EventKey from, const char *key, bool insight)
{
	LogFile    *f = palloc0(sizeof(LogFile));
	char		tmp[MAXPGPATH];
	TimestampTz now = GetCurrentTimestamp();
	const char *folder = insight ? INSIGHT_FOLDER : "CloudTrail";

	f->key = key ? pstrdup(key) :
		object_key(t, folder, now,
				   psprintf("%s_%s_%s_%s_%s.json.gz", trail_account_id(), folder,
							t->region, format_utc(now, "%Y%m%dT%H%MZ"), unique_part()));
	object_path(f->final_path, t->bucket, f->key);
	staging_path(tmp, t->bucket, f->key);
	gz_open(&f->gz, tmp);
	gz_write(&f->gz, "{\"Records\":[", 12);
	initStringInfo(&f->record);
	f->from = from;
	return f;
}

/*
 * Add the record in f->record, of an event at time t.
 */
static void
log_add(LogFile *f, EventKey key, TimestampTz t)
{
	if (f->records > 0)
		gz_write(&f->gz, ",", 1);
	gz_write(&f->gz, f->record.data, f->record.len);
	resetStringInfo(&f->record);
	if (f->records == 0 || t < f->oldest)
		f->oldest = t;
	if (f->records == 0 || t > f->newest)
		f->newest = t;
	f->records++;
	f->to = key;
}

/*
 * Finish a log file's temporary copy.
 */
static void
log_close(LogFile *f)
{
	gz_write(&f->gz, "]}", 2);
	gz_close(&f->gz, f->hash);
}

/*
 * Open a cursor over the events in (from, to], in delivery order (the
 * columns are the Q_* above).
 */
static Portal
open_events(EventKey from, EventKey to)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[4] = {INT8OID, UUIDOID, INT8OID, UUIDOID};
	Datum		values[4];

	if (plan == NULL)
	{
		plan = SPI_prepare("SELECT * FROM ("
						   " SELECT e.commit_seq, e.event_id, e.event_time,"
						   "  NULL::uuid AS statement_event_id, NULL::int4 AS row_number,"
						   "  NULL::text AS partition_name, NULL::text AS row_key,"
						   "  NULL::text AS old_image, NULL::text AS new_image, e AS event,"
						   "  e.event_category, e.event_name, e.read_only, e.event_source,"
						   "  e.is_global, e.user_identity->>'arn' AS user_arn, e.resources,"
						   "  e.insight_details->>'insightType' AS insight_type"
						   "  FROM trail.events e"
						   "  WHERE e.commit_seq >= $1 AND e.commit_seq <= $3"
						   "  AND (e.commit_seq, e.event_id) > ($1, $2)"
						   "  AND (e.commit_seq, e.event_id) <= ($3, $4)"
						   "  AND NOT (e.event_category = 'Data' AND e.additional_event_data ? 'rowImages')"
						   "  AND e.imported_from IS NULL"
						   " UNION ALL"
						   " SELECT r.commit_seq, r.event_id, r.event_time, r.statement_event_id,"
						   "  r.row_number, r.partition_name, r.row_key::text, r.old_image::text,"
						   "  r.new_image::text, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL"
						   "  FROM trail.event_rows r"
						   "  WHERE r.commit_seq >= $1 AND r.commit_seq <= $3"
						   "  AND (r.commit_seq, r.event_id) > ($1, $2)"
						   "  AND (r.commit_seq, r.event_id) <= ($3, $4)) d"
						   " ORDER BY d.commit_seq, d.event_id",
						   4, types);
		if (plan == NULL || SPI_keepplan(plan) != 0)
			elog(ERROR, "trail: could not prepare the delivery query");
	}
	values[0] = Int64GetDatum(from.seq);
	values[1] = UUIDPGetDatum(&from.id);
	values[2] = Int64GetDatum(to.seq);
	values[3] = UUIDPGetDatum(&to.id);
	return SPI_cursor_open(NULL, plan, values, NULL, true);
}

/*
 * Is row r of the last fetch an Insight event?
 */
static bool
is_insight(uint64 r)
{
	char	   *category = text_col(r, Q_CATEGORY);

	return category != NULL && strcmp(category, "Insight") == 0;
}

/*
 * Does the trail deliver Insight events of this type (its insight
 * selectors, not its event selectors)?
 */
static bool
insight_selected(const Trail *t, const char *insight_type)
{
	if (insight_type == NULL)
		return false;
	if (strcmp(insight_type, "ApiCallRateInsight") == 0)
		return t->call_rate_insights;
	if (strcmp(insight_type, "ApiErrorRateInsight") == 0)
		return t->error_rate_insights;
	return false;
}

/*
 * Render row r of the last fetch into f->record if the trail delivers it.
 */
static bool
render_selected(const Trail *t, HTAB *statements, uint64 r, StringInfo record)
{
	bool		isnull;
	Datum		d = col(r, Q_STATEMENT_EVENT_ID, &isnull);

	if (isnull)
	{
		SelectorEvent ev;
		bool		is_global;

		if (is_insight(r))
		{
			if (!insight_selected(t, text_col(r, Q_INSIGHT_TYPE)))
				return false;
		}
		else
		{
			selector_event(r, Q_CATEGORY, &ev, &is_global);
			if (!trail_selects(t, &ev, is_global))
				return false;
		}
		trail_render_record(DatumGetHeapTupleHeader(col(r, Q_EVENT, &isnull)), record);
	}
	else
	{
		Statement  *st = hash_search(statements, DatumGetUUIDP(d), HASH_FIND, NULL);
		TrailRowParts row;

		if (st == NULL)
			elog(ERROR, "trail: a row event has no statement event");
		row.partition_name = text_col(r, Q_PARTITION_NAME);
		row.partition_arn = row.partition_name ?
			trail_arn("table", t->region, row.partition_name) : NULL;
		if (!row_selected(t, st, row.partition_arn))
			return false;
		row.event_id = DatumGetUUIDP(col(r, Q_EVENT_ID, &isnull));
		row.statement_event_id = &st->event_id;
		row.row_number = DatumGetInt32(col(r, Q_ROW_NUMBER, &isnull));
		row.row_key = text_col(r, Q_ROW_KEY);
		row.old_image = text_col(r, Q_OLD_IMAGE);
		row.new_image = text_col(r, Q_NEW_IMAGE);
		trail_render_row_record(&st->tpl, &row, record);
	}
	return true;
}

/*
 * Record a log file as written (its range and hash), in the current
 * transaction.
 */
static void
record_written_log(const Trail *t, const LogFile *f)
{
	Oid			types[12] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, INT4OID, INT8OID, UUIDOID,
	INT8OID, UUIDOID, TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID};
	Datum		values[12];

	values[0] = CStringGetTextDatum(t->bucket);
	values[1] = CStringGetTextDatum(f->key);
	values[2] = CStringGetTextDatum(t->name);
	values[3] = CStringGetTextDatum(t->region);
	values[4] = Int32GetDatum(f->records);
	values[5] = Int64GetDatum(f->from.seq);
	values[6] = UUIDPGetDatum(&f->from.id);
	values[7] = Int64GetDatum(f->to.seq);
	values[8] = UUIDPGetDatum(&f->to.id);
	values[9] = CStringGetTextDatum(f->hash);
	values[10] = TimestampTzGetDatum(f->oldest);
	values[11] = TimestampTzGetDatum(f->newest);
	run("INSERT INTO trail.delivered_files (s3_bucket, s3_object, trail_name, region,"
		" file_type, state, written_time, record_count, from_seq, from_event_id,"
		" to_seq, to_event_id, hash_value, oldest_event_time, newest_event_time)"
		" VALUES ($1, $2, $3, $4, 'log', 'written', pg_catalog.now(), $5, $6, $7, $8, $9,"
		" $10, $11, $12)",
		12, types, values, NULL);
}

/*
 * Move the trail's cursor, in the current transaction.
 */
static void
move_cursor(const Trail *t, EventKey to)
{
	Oid			types[4] = {TEXTOID, TEXTOID, INT8OID, UUIDOID};
	Datum		values[4] = {CStringGetTextDatum(t->name), CStringGetTextDatum(t->region),
	Int64GetDatum(to.seq), UUIDPGetDatum(&to.id)};

	run("UPDATE trail.trail_state SET after_seq = $3, after_event_id = $4"
		" WHERE trail_name = $1 AND region = $2", 4, types, values, NULL);
}

/*
 * Write the log files of the selected events in (from, to] into temporary
 * copies, at most trail.max_file_records records each, Insight events in
 * files of their own (when key is given: one file of that key and its kind,
 * however many records).  Returns the files; *last receives the last event
 * examined.
 */
static List *
write_log_files(const Trail *t, EventKey from, EventKey to, const char *key,
				EventKey *last)
{
	HTAB	   *statements = load_statements(t, from.seq, to.seq);
	Portal		portal = open_events(from, to);
	List	   *files = NIL;
	LogFile    *open_files[2] = {NULL, NULL};	/* [insight] */
	EventKey	file_from[2] = {from, from};
	int			key_kind = key ? (strstr(key, "/" INSIGHT_FOLDER "/") != NULL) : -1;
	int			kind;
	StringInfoData record;
	MemoryContext row_cxt = AllocSetContextCreate(CurrentMemoryContext,
												  "trail delivery row",
												  ALLOCSET_DEFAULT_SIZES);

	initStringInfo(&record);
	*last = from;
	for (;;)
	{
		uint64		r;

		SPI_cursor_fetch(portal, true, FETCH_ROWS);
		if (SPI_processed == 0)
			break;
		for (r = 0; r < SPI_processed; r++)
		{
			bool		isnull;
			EventKey	k;
			bool		selected;
			MemoryContext oldcxt;

			k.seq = DatumGetInt64(col(r, Q_COMMIT_SEQ, &isnull));
			memcpy(&k.id, DatumGetUUIDP(col(r, Q_EVENT_ID, &isnull)), sizeof(pg_uuid_t));
			*last = k;
			kind = is_insight(r);
			oldcxt = MemoryContextSwitchTo(row_cxt);
			resetStringInfo(&record);
			selected = (key_kind < 0 || key_kind == kind) &&
				render_selected(t, statements, r, &record);
			MemoryContextSwitchTo(oldcxt);
			if (selected)
			{
				LogFile    *f = open_files[kind];

				if (f == NULL)
					f = open_files[kind] = log_open(t, file_from[kind], key, kind);
				appendBinaryStringInfo(&f->record, record.data, record.len);
				log_add(f, k, DatumGetTimestampTz(col(r, Q_EVENT_TIME, &isnull)));
				if (key == NULL && (f->records >= trail_max_file_records ||
									f->gz.data.len >= MAX_FILE_BYTES))
				{
					log_close(f);
					files = lappend(files, f);
					file_from[kind] = k;
					open_files[kind] = NULL;
				}
			}
			MemoryContextReset(row_cxt);
		}
		SPI_freetuptable(SPI_tuptable);
		CHECK_FOR_INTERRUPTS();
	}
	SPI_cursor_close(portal);
	for (kind = 0; kind < 2; kind++)
	{
		if (open_files[kind] != NULL)
		{
			log_close(open_files[kind]);
			files = lappend(files, open_files[kind]);
		}
	}
	hash_destroy(statements);
	return files;
}

/*
 * Put the recorded-but-not-delivered files of a trail in place and mark
 * them delivered; announce log files on the trail's topic.
 */
static void
finish_written(const Trail *t)
{
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		values[2] = {CStringGetTextDatum(t->name), CStringGetTextDatum(t->region)};
	uint64		n;
	uint64		r;
	SPITupleTable *tuptable;

	n = run("SELECT s3_bucket, s3_object, file_type, from_seq, from_event_id,"
			" to_seq, to_event_id, content, signature"
			" FROM trail.delivered_files WHERE trail_name = $1 AND region = $2"
			" AND state = 'written' ORDER BY written_time, s3_object",
			2, types, values, NULL);
	tuptable = SPI_tuptable;
	for (r = 0; r < n; r++)
	{
		char	   *bucket = SPI_getvalue(tuptable->vals[r], tuptable->tupdesc, 1);
		char	   *key = SPI_getvalue(tuptable->vals[r], tuptable->tupdesc, 2);
		bool		digest = strcmp(SPI_getvalue(tuptable->vals[r], tuptable->tupdesc, 3), "digest") == 0;
		char		path[MAXPGPATH];
		char		tmp[MAXPGPATH];

		object_path(path, bucket, key);
		staging_path(tmp, bucket, key);
		if (digest)
		{
			char	   *content = SPI_getvalue(tuptable->vals[r], tuptable->tupdesc, 8);
			char	   *signature = SPI_getvalue(tuptable->vals[r], tuptable->tupdesc, 9);
			GzipFile	gz;
			char		hash[PG_SHA256_DIGEST_STRING_LENGTH];
			char		side[MAXPGPATH];

			/* sidecars first: a digest in place always has its signature */
			snprintf(side, sizeof(side), "%s.sig", path);
			write_small_file(side, signature);
			snprintf(side, sizeof(side), "%s.meta.json", path);
			write_small_file(side, "{\"signature-algorithm\":\"SHA256withRSA\"}");
			if (!file_exists(path))
			{
				gz_open(&gz, tmp);
				gz_write(&gz, content, strlen(content));
				gz_close(&gz, hash);
				durable_rename(tmp, path, ERROR);
			}
		}
		else if (!file_exists(path))
		{
			if (!file_exists(tmp))
			{
				/* its temporary copy was lost: write it again */
				EventKey	from;
				EventKey	to;
				EventKey	last;
				bool		isnull;
				List	   *files;

				from.seq = DatumGetInt64(SPI_getbinval(tuptable->vals[r], tuptable->tupdesc, 4, &isnull));
				memcpy(&from.id, DatumGetUUIDP(SPI_getbinval(tuptable->vals[r], tuptable->tupdesc, 5, &isnull)),
					   sizeof(pg_uuid_t));
				to.seq = DatumGetInt64(SPI_getbinval(tuptable->vals[r], tuptable->tupdesc, 6, &isnull));
				memcpy(&to.id, DatumGetUUIDP(SPI_getbinval(tuptable->vals[r], tuptable->tupdesc, 7, &isnull)),
					   sizeof(pg_uuid_t));
				files = write_log_files(t, from, to, key, &last);
				if (files != NIL)
				{
					LogFile    *f = linitial(files);
					Oid			htypes[3] = {TEXTOID, TEXTOID, TEXTOID};
					Datum		hvalues[3] = {CStringGetTextDatum(bucket), CStringGetTextDatum(key),
					CStringGetTextDatum(f->hash)};

					run("UPDATE trail.delivered_files SET hash_value = $3"
						" WHERE s3_bucket = $1 AND s3_object = $2", 3, htypes, hvalues, NULL);
				}
				else
					write_small_file(tmp, "");	/* cannot happen: events are kept */
			}
			make_parent_dirs(path);
			durable_rename(tmp, path, ERROR);
		}
		{
			Oid			dtypes[2] = {TEXTOID, TEXTOID};
			Datum		dvalues[2] = {CStringGetTextDatum(bucket), CStringGetTextDatum(key)};

			run("UPDATE trail.delivered_files SET state = 'delivered',"
				" delivered_time = pg_catalog.clock_timestamp()"
				" WHERE s3_bucket = $1 AND s3_object = $2", 2, dtypes, dvalues, NULL);
			run(digest ?
				"UPDATE trail.trail_state SET latest_digest_delivery_time = pg_catalog.clock_timestamp(),"
				" latest_digest_delivery_error = NULL WHERE trail_name = $1 AND region = $2" :
				"UPDATE trail.trail_state SET latest_delivery_time = pg_catalog.clock_timestamp(),"
				" latest_delivery_attempt_time = pg_catalog.clock_timestamp(),"
				" latest_delivery_error = NULL WHERE trail_name = $1 AND region = $2",
				2, types, values, NULL);
		}
		if (!digest && t->topic != NULL)
		{
			StringInfoData payload;

			initStringInfo(&payload);
			appendStringInfoString(&payload, "{\"s3Bucket\":");
			escape_json(&payload, bucket);
			appendStringInfoString(&payload, ",\"s3ObjectKey\":[");
			escape_json(&payload, key);
			appendStringInfoString(&payload, "]}");
			Async_Notify(t->topic, payload.data);
			run("UPDATE trail.trail_state SET latest_notification_time = pg_catalog.clock_timestamp()"
				" WHERE trail_name = $1 AND region = $2", 2, types, values, NULL);
		}
	}
}

/*
 * Deliver one window of the trail's new events: write their files, record
 * them and move the cursor (one transaction), then put them in place.
 * Returns false when there was nothing more to read below the watermark.
 */
static bool
deliver_window(const char *name, int *window)
{
	Trail		t;
	bool		held;
	int64		watermark;
	EventKey	to;
	EventKey	last;
	List	   *files;
	ListCell   *lc;
	int			nfiles;
	bool		more;

	begin_work();
	if (!load_trail(name, &t))
	{
		commit_work();
		return false;
	}
	if (!t.logging && !t.stopped_at_seq)
	{
		commit_work();
		return false;
	}
	watermark = trail_commit_watermark(&held);

	/*
	 * Read the window with a snapshot taken after the watermark: one taken
	 * before it (begin_work's) would miss a transaction that committed in
	 * between, although the watermark has already passed its number, and
	 * the cursor would pass its events for good.
	 */
	PopActiveSnapshot();
	PushActiveSnapshot(GetTransactionSnapshot());
	if (held)
		ereport(LOG,
				(errmsg("trail %s: delivery waits for transactions prepared before the server restarted",
						name)));
	to.seq = held ? t.after.seq : watermark - 1;
	if (t.stopped_at_seq && !t.logging)
		to.seq = Min(to.seq, t.stop_seq);
	more = to.seq > t.after.seq + *window;
	if (more)
		to.seq = t.after.seq + *window;
	memset(&to.id, 0xff, sizeof(to.id));
	if (to.seq < t.after.seq)
	{
		commit_work();
		return false;
	}

	files = write_log_files(&t, t.after, to, NULL, &last);
	foreach(lc, files)
		record_written_log(&t, lfirst(lc));
	if (memcmp(&last, &t.after, sizeof(EventKey)) != 0)
		move_cursor(&t, last);
	/* the window reached its end: nothing left in it */
	if (more)
		move_cursor(&t, to);
	nfiles = list_length(files);
	commit_work();

	/* a window with many files is narrowed, one with few widened */
	if (nfiles > 4)
		*window = Max(*window / 2, 1);
	else if (nfiles <= 1 && *window < MAX_WINDOW)
		*window *= 2;

	if (nfiles > 0)
	{
		begin_work();
		if (load_trail(name, &t))
			finish_written(&t);
		commit_work();
	}
	return more;
}

/* ---------- digests ---------- */

/*
 * Append "key":<time or null> to a JSON object being built.
 */
static void
json_time_member(StringInfo buf, const char *key, bool isnull, TimestampTz t)
{
	appendStringInfo(buf, ",\"%s\":", key);
	if (isnull)
		appendStringInfoString(buf, "null");
	else
		trail_json_time(buf, t);
}

/*
 * Append "key":<string or null>.
 */
static void
json_string_member(StringInfo buf, const char *key, const char *value)
{
	appendStringInfo(buf, ",\"%s\":", key);
	if (value == NULL)
		appendStringInfoString(buf, "null");
	else
		escape_json(buf, value);
}

/*
 * Write the trail's digest when its period is over, or a final one when it
 * stopped and everything up to the stop is delivered.
 */
static void
deliver_digest(const char *name)
{
	Trail		t;
	TimestampTz now;
	TimestampTz end;
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		values[2];
	bool		final;
	uint64		n;
	uint64		r;
	StringInfoData json;
	StringInfoData logs;
	StringInfoData signing;
	char	   *key;
	char		fingerprint[33];
	char	   *signature;
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
	char		hash[PG_SHA256_DIGEST_STRING_LENGTH];
	pg_cryptohash_ctx *sha;
	bool		have_times = false;
	TimestampTz oldest = 0;
	TimestampTz newest = 0;
	int			i;

	begin_work();
	if (!load_trail(name, &t) || !t.validation || !t.digest_open)
	{
		commit_work();
		return;
	}
	now = GetCurrentTimestamp();
	end = now - now % USECS_PER_SEC;
	final = !t.logging && (!t.stopped_at_seq || t.after.seq >= t.stop_seq);
	if (end <= t.digest_start ||
		(!final && end < t.digest_start + (int64) trail_digest_interval * USECS_PER_SEC))
	{
		commit_work();
		return;
	}

	values[0] = CStringGetTextDatum(t.name);
	values[1] = CStringGetTextDatum(t.region);
	n = run("SELECT s3_bucket, s3_object, hash_value, newest_event_time, oldest_event_time"
			" FROM trail.delivered_files WHERE trail_name = $1 AND region = $2"
			" AND file_type = 'log' AND state = 'delivered' AND digest_object IS NULL"
			" ORDER BY delivered_time, s3_object",
			2, types, values, NULL);
	initStringInfo(&logs);
	for (r = 0; r < n; r++)
	{
		bool		isnull;
		TimestampTz nt = DatumGetTimestampTz(col(r, 4, &isnull));
		TimestampTz ot = DatumGetTimestampTz(col(r, 5, &isnull));

		if (!have_times || nt > newest)
			newest = nt;
		if (!have_times || ot < oldest)
			oldest = ot;
		have_times = true;
		appendStringInfoString(&logs, r > 0 ? ",{\"s3Bucket\":" : "{\"s3Bucket\":");
		escape_json(&logs, text_col(r, 1));
		json_string_member(&logs, "s3Object", text_col(r, 2));
		json_string_member(&logs, "hashValue", text_col(r, 3));
		json_string_member(&logs, "hashAlgorithm", "SHA-256");
		json_time_member(&logs, "newestEventTime", false, nt);
		json_time_member(&logs, "oldestEventTime", false, ot);
		appendStringInfoChar(&logs, '}');
	}
	/* a stopped trail with nothing left to digest closes its period quietly */
	if (final && n == 0)
	{
		run("UPDATE trail.trail_state SET digest_start_time = NULL"
			" WHERE trail_name = $1 AND region = $2", 2, types, values, NULL);
		commit_work();
		return;
	}

	key = object_key(&t, "CloudTrail-Digest", end,
					 psprintf("%s_CloudTrail-Digest_%s_%s_%s_%s.json.gz",
							  trail_account_id(), t.region, t.name, t.home_region,
							  format_utc(end, "%Y%m%dT%H%M%SZ")));
	trail_signing_fingerprint(fingerprint);

	initStringInfo(&json);
	appendStringInfoString(&json, "{\"awsAccountId\":");
	escape_json(&json, trail_account_id());
	json_time_member(&json, "digestStartTime", false, t.digest_start);
	json_time_member(&json, "digestEndTime", false, end);
	json_string_member(&json, "digestS3Bucket", t.bucket);
	json_string_member(&json, "digestS3Object", key);
	json_string_member(&json, "digestPublicKeyFingerprint", fingerprint);
	json_string_member(&json, "digestSignatureAlgorithm", "SHA256withRSA");
	json_time_member(&json, "newestEventTime", !have_times, newest);
	json_time_member(&json, "oldestEventTime", !have_times, oldest);
	json_string_member(&json, "previousDigestS3Bucket", t.prev_bucket);
	json_string_member(&json, "previousDigestS3Object", t.prev_object);
	json_string_member(&json, "previousDigestHashValue", t.prev_hash);
	json_string_member(&json, "previousDigestHashAlgorithm", t.prev_hash ? "SHA-256" : NULL);
	json_string_member(&json, "previousDigestSignature", t.prev_signature);
	appendStringInfo(&json, ",\"logFiles\":[%s]}", logs.data);

	sha = pg_cryptohash_create(PG_SHA256);
	if (sha == NULL || pg_cryptohash_init(sha) < 0 ||
		pg_cryptohash_update(sha, (uint8 *) json.data, json.len) < 0 ||
		pg_cryptohash_final(sha, digest, sizeof(digest)) < 0)
		elog(ERROR, "trail: SHA-256 failed");
	pg_cryptohash_free(sha);
	for (i = 0; i < PG_SHA256_DIGEST_LENGTH; i++)
		sprintf(hash + 2 * i, "%02x", digest[i]);

	/* CloudTrail's signing string (spec section c) */
	initStringInfo(&signing);
	appendStringInfo(&signing, "%s\n%s/%s\n%s\n%s",
					 format_utc(end, "%Y-%m-%dT%H:%M:%SZ"), t.bucket, key, hash,
					 t.prev_signature ? t.prev_signature : "null");
	signature = trail_sign(signing.data, signing.len, fingerprint);

	{
		Oid			dtypes[8] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID,
		TIMESTAMPTZOID};
		Datum		dvalues[8] = {CStringGetTextDatum(t.bucket), CStringGetTextDatum(key),
			CStringGetTextDatum(t.name), CStringGetTextDatum(t.region),
			CStringGetTextDatum(hash), CStringGetTextDatum(signature),
		CStringGetTextDatum(json.data), TimestampTzGetDatum(end)};

		run("INSERT INTO trail.delivered_files (s3_bucket, s3_object, trail_name, region,"
			" file_type, state, written_time, hash_value, signature, content)"
			" VALUES ($1, $2, $3, $4, 'digest', 'written', pg_catalog.now(), $5, $6, $7)",
			7, dtypes, dvalues, NULL);
		run("UPDATE trail.delivered_files SET digest_object = $2"
			" WHERE trail_name = $3 AND region = $4 AND file_type = 'log'"
			" AND state = 'delivered' AND digest_object IS NULL",
			4, dtypes, dvalues, NULL);
		run(final ?
			"UPDATE trail.trail_state SET digest_start_time = NULL,"
			" previous_digest_bucket = $1, previous_digest_object = $2,"
			" previous_digest_hash = $5, previous_digest_signature = $6"
			" WHERE trail_name = $3 AND region = $4" :
			"UPDATE trail.trail_state SET digest_start_time = $8,"
			" previous_digest_bucket = $1, previous_digest_object = $2,"
			" previous_digest_hash = $5, previous_digest_signature = $6"
			" WHERE trail_name = $3 AND region = $4",
			8, dtypes, dvalues, NULL);
	}
	commit_work();

	begin_work();
	if (load_trail(name, &t))
		finish_written(&t);
	commit_work();
}

/* ---------- the pass ---------- */

/*
 * Names of the trails of this database (none when trail is not installed).
 */
static List *
trail_names(void)
{
	List	   *names = NIL;
	uint64		n;
	uint64		r;
	MemoryContext cxt = CurrentMemoryContext;

	begin_work();
	if (trail_catalog() != NULL)
	{
		/* multi-region trails: ours published, others' mirrored here */
		trail_regions_sync();
		n = run("SELECT name FROM trail.trails ORDER BY name", 0, NULL, NULL, NULL);
		for (r = 0; r < n; r++)
		{
			MemoryContext oldcxt = MemoryContextSwitchTo(cxt);

			names = lappend(names, pstrdup(text_col(r, 1)));
			MemoryContextSwitchTo(oldcxt);
		}
	}
	commit_work();
	return names;
}

/*
 * Record a failed step's error in the trail's status, in a transaction of
 * its own (the step's was rolled back).
 */
static void
record_failure(const char *name, bool digest, const char *message)
{
	ereport(WARNING,
			(errmsg("trail %s: %s delivery failed: %s", name,
					digest ? "digest" : "log file", message)));
	begin_work();
	/* trail dropped meanwhile (DROP EXTENSION): no status to keep */
	if (trail_catalog() != NULL)
		record_status(name, digest, message);
	commit_work();
}

/*
 * Remove from the bucket's staging directory the copies that no recorded
 * file is waiting for (left by a crash or an error before their window
 * committed: their events are delivered again).  Passes never overlap, so
 * no other delivery is writing there.
 */
static void
clean_staging(const Trail *t)
{
	char		dir[MAXPGPATH];
	DIR		   *d;
	struct dirent *de;
	Oid			types[2] = {TEXTOID, TEXTOID};

	snprintf(dir, sizeof(dir), "%s/%s/" STAGING_DIR, log_root(), t->bucket);
	d = AllocateDir(dir);
	if (d == NULL)
		return;
	while ((de = ReadDirExtended(d, dir, LOG)) != NULL)
	{
		size_t		len = strlen(de->d_name);
		Datum		values[2];

		if (len <= 4 || strcmp(de->d_name + len - 4, ".tmp") != 0)
			continue;
		values[0] = CStringGetTextDatum(t->bucket);
		values[1] = CStringGetTextDatum(psprintf("%%/%.*s", (int) (len - 4), de->d_name));
		if (run("SELECT 1 FROM trail.delivered_files WHERE s3_bucket = $1"
				" AND s3_object LIKE $2 AND state = 'written'", 2, types, values, NULL) == 0)
		{
			char		path[MAXPGPATH];

			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
			if (unlink(path) != 0 && errno != ENOENT)
				ereport(WARNING,
						(errcode_for_file_access(),
						 errmsg("could not remove \"%s\": %m", path)));
		}
	}
	FreeDir(d);
}

/*
 * Put in place what a crash left half-delivered, and clear what it left
 * unrecorded.
 */
static void
finish_trail(const char *name)
{
	Trail		t;

	begin_work();
	if (load_trail(name, &t))
	{
		finish_written(&t);
		clean_staging(&t);
	}
	commit_work();
}

/* The steps of a trail's delivery */
typedef enum DeliveryStep
{
	STEP_FINISH,
	STEP_LOGS,
	STEP_DIGEST
} DeliveryStep;

/*
 * Run one step for a trail; an error is recorded and ends the step.
 * Returns whether more log files may be waiting.
 */
static bool
run_step(const char *name, DeliveryStep step, int *window)
{
	MemoryContext cxt = CurrentMemoryContext;
	volatile bool more = false;
	bool		digest = (step == STEP_DIGEST);

	PG_TRY();
	{
		if (step == STEP_FINISH)
			finish_trail(name);
		else if (step == STEP_DIGEST)
			deliver_digest(name);
		else
			more = deliver_window(name, window);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		record_failure(name, digest, edata->message);
		FreeErrorData(edata);
		more = false;
	}
	PG_END_TRY();
	return more;
}

void
trail_deliver_all(void)
{
	List	   *names = trail_names();
	ListCell   *lc;
	MemoryContext step_cxt = AllocSetContextCreate(CurrentMemoryContext,
												   "trail delivery step",
												   ALLOCSET_DEFAULT_SIZES);

	foreach(lc, names)
	{
		const char *name = lfirst(lc);
		int			window = INITIAL_WINDOW;
		MemoryContext oldcxt = MemoryContextSwitchTo(step_cxt);

		pgstat_report_activity(STATE_RUNNING, "trail delivery");
		/* what a crash left half-delivered, then the new events */
		(void) run_step(name, STEP_FINISH, &window);
		while (!ShutdownRequestPending && run_step(name, STEP_LOGS, &window))
			MemoryContextReset(step_cxt);
		(void) run_step(name, STEP_DIGEST, &window);
		MemoryContextSwitchTo(oldcxt);
		MemoryContextReset(step_cxt);
	}
	pgstat_report_activity(STATE_IDLE, NULL);
}
