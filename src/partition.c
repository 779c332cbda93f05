/*-------------------------------------------------------------------------
 *
 * partition.c
 *	  Daily partitions of trail.events, and retention.
 *
 * trail.events is range-partitioned by UTC day: trail.events_YYYYMMDD holds
 * [YYYY-MM-DD 00:00:00+00, next day 00:00:00+00).  Events whose day has no
 * partition yet land in trail.events_default.  trail.event_rows (the row
 * data events) is partitioned the same way, and every day of it is created
 * and dropped together with the day of trail.events.  One maintenance pass, run by
 * the background worker every trail.maintenance_interval and available to
 * superusers as trail.run_maintenance(), does three things:
 *
 *	- creates the partitions from today to trail.premake_days ahead, and one
 *	  for every day within retention that has rows waiting in the default
 *	  partition, moving those rows in;
 *	- drops the partitions whose whole day lies past the retention period
 *	  (the event data store's, or trail.retention_period; see
 *	  trail.retention_start());
 *	- deletes the rows past retention from the default partition.
 *
 * trail_partition_days() makes the partitions of given days the same way,
 * for the import of log files (import.c), whose days lie in the past.
 *
 * Design notes:
 *
 *	- A partition is never made with CREATE TABLE ... PARTITION OF, which
 *	  would lock the whole of trail.events in ACCESS EXCLUSIVE mode and stall
 *	  every audited statement.  It is created apart with a CHECK constraint
 *	  equal to its bounds (so that ATTACH PARTITION skips its validation
 *	  scan), filled from the default partition, and attached, which needs
 *	  only SHARE UPDATE EXCLUSIVE on the parent.
 *	- The default partition is locked in SHARE ROW EXCLUSIVE mode for the
 *	  whole pass: no event can slip into it between moving its rows out and
 *	  ATTACH (which would then fail), and two passes (the worker and a
 *	  manual call) never run at once.  Readers are not blocked.
 *	- lock_timeout is set for the pass, so that a long transaction makes the
 *	  pass fail rather than hang; the worker tries again next interval.
 *	- Day arithmetic is done on the integer timestamp (microseconds since
 *	  2000-01-01 00:00 UTC), so nothing depends on the session's TimeZone.
 *	- Every action is recorded as a management event invoked by trail
 *	  (userIdentity.invokedBy = trail.postgresql): CreateTable and DropTable
 *	  (eventSource ddl.postgresql), PurgeExpiredEvents (trail.postgresql).
 *	  The capture hook does not see trail's own SQL, so this is the only
 *	  record of it.  Events are written after all partitions are attached,
 *	  so they route into a real partition, and outside trail_sql_begin(), so
 *	  that they name the caller, not the extension owner.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"

#include "catalog.h"
#include "context.h"
#include "event.h"
#include "partition.h"
#include "sql.h"
#include "store.h"
#include "trail.h"

PG_FUNCTION_INFO_V1(trail_run_maintenance);

/* How long a pass waits for any one lock before giving up */
#define MAINTENANCE_LOCK_TIMEOUT "5s"

/* Relation names: events_YYYYMMDD (and event_rows_YYYYMMDD) */
#define PARTITION_PREFIX "events_"
#define PARTITION_RELNAME_LEN (sizeof(PARTITION_PREFIX) - 1 + 8)

/* The partitioned tables, each with a partition per day and a default */
static const char *const partitioned_tables[] = {"events", "event_rows"};

/* What a pass did, kept until it can be reported and recorded */
typedef enum MaintenanceKind
{
	MAINT_CREATED,				/* day's partition created, rows moved in */
	MAINT_DROPPED,				/* day's partition dropped */
	MAINT_PURGED				/* rows past retention deleted from default */
} MaintenanceKind;

typedef struct MaintenanceAction
{
	MaintenanceKind kind;
	DateADT		day;			/* the partition's UTC day (not purges) */
	const char *reason;			/* why it was created or dropped */
	int64		rows;			/* rows moved in, dropped, or purged */
} MaintenanceAction;

/* The action column of trail.run_maintenance() */
static const char *const action_names[] = {
	[MAINT_CREATED] = "created",
	[MAINT_DROPPED] = "dropped",
	[MAINT_PURGED] = "purged"
};

/* One pass: its inputs and the actions it took */
typedef struct MaintenancePass
{
	TimestampTz as_of;
	TimestampTz retention_start;	/* older rows are past retention */
	Oid			events_relid;
	Oid			namespace_oid;
	MemoryContext result_cxt;	/* outlives SPI: holds actions */
	List	   *actions;		/* of MaintenanceAction */
} MaintenancePass;

