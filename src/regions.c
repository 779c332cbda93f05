/*-------------------------------------------------------------------------
 *
 * regions.c
 *	  Multi-region trails: a trail created with is_multi_region_trail in one
 *	  database (its home region) also delivers the events of every other
 *	  database of the cluster where trail is installed, each under its own
 *	  region folder, with its own digest chain.
 *
 * A database's trails live in its own tables, and a worker can connect to
 * one database only.  So the home database publishes its multi-region
 * trails in a file of the data directory, pg_trail/regions/<oid>.json
 * (written by its delivery pass: temporary file, fsync, rename), and every
 * other database's delivery pass mirrors them into its own trail.trails
 * (home_region says whose they are; home_source keeps what was published),
 * where delivery treats them like its own trails.  Mirrors follow their
 * home's settings and logging state, go when the home stops publishing them
 * (the trail was deleted, made single-region, or its database dropped), and
 * cannot be changed from the mirroring database (trails.c).
 *
 * Mirroring is trail's own bookkeeping, not a user's API call: it records
 * no events.  The changes reach capture (a mirror's data selectors count
 * in the union that decides which tables are captured) as for any change of
 * trail.trails.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/stat.h>
#include <unistd.h>

#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "common/file_perm.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"

#include "catalog.h"
#include "context.h"
#include "data_store.h"
#include "regions.h"
#include "sql.h"

#define REGIONS_DIR "pg_trail/regions"

/*
 * Read a whole small file (palloc'd, NUL-terminated), or NULL if it does
 * not exist.
 */
static char *
read_file(const char *path)
{
	int			fd = OpenTransientFile(path, O_RDONLY | PG_BINARY);
	struct stat st;
	char	   *buf;
	ssize_t		n;

	if (fd < 0)
	{
		if (errno == ENOENT)
			return NULL;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open file \"%s\": %m", path)));
	}
	if (fstat(fd, &st) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not stat file \"%s\": %m", path)));
	buf = palloc(st.st_size + 1);
	n = read(fd, buf, st.st_size);
	if (n != st.st_size)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not read file \"%s\": %m", path)));
	buf[n] = '\0';
	CloseTransientFile(fd);
	return buf;
}

/*
 * Write this database's published multi-region trails (or remove the file
 * when there are none), if they changed.
 */
static void
publish(void)
{
	char		path[MAXPGPATH];
	char		tmp[MAXPGPATH];
	Datum		d;
	bool		isnull;
	char	   *json;
	char	   *old;
	int			fd;

	d = trail_sql_run("SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object("
					  "'name', t.name, 's3_bucket_name', t.s3_bucket_name,"
					  " 's3_key_prefix', t.s3_key_prefix,"
					  " 'include_global_service_events', t.include_global_service_events,"
					  " 'enable_log_file_validation', t.enable_log_file_validation,"
					  " 'sns_topic_name', t.sns_topic_name,"
					  " 'advanced_event_selectors', t.advanced_event_selectors,"
					  " 'insight_selectors', t.insight_selectors,"
					  " 'home_region', t.home_region, 'is_logging', t.is_logging)"
					  " ORDER BY t.name)::text"
					  " FROM trail.trails t"
					  " WHERE t.is_multi_region_trail AND t.home_source IS NULL",
					  0, NULL, NULL, NULL, CurrentMemoryContext, &isnull);
	json = isnull ? NULL : TextDatumGetCString(d);

	snprintf(path, sizeof(path), "%s/%u.json", REGIONS_DIR, MyDatabaseId);
	old = read_file(path);
	if (json == NULL)
	{
		if (old != NULL)
			durable_unlink(path, ERROR);
		return;
	}
	if (old != NULL && strcmp(old, json) == 0)
		return;

	(void) pg_mkdir_p(pstrdup(REGIONS_DIR), pg_dir_create_mode);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = OpenTransientFile(tmp, O_WRONLY | O_CREAT | O_TRUNC | PG_BINARY);
	if (fd < 0 || write(fd, json, strlen(json)) != (ssize_t) strlen(json) ||
		pg_fsync(fd) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not write file \"%s\": %m", tmp)));
	CloseTransientFile(fd);
	durable_rename(tmp, path, ERROR);
}

/*
 * Mirror one home database's published trails; returns whether anything
 * changed.
 */