/*
 * The UTC day a timestamp falls on, as days since 2000-01-01.
 */
static DateADT
utc_day(TimestampTz t)
{
	TimestampTz day = t / USECS_PER_DAY;

	/* round towards minus infinity: times before 2000 are negative */
	if (t < 0 && t % USECS_PER_DAY != 0)
		day--;
	return (DateADT) day;
}

/*
 * The first instant (00:00:00 UTC) of a day.
 */
static TimestampTz
day_start(DateADT day)
{
	return (TimestampTz) day * USECS_PER_DAY;
}

/*
 * Relation name of a day's partition of a table (events_YYYYMMDD) into a
 * buffer of NAMEDATALEN bytes.  Only four-digit years keep names and days
 * one to one.
 */
static void
partition_relname(const char *table, DateADT day, char *relname)
{
	int			year,
				month,
				mday;

	j2date(day + POSTGRES_EPOCH_JDATE, &year, &month, &mday);
	if (year < 1 || year > 9999)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("trail partitions cover the years 1 to 9999, not %d", year)));
	snprintf(relname, NAMEDATALEN, "%s_%04d%02d%02d",
			 table, year, month, mday);
}

/*
 * Schema-qualified name of a day's partition, as reported and recorded.
 */
static char *
partition_qualified_name(DateADT day)
{
	char		relname[NAMEDATALEN];

	partition_relname("events", day, relname);
	return psprintf("trail.%s", relname);
}

/*
 * The day a partition's relation name stands for; false when the name is not
 * one of ours (the default partition, or anything else).
 */
static bool
partition_day_from_relname(const char *relname, DateADT *day)
{
	int			digits;
	int			year,
				month,
				mday;
	int			julian,
				y,
				m,
				d;

	if (strlen(relname) != PARTITION_RELNAME_LEN ||
		strncmp(relname, PARTITION_PREFIX, strlen(PARTITION_PREFIX)) != 0 ||
		strspn(relname + strlen(PARTITION_PREFIX), "0123456789") != 8)
		return false;

	digits = atoi(relname + strlen(PARTITION_PREFIX));
	year = digits / 10000;
	month = digits / 100 % 100;
	mday = digits % 100;

	/* a real calendar day survives the round trip; 20260231 does not */
	if (year < 1 || month < 1 || month > 12 || mday < 1 || mday > 31)
		return false;
	julian = date2j(year, month, mday);
	j2date(julian, &y, &m, &d);
	if (y != year || m != month || d != mday)
		return false;

	*day = julian - POSTGRES_EPOCH_JDATE;
	return true;
}

/*
 * A day as a timestamptz literal for DDL, which takes no parameters.  The
 * explicit +00 makes it mean the same under any TimeZone and DateStyle.
 */
static char *
day_literal(DateADT day)
{
	int			year,
				month,
				mday;

	j2date(day + POSTGRES_EPOCH_JDATE, &year, &month, &mday);
	return psprintf("'%04d-%02d-%02d 00:00:00+00'", year, month, mday);
}

/*
 * qsort comparator for days.
 */
static int
day_cmp(const void *a, const void *b)
{
	DateADT		x = *(const DateADT *) a;
	DateADT		y = *(const DateADT *) b;

	return (x > y) - (x < y);
}

/*
 * Run one statement of the pass, with optional timestamptz parameters;
 * returns the number of rows it processed.
 */
static uint64
run_sql(const char *sql, int nargs, TimestampTz *args)
{
	Oid			argtypes[2] = {TIMESTAMPTZOID, TIMESTAMPTZOID};
	Datum		values[2];
	int			i;
	int			rc;

	Assert(nargs <= lengthof(values));
	for (i = 0; i < nargs; i++)
		values[i] = TimestampTzGetDatum(args[i]);

	rc = SPI_execute_with_args(sql, nargs, argtypes, values, NULL, false, 0);
	if (rc < 0)
		elog(ERROR, "trail: maintenance statement failed (%s): %s",
			 SPI_result_code_string(rc), sql);
	return SPI_processed;
}

/*
 * Remember an action for reporting and recording once the pass is done.
 */
static void
add_action(MaintenancePass *pass, MaintenanceKind kind, DateADT day,
		   const char *reason, int64 rows)
{
	MemoryContext oldcxt = MemoryContextSwitchTo(pass->result_cxt);
	MaintenanceAction *action = palloc(sizeof(MaintenanceAction));

	action->kind = kind;
	action->day = day;
	action->reason = reason;
	action->rows = rows;
	pass->actions = lappend(pass->actions, action);
	MemoryContextSwitchTo(oldcxt);
}

/*
 * Days of the partitions trail.events has now, sorted.
 */
static DateADT *
existing_days(MaintenancePass *pass, int *ndays)
{
	List	   *children;
	DateADT    *days;
	ListCell   *lc;

	children = find_inheritance_children(pass->events_relid, NoLock);
	days = palloc(sizeof(DateADT) * list_length(children));

	*ndays = 0;
	foreach(lc, children)
	{
		Oid			relid = lfirst_oid(lc);
		char	   *relname = get_rel_name(relid);

		if (relname != NULL &&
			get_rel_namespace(relid) == pass->namespace_oid &&
			partition_day_from_relname(relname, &days[*ndays]))
			(*ndays)++;
	}
	qsort(days, *ndays, sizeof(DateADT), day_cmp);
	return days;
}

/*
 * Days that need a partition, sorted and unique: today to premake_days
 * ahead, and every day within retention with rows in the default partition.
 */
static DateADT *
wanted_days(MaintenancePass *pass, int *ndays)
{
	DateADT		today = utc_day(pass->as_of);
	DateADT    *days;
	uint64		waiting;
	uint64		row;
	int			n = 0;
	int			unique = 0;
	int			i;

	waiting = run_sql("SELECT pg_catalog.date_trunc('day', event_time, 'UTC')"
					  " FROM trail.events_default WHERE event_time >= $1"
					  " UNION SELECT pg_catalog.date_trunc('day', event_time, 'UTC')"
					  " FROM trail.event_rows_default WHERE event_time >= $1",
					  1, &pass->retention_start);

	days = palloc(sizeof(DateADT) * (trail_premake_days + 1 + waiting));
	for (i = 0; i <= trail_premake_days; i++)
		days[n++] = today + i;
	for (row = 0; row < waiting; row++)
	{
		bool		isnull;
		Datum		value = SPI_getbinval(SPI_tuptable->vals[row],
										  SPI_tuptable->tupdesc, 1, &isnull);

		days[n++] = utc_day(DatumGetTimestampTz(value));
	}

	qsort(days, n, sizeof(DateADT), day_cmp);
	for (i = 0; i < n; i++)
		if (unique == 0 || days[unique - 1] != days[i])
			days[unique++] = days[i];
	*ndays = unique;
	return days;
}

/*
 * Give the new partition relname the statistics targets that its parent
 * table sets on columns (CREATE TABLE ... LIKE copies none): trail.events
 * sets none for its free-form JSON columns, which nothing plans by, so that
 * autovacuum's ANALYZE of a filling day takes a third of the time.
 */
static void
copy_statistics_targets(const char *table, const char *relname)
{
	Relation	parent;
	TupleDesc	desc;
	StringInfoData sql;
	int			i;

	parent = table_open(get_relname_relid(table, trail_require_catalog()->namespace_oid),
						AccessShareLock);
	desc = RelationGetDescr(parent);
	initStringInfo(&sql);
	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute attr = TupleDescAttr(desc, i);

		if (attr->attisdropped || attr->attstattarget < 0)
			continue;
		appendStringInfo(&sql, "%s ALTER COLUMN %s SET STATISTICS %d",
						 sql.len == 0 ? "" : ",",
						 quote_identifier(NameStr(attr->attname)), attr->attstattarget);
	}
	table_close(parent, AccessShareLock);
	if (sql.len > 0)
		run_sql(psprintf("ALTER TABLE trail.%s%s", relname, sql.data), 0, NULL);
}

/*
 * Create the partition of one day of one table, move its rows out of the
 * default partition and attach it.  Returns the number of rows moved.
 */