static bool
mirror_home(const char *json)
{
	Oid			types[1] = {JSONBOID};
	Datum		values[1];
	Datum		d;
	bool		isnull;

	values[0] = DirectFunctionCall1(jsonb_in, CStringGetDatum(json));
	d = trail_sql_run("WITH src AS ("
					  "  SELECT x.value AS source, x.value->>'name' AS name,"
					  "         x.value->>'home_region' AS home_region"
					  "    FROM pg_catalog.jsonb_array_elements($1) x"
					  "   WHERE x.value->>'home_region' OPERATOR(pg_catalog.<>) pg_catalog.current_database()),"
					  " upserted AS ("
					  "  INSERT INTO trail.trails AS t (name, s3_bucket_name, s3_key_prefix,"
					  "    include_global_service_events, is_multi_region_trail,"
					  "    enable_log_file_validation, sns_topic_name, advanced_event_selectors,"
					  "    insight_selectors, home_region, created_time, is_logging, start_logging_time, home_source)"
					  "  SELECT s.name, s.source->>'s3_bucket_name', s.source->>'s3_key_prefix',"
					  "    (s.source->>'include_global_service_events')::boolean, true,"
					  "    (s.source->>'enable_log_file_validation')::boolean,"
					  "    s.source->>'sns_topic_name',"
					  "    pg_catalog.jsonb_strip_nulls(s.source)->'advanced_event_selectors',"
					  "    pg_catalog.jsonb_strip_nulls(s.source)->'insight_selectors',"
					  "    s.home_region, pg_catalog.now(), (s.source->>'is_logging')::boolean,"
					  "    CASE WHEN (s.source->>'is_logging')::boolean THEN pg_catalog.now() END,"
					  "    s.source"
					  "    FROM src s"
					  "  ON CONFLICT (name) DO UPDATE SET"
					  "    s3_bucket_name = EXCLUDED.s3_bucket_name,"
					  "    s3_key_prefix = EXCLUDED.s3_key_prefix,"
					  "    include_global_service_events = EXCLUDED.include_global_service_events,"
					  "    enable_log_file_validation = EXCLUDED.enable_log_file_validation,"
					  "    sns_topic_name = EXCLUDED.sns_topic_name,"
					  "    advanced_event_selectors = EXCLUDED.advanced_event_selectors,"
					  "    insight_selectors = EXCLUDED.insight_selectors,"
					  "    is_logging = EXCLUDED.is_logging,"
					  "    start_logging_time = CASE WHEN EXCLUDED.is_logging AND NOT t.is_logging"
					  "      THEN pg_catalog.now() ELSE t.start_logging_time END,"
					  "    stop_logging_time = CASE WHEN t.is_logging AND NOT EXCLUDED.is_logging"
					  "      THEN pg_catalog.now() ELSE t.stop_logging_time END,"
					  "    stop_seq = CASE WHEN EXCLUDED.is_logging THEN NULL"
					  "      WHEN t.is_logging THEN (SELECT last_value FROM trail.commit_seq)"
					  "      ELSE t.stop_seq END,"
					  "    home_source = EXCLUDED.home_source"
					  "  WHERE t.home_region OPERATOR(pg_catalog.=) EXCLUDED.home_region"
					  "    AND t.home_source IS DISTINCT FROM EXCLUDED.home_source"
					  "  RETURNING t.name),"
					  " states AS ("
					  "  INSERT INTO trail.trail_state (trail_name, region, after_seq,"
					  "    after_event_id, digest_start_time)"
					  "  SELECT s.name, pg_catalog.current_database(),"
					  "    (SELECT last_value FROM trail.commit_seq),"
					  "    'ffffffff-ffff-ffff-ffff-ffffffffffff',"
					  "    CASE WHEN (s.source->>'enable_log_file_validation')::boolean"
					  "      THEN pg_catalog.now() END"
					  "    FROM src s WHERE (s.source->>'is_logging')::boolean"
					  "  ON CONFLICT DO NOTHING RETURNING trail_name),"
					  " gone AS ("
					  "  DELETE FROM trail.trails t"
					  "   WHERE t.home_source IS NOT NULL"
					  "     AND t.home_region IN (SELECT home_region FROM src)"
					  "     AND t.name NOT IN (SELECT name FROM src)"
					  "  RETURNING t.name)"
					  " SELECT (SELECT count(*) FROM upserted) + (SELECT count(*) FROM gone)",
					  1, types, values, NULL, CurrentMemoryContext, &isnull);
	return !isnull && DatumGetInt64(d) > 0;
}

/*
 * Mirror every other database's published trails, and drop the mirrors
 * whose home no longer publishes.
 */
static void
mirror_all(void)
{
	DIR		   *dir;
	struct dirent *de;
	StringInfoData homes;
	bool		changed = false;
	Oid			types[1] = {TEXTOID};
	Datum		values[1];
	Datum		d;
	bool		isnull;

	initStringInfo(&homes);
	appendStringInfoChar(&homes, '{');
	dir = AllocateDir(REGIONS_DIR);
	while (dir != NULL && (de = ReadDir(dir, REGIONS_DIR)) != NULL)
	{
		char		path[MAXPGPATH];
		Oid			oid;
		char	   *json;
		char	   *home;
		char		extra;

		if (sscanf(de->d_name, "%u.jso%c", &oid, &extra) != 2 || extra != 'n' ||
			oid == MyDatabaseId)
			continue;
		/* a dropped database publishes nothing */
		home = get_database_name(oid);
		if (home == NULL)
			continue;
		snprintf(path, sizeof(path), "%s/%s", REGIONS_DIR, de->d_name);
		json = read_file(path);
		if (json == NULL)
			continue;
		changed |= mirror_home(json);
		if (homes.len > 1)
			appendStringInfoChar(&homes, ',');
		appendStringInfo(&homes, "\"%s\"", home);
	}
	if (dir != NULL)
		FreeDir(dir);
	appendStringInfoChar(&homes, '}');

	values[0] = CStringGetTextDatum(homes.data);
	d = trail_sql_run("WITH gone AS (DELETE FROM trail.trails t WHERE t.home_source IS NOT NULL"
					  " AND NOT t.home_region OPERATOR(pg_catalog.=) ANY ($1::text[])"
					  " RETURNING 1) SELECT count(*) FROM gone",
					  1, types, values, NULL, CurrentMemoryContext, &isnull);
	changed |= !isnull && DatumGetInt64(d) > 0;

	if (changed)
	{
		CacheInvalidateRelcacheByRelid(get_relname_relid("trails",
														 trail_require_catalog()->namespace_oid));
		trail_data_store_reconcile();
	}
}

void
trail_regions_sync(void)
{
	if (trail_catalog() == NULL)
		return;
	publish();
	mirror_all();
}