static int64
create_partition(const char *table, DateADT day)
{
	char		relname[NAMEDATALEN];
	char	   *from = day_literal(day);
	char	   *to = day_literal(day + 1);
	TimestampTz bounds[2] = {day_start(day), day_start(day + 1)};
	uint64		moved;

	partition_relname(table, day, relname);

	run_sql(psprintf("CREATE TABLE trail.%s"
					 " (LIKE trail.%s INCLUDING DEFAULTS INCLUDING CONSTRAINTS,"
					 " CONSTRAINT %s_bounds CHECK (event_time >= %s AND event_time < %s))",
					 relname, table, relname, from, to),
			0, NULL);
	copy_statistics_targets(table, relname);

	/*
	 * Every day belongs to the extension, like the partitions its script
	 * makes: pg_dump then dumps CREATE EXTENSION trail and no partition that
	 * a restore would clash with (events are not dumped; see README).
	 */
	if (!creating_extension)
		run_sql(psprintf("ALTER EXTENSION trail ADD TABLE trail.%s", relname),
				0, NULL);

	moved = run_sql(psprintf("WITH moved AS (DELETE FROM trail.%s_default"
							 " WHERE event_time >= $1 AND event_time < $2 RETURNING *)"
							 " INSERT INTO trail.%s SELECT * FROM moved",
							 table, relname),
					2, bounds);
	run_sql(psprintf("ALTER TABLE trail.%s ATTACH PARTITION trail.%s"
					 " FOR VALUES FROM (%s) TO (%s)",
					 table, relname, from, to),
			0, NULL);

	/* the partition constraint now says the same */
	run_sql(psprintf("ALTER TABLE trail.%s DROP CONSTRAINT %s_bounds",
					 relname, relname),
			0, NULL);

	return (int64) moved;
}

/*
 * Drop the partition of one day of one table.  Returns the number of rows
 * it held.
 */
static int64
drop_partition(const char *table, DateADT day)
{
	char		relname[NAMEDATALEN];
	bool		isnull;
	int64		rows;

	partition_relname(table, day, relname);
	if (!OidIsValid(get_relname_relid(relname, trail_require_catalog()->namespace_oid)))
		return 0;

	run_sql(psprintf("SELECT pg_catalog.count(*) FROM trail.%s", relname),
			0, NULL);
	rows = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
									   SPI_tuptable->tupdesc, 1, &isnull));
	run_sql(psprintf("ALTER EXTENSION trail DROP TABLE trail.%s", relname),
			0, NULL);
	run_sql(psprintf("DROP TABLE trail.%s", relname), 0, NULL);
	return rows;
}

/*
 * Lock the default partitions for a pass (see the design notes), waiting at
 * most MAINTENANCE_LOCK_TIMEOUT.
 */
static void
lock_defaults(void)
{
	/* LOCAL: undone by trail_sql_end(), never leaks into the caller */
	(void) set_config_option("lock_timeout", MAINTENANCE_LOCK_TIMEOUT,
							 PGC_SUSET, PGC_S_SESSION,
							 GUC_ACTION_LOCAL, true, 0, false);
	run_sql("LOCK TABLE trail.events_default, trail.event_rows_default"
			" IN SHARE ROW EXCLUSIVE MODE", 0, NULL);
}

/*
 * Create the partitions of one day (trail.event_rows' first: its rows go
 * with their events) and remember the action.
 */
static void
create_day(MaintenancePass *pass, DateADT day, const char *reason)
{
	create_partition("event_rows", day);
	add_action(pass, MAINT_CREATED, day, reason, create_partition("events", day));
}

/*
 * The DDL and deletes of one pass.  Runs connected to SPI and inside
 * trail_sql_begin(); the actions are kept in pass->result_cxt.
 */
static void
maintain_partitions(MaintenancePass *pass, void *arg)
{
	DateADT		today = utc_day(pass->as_of);
	DateADT    *existing;
	DateADT    *wanted;
	int			nexisting;
	int			nwanted;
	int			i;
	int			t;
	uint64		purged;

	lock_defaults();

	/* the retention period may be the event data store's: ask SQL */
	run_sql("SELECT trail.retention_start($1)", 1, &pass->as_of);
	{
		bool		isnull;

		pass->retention_start = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[0],
																  SPI_tuptable->tupdesc,
																  1, &isnull));
	}

	existing = existing_days(pass, &nexisting);
	wanted = wanted_days(pass, &nwanted);

	for (i = 0; i < nwanted; i++)
	{
		DateADT		day = wanted[i];

		if (bsearch(&day, existing, nexisting, sizeof(DateADT), day_cmp) != NULL)
			continue;
		create_day(pass, day,
				   day >= today && day <= today + trail_premake_days ?
				   "premake" : "default partition");
	}

	/* a day goes only when all of it is past retention */
	for (i = 0; i < nexisting; i++)
	{
		DateADT		day = existing[i];

		if (day_start(day + 1) <= pass->retention_start)
		{
			drop_partition("event_rows", day);
			add_action(pass, MAINT_DROPPED, day, "retention",
					   drop_partition("events", day));
		}
	}

	purged = 0;
	for (t = 0; t < lengthof(partitioned_tables); t++)
		purged += run_sql(psprintf("DELETE FROM trail.%s_default WHERE event_time < $1",
								   partitioned_tables[t]),
						  1, &pass->retention_start);
	if (purged > 0)
		add_action(pass, MAINT_PURGED, 0, "retention", (int64) purged);

	/*
	 * The resource lookup index loses its entries with the days they point
	 * to: before the first day still kept.
	 */
	{
		TimestampTz kept = day_start(utc_day(pass->retention_start));

		run_sql("DELETE FROM trail.event_resources WHERE event_time < $1", 1, &kept);
	}
}

/*
 * Append the JSON members every partition event shares.
 */
static void
append_table_parameters(StringInfo params, const char *table_name)
{
	appendStringInfoString(params, "{\"tableName\":");
	trail_json_string(params, table_name);
	appendStringInfoString(params, ",\"partitionOf\":\"trail.events\"");
}

/*
 * Record one action as a management event performed by trail itself.
 */
static void
record_action(const MaintenancePass *pass, const MaintenanceAction *action,
			  const char *table_name)
{
	TrailEvent	ev;
	StringInfoData params;
	char		rows_relname[NAMEDATALEN];

	if (action->kind != MAINT_PURGED)
		partition_relname("event_rows", action->day, rows_relname);
	trail_event_init(&ev, "Management", "AwsServiceEvent", TRAIL_SERVICE_NAME);
	ev.read_only = false;
	ev.management_event = true;
	ev.is_global = false;

	initStringInfo(&params);
	append_table_parameters(&params, table_name);
	if (action->kind == MAINT_PURGED)
	{
		ev.event_source = "trail.postgresql";
		ev.event_name = "PurgeExpiredEvents";
		appendStringInfoString(&params, ",\"before\":");
		trail_json_time(&params, pass->retention_start);
	}
	else
	{
		ev.event_source = "ddl.postgresql";
		ev.event_name = action->kind == MAINT_CREATED ?
			"CreateTable" : "DropTable";
		/* the day of trail.event_rows goes with it, in the same pass */
		appendStringInfoString(&params, ",\"rowEventsTableName\":");
		trail_json_string(&params, psprintf("trail.%s", rows_relname));
		appendStringInfoString(&params, ",\"from\":");
		trail_json_time(&params, day_start(action->day));
		appendStringInfoString(&params, ",\"to\":");
		trail_json_time(&params, day_start(action->day + 1));
	}
	appendStringInfoString(&params, ",\"reason\":");
	trail_json_string(&params, action->reason);
	if (action->kind == MAINT_CREATED)
	{
		if (action->rows > 0)
			appendStringInfo(&params, ",\"movedFromDefault\":" INT64_FORMAT,
							 action->rows);
	}
	else
		appendStringInfo(&params, ",\"rowCount\":" INT64_FORMAT, action->rows);
	appendStringInfoChar(&params, '}');
	ev.request_parameters = trail_jsonb_from_text(params.data);

	if (action->kind == MAINT_PURGED)
		ev.resources = trail_jsonb_one_resource("PG::Table",
												trail_arn("table", trail_region(), table_name),
												table_name);
	else
	{
		StringInfoData resources;
		char	   *rows_name = psprintf("trail.%s", rows_relname);

		initStringInfo(&resources);
		appendStringInfoChar(&resources, '[');
		trail_json_resource(&resources, "PG::Table",
							trail_arn("table", trail_region(), table_name), table_name);
		appendStringInfoChar(&resources, ',');
		trail_json_resource(&resources, "PG::Table",
							trail_arn("table", trail_region(), rows_name), rows_name);
		appendStringInfoChar(&resources, ']');
		ev.resources = trail_jsonb_from_text(resources.data);
	}

	trail_store_event(&ev);
}

/*
 * Add one (action, partition_name, row_count) row to the report.
 */
static void
report_row(Tuplestorestate *report, TupleDesc report_desc,
		   const char *action, const char *table_name, int64 rows)
{
	Datum		values[3];
	bool		nulls[3] = {false, false, false};

	values[0] = CStringGetTextDatum(action);
	values[1] = CStringGetTextDatum(table_name);
	values[2] = Int64GetDatum(rows);
	tuplestore_putvalues(report, report_desc, values, nulls);
}

/* The DDL of a pass, run by run_pass() */
typedef void (*PassBody) (MaintenancePass *pass, void *arg);

/*
 * Run a pass of the current database as of the given time: its DDL first
 * (body, as the extension owner), then, with every partition in place, the
 * report (when report is not NULL) and the events of what it did.
 */
static void
run_pass(TimestampTz as_of, PassBody body, void *arg,
		 Tuplestorestate *report, TupleDesc report_desc)
{
	const TrailCatalog *cat = trail_require_catalog();
	MaintenancePass pass;
	TrailSqlScope scope;
	ListCell   *lc;

	pass.as_of = as_of;
	pass.retention_start = 0;	/* set by the pass */
	pass.events_relid = cat->events_relid;
	pass.namespace_oid = cat->namespace_oid;
	pass.result_cxt = CurrentMemoryContext;
	pass.actions = NIL;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "trail: SPI_connect failed");
	trail_sql_begin(&scope, cat->owner);
	PG_TRY();
	{
		body(&pass, arg);
	}
	PG_FINALLY();
	{
		trail_sql_end(&scope);
	}
	PG_END_TRY();
	SPI_finish();

	foreach(lc, pass.actions)
	{
		MaintenanceAction *action = lfirst(lc);
		const char *table_name = action->kind == MAINT_PURGED ?
			"trail.events_default" : partition_qualified_name(action->day);

		if (report != NULL)
		{
			report_row(report, report_desc, action_names[action->kind],
					   table_name,
					   action->kind == MAINT_CREATED ? 0 : action->rows);
			if (action->kind == MAINT_CREATED && action->rows > 0)
				report_row(report, report_desc, "moved", table_name,
						   action->rows);
		}
		record_action(&pass, action, table_name);
	}
}

TimestampTz
trail_utc_day_start(TimestampTz t)
{
	return day_start(utc_day(t));
}

/*
 * One maintenance pass of the current database (see partition.h).
 */
void
trail_maintain(TimestampTz as_of, Tuplestorestate *report,
			   TupleDesc report_desc)
{
	if (trail_catalog() == NULL)
		return;
	if (TIMESTAMP_NOT_FINITE(as_of))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("maintenance needs a finite point in time")));
	run_pass(as_of, maintain_partitions, NULL, report, report_desc);
}

/* What trail_partition_days() was asked for */
typedef struct DaysRequest
{
	const TimestampTz *times;
	int			ntimes;
	const char *reason;
} DaysRequest;

/*
 * The DDL of trail_partition_days(): the requested days that have no
 * partition get theirs.
 */
static void
create_requested_days(MaintenancePass *pass, void *arg)
{
	const DaysRequest *req = arg;
	DateADT    *existing;
	int			nexisting;
	int			i;

	lock_defaults();
	existing = existing_days(pass, &nexisting);
	for (i = 0; i < req->ntimes; i++)
	{
		DateADT		day = utc_day(req->times[i]);

		if (bsearch(&day, existing, nexisting, sizeof(DateADT), day_cmp) != NULL)
			continue;
		create_day(pass, day, req->reason);
		/* a day asked for twice is made once */
		existing = repalloc(existing, sizeof(DateADT) * (nexisting + 1));
		existing[nexisting++] = day;
		qsort(existing, nexisting, sizeof(DateADT), day_cmp);
	}
}

void
trail_partition_days(const TimestampTz *times, int ntimes, const char *reason)
{
	DaysRequest req = {times, ntimes, reason};

	if (ntimes > 0)
		run_pass(GetCurrentTransactionStartTimestamp(), create_requested_days,
				 &req, NULL, NULL);
}

Oid
trail_partition_for(const char *table, TimestampTz t)
{
	const TrailCatalog *cat = trail_catalog();
	char		relname[NAMEDATALEN];
	Oid			relid;

	partition_relname(table, utc_day(t), relname);
	relid = get_relname_relid(relname, cat->namespace_oid);
	if (OidIsValid(relid) && get_rel_relispartition(relid))
		return relid;
	snprintf(relname, sizeof(relname), "%s_default", table);
	relid = get_relname_relid(relname, cat->namespace_oid);
	if (!OidIsValid(relid))
		elog(ERROR, "trail: table trail.%s is missing", relname);
	return relid;
}

/*
 * trail.run_maintenance(as_of): one maintenance pass now, reported as rows.
 * EXECUTE is revoked from PUBLIC by the extension script.
 */
Datum
trail_run_maintenance(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	InitMaterializedSRF(fcinfo, 0);
	trail_maintain(PG_GETARG_TIMESTAMPTZ(0), rsinfo->setResult,
				   rsinfo->setDesc);
	return (Datum) 0;
}
