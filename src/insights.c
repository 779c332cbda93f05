/*-------------------------------------------------------------------------
 *
 * insights.c
 *	  CloudTrail Insights: per-minute rollups of write management calls and
 *	  of errors, baselines over them, and Insight events when an API's rate
 *	  leaves its baseline (spec section d).
 *
 * One detection cycle (trail.run_insights, or the worker every minute while
 * a logging trail selects Insights) does, in one transaction:
 *
 *	1. fold: the management events committed since the last cycle are added
 *	   to the per-minute rollups and the daily attribution counts.  They are
 *	   found by commit sequence number below the watermark (commit_order.c),
 *	   as delivery finds them, so every event is counted exactly once and
 *	   nothing is ever rescanned;
 *	2. baselines: when the UTC day changed, or late events fell inside the
 *	   baseline window (an import of history), each API's average, standard
 *	   deviation and busiest minutes over the window are made again with
 *	   SQL aggregates over the rollups;
 *	3. detect: the complete minutes since the last cycle are compared with
 *	   the baselines; an insight starts (an Insight event, state Start) and
 *	   later ends (state End, the same sharedEventID).
 *
 * The SQL of each step is in trail--1.0.sql (trail._insights_*); this file
 * runs the steps in order and stores the Insight events through store.c, so
 * that rules, the log stream and trails see them like any other event.
 *
 * Design notes:
 *
 *	- The worker and on-demand calls never run a cycle at once: each locks
 *	  the row of trail.insight_state first.
 *	- A minute is examined once, in the first cycle after it ends.  Events
 *	  of that minute committed later still count for baselines, not for
 *	  detection; a cycle after a long pause (server down) looks back one
 *	  day at most.
 *	- A cycle sees what was committed before it started: events of its own
 *	  transaction are folded by a later cycle.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "catalog.h"
#include "commit_order.h"
#include "event.h"
#include "insights.h"
#include "sql.h"
#include "store.h"
#include "trail.h"

PG_FUNCTION_INFO_V1(trail_run_insights);

/* An Insight event to write, as the detection step returned it */
typedef struct Detection
{
	TimestampTz event_time;
	char	   *region;
	char	   *account_id;
	pg_uuid_t	shared_event_id;
	Jsonb	   *details;
	pg_uuid_t	event_id;		/* once stored */
} Detection;

/* Where the cycle stands (trail.insight_state) */
typedef struct CycleState
{
	int64		folded_seq;
	bool		checked;		/* checked_until is set */
	TimestampTz checked_until;
	bool		has_window;		/* window_end is set */
	TimestampTz window_end;
	bool		stale;
	TimestampTz day_start;		/* of as_of, UTC: the window's end */
	TimestampTz minute;			/* as_of, to the minute */
} CycleState;

/*
 * Run one statement of the cycle on the open SPI connection.
 */
static void
exec(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls)
{
	int			rc = SPI_execute_with_args(sql, nargs, types, values, nulls, false, 0);

	if (rc < 0)
		elog(ERROR, "trail: Insights statement failed (%s): %s",
			 SPI_result_code_string(rc), sql);
}

/*
 * Column i (1-based) of row r of the last result.
 */
static Datum
col(uint64 r, int i, bool *isnull)
{
	return SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, i, isnull);
}

/*
 * The insight types the logging trails select, as a text[] datum; when none
 * does, both for an on-demand cycle and (Datum) 0 for the worker's.
 */
static Datum
selected_types(bool on_demand)
{
	bool		isnull;
	Datum		types;

	exec("SELECT pg_catalog.array_agg(DISTINCT s.value->>'InsightType')"
		 "  FROM trail.trails t,"
		 "       pg_catalog.jsonb_array_elements(t.insight_selectors) s"
		 " WHERE t.is_logging", 0, NULL, NULL, NULL);
	types = col(0, 1, &isnull);
	if (!isnull)
		return SPI_datumTransfer(types, false, -1);
	if (!on_demand)
		return (Datum) 0;
	return PointerGetDatum(construct_array((Datum[]) {
		CStringGetTextDatum("ApiCallRateInsight"),
			CStringGetTextDatum("ApiErrorRateInsight")},
										   2, TEXTOID, -1, false, TYPALIGN_INT));
}

/*
 * Lock and read the cycle's state, with as_of's day and minute.
 */
static void
read_state(TimestampTz as_of, CycleState *st)
{
	Datum		arg = TimestampTzGetDatum(as_of);
	bool		isnull;
	Datum		d;

	exec("SELECT s.folded_seq, s.checked_until, s.window_end, s.stale,"
		 "       pg_catalog.date_trunc('day', $1 AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',"
		 "       pg_catalog.date_trunc('minute', $1)"
		 "  FROM trail.insight_state s FOR UPDATE",
		 1, (Oid[]) {TIMESTAMPTZOID}, &arg, NULL);
	if (SPI_processed != 1)
		elog(ERROR, "trail: trail.insight_state has no row");
	st->folded_seq = DatumGetInt64(col(0, 1, &isnull));
	d = col(0, 2, &isnull);
	st->checked = !isnull;
	st->checked_until = isnull ? 0 : DatumGetTimestampTz(d);
	d = col(0, 3, &isnull);
	st->has_window = !isnull;
	st->window_end = isnull ? 0 : DatumGetTimestampTz(d);
	st->stale = DatumGetBool(col(0, 4, &isnull));
	st->day_start = DatumGetTimestampTz(col(0, 5, &isnull));
	st->minute = DatumGetTimestampTz(col(0, 6, &isnull));
}

/*
 * Step 1: fold the events committed since the last cycle into the rollups.
 */
static void
fold(CycleState *st)
{
	bool		held;
	int64		watermark = trail_commit_watermark(&held);
	Datum		args[2];
	bool		isnull;
	Datum		oldest;

	/*
	 * A transaction prepared before a restart may still add events below.
	 * A cycle in a transaction with one snapshot for all (REPEATABLE READ,
	 * SERIALIZABLE) cannot see what committed after it began, although the
	 * watermark may be past it: it leaves folding to the next cycle.
	 */
	if (held || watermark - 1 <= st->folded_seq || IsolationUsesXactSnapshot())
		return;
	args[0] = Int64GetDatum(st->folded_seq);
	args[1] = Int64GetDatum(watermark);
	exec("SELECT trail._insights_fold($1, $2)", 2, (Oid[]) {INT8OID, INT8OID}, args, NULL);
	oldest = col(0, 1, &isnull);
	if (!isnull && st->has_window && DatumGetTimestampTz(oldest) < st->window_end)
		st->stale = true;
	st->folded_seq = watermark - 1;
}

/*
 * Step 2: make the baselines again when the day changed or the window did.
 */
static void
make_baselines(CycleState *st)
{
	Datum		args[2];

	if (st->has_window && st->window_end == st->day_start && !st->stale)
		return;
	args[0] = TimestampTzGetDatum(st->day_start);
	args[1] = Int32GetDatum(trail_insights_baseline_days);
	exec("SELECT trail._insights_baselines($1, $2)", 2, (Oid[]) {TIMESTAMPTZOID, INT4OID},
		 args, NULL);
	st->has_window = true;
	st->window_end = st->day_start;
	st->stale = false;
}

/*
 * Step 3: examine the complete minutes not examined yet (one day back at
 * most); returns the Insight events to write, in result_cxt.
 */
static List *
detect(CycleState *st, Datum types, MemoryContext result_cxt)
{
	TimestampTz from = st->minute - USECS_PER_DAY;
	Datum		args[3];
	List	   *found = NIL;
	uint64		r;

	if (st->checked && st->checked_until > from)
		from = st->checked_until;
	if (from >= st->minute)
		return NIL;
	args[0] = TimestampTzGetDatum(from);
	args[1] = TimestampTzGetDatum(st->minute);
	args[2] = types;
	exec("SELECT d.out_time, d.out_region, d.out_account, d.out_shared_id, d.out_details"
		 "  FROM trail._insights_detect($1, $2, $3) d",
		 3, (Oid[]) {TIMESTAMPTZOID, TIMESTAMPTZOID, TEXTARRAYOID}, args, NULL);
	for (r = 0; r < SPI_processed; r++)
	{
		MemoryContext oldcxt = MemoryContextSwitchTo(result_cxt);
		Detection  *d = palloc0(sizeof(Detection));
		bool		isnull;

		d->event_time = DatumGetTimestampTz(col(r, 1, &isnull));
		d->region = TextDatumGetCString(col(r, 2, &isnull));
		d->account_id = TextDatumGetCString(col(r, 3, &isnull));
		memcpy(&d->shared_event_id, DatumGetUUIDP(col(r, 4, &isnull)), sizeof(pg_uuid_t));
		d->details = DatumGetJsonbPCopy(col(r, 5, &isnull));
		found = lappend(found, d);
		MemoryContextSwitchTo(oldcxt);
	}
	st->checked = true;
	st->checked_until = st->minute;
	return found;
}

/*
 * Save where the cycle stands.
 */
static void
write_state(const CycleState *st)
{
	Datum		args[4];
	char		nulls[5] = "    ";

	args[0] = Int64GetDatum(st->folded_seq);
	args[1] = TimestampTzGetDatum(st->checked_until);
	nulls[1] = st->checked ? ' ' : 'n';
	args[2] = TimestampTzGetDatum(st->window_end);
	nulls[2] = st->has_window ? ' ' : 'n';
	args[3] = BoolGetDatum(st->stale);
	exec("UPDATE trail.insight_state SET folded_seq = $1, checked_until = $2,"
		 " window_end = $3, stale = $4",
		 4, (Oid[]) {INT8OID, TIMESTAMPTZOID, TIMESTAMPTZOID, BOOLOID}, args, nulls);
}

/*
 * Store one Insight event: only its own fields (spec section d), with the
 * API it is about in event_source and event_name, where LookupEvents finds
 * it.
 */
static void
store_insight(Detection *d)
{
	TrailEvent	ev;

	trail_event_init(&ev, "Insight", "AwsCloudTrailInsight", NULL);
	ev.event_time = d->event_time;
	ev.management_event = false;
	ev.event_source = trail_json_member_string(&d->details->root, "eventSource");
	ev.event_name = trail_json_member_string(&d->details->root, "eventName");
	ev.user_identity = NULL;
	ev.user_name = NULL;
	ev.access_key_id = NULL;
	ev.source_ip_address = NULL;
	ev.user_agent = NULL;
	ev.request_id = NULL;
	ev.transaction_id = InvalidFullTransactionId;
	ev.shared_event_id = &d->shared_event_id;
	ev.insight_details = d->details;
	ev.region = d->region;
	ev.account_id = d->account_id;
	trail_store_event(&ev);
	d->event_id = ev.event_id;
}

/*
 * One detection cycle at as_of; returns the Insight events written.  The
 * worker's cycle (on_demand false) does nothing unless a logging trail
 * selects Insights; an on-demand one computes both types then.
 */
static List *
insights_cycle(TimestampTz as_of, bool on_demand)
{
	MemoryContext cxt = CurrentMemoryContext;
	TrailSqlScope scope;
	List	   *volatile found = NIL;
	ListCell   *lc;

	trail_sql_begin(&scope, trail_require_catalog()->owner);
	PG_TRY();
	{
		Datum		types;

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "trail: SPI_connect failed");
		types = selected_types(on_demand);
		if (types != (Datum) 0)
		{
			CycleState st;

			read_state(as_of, &st);
			fold(&st);
			make_baselines(&st);
			found = detect(&st, types, cxt);
			write_state(&st);
		}
		SPI_finish();
	}
	PG_FINALLY();
	{
		trail_sql_end(&scope);
	}
	PG_END_TRY();

	foreach(lc, found)
		store_insight(lfirst(lc));
	return found;
}

void
trail_insights_pass(void)
{
	if (trail_catalog() != NULL)
		(void) insights_cycle(GetCurrentTimestamp(), false);
}

/*
 * trail._run_insights(as_of): one cycle on demand; the events it wrote, by
 * (event_id, event_time).  trail.run_insights returns them as rows.
 */
Datum
trail_run_insights(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	List	   *found;
	ListCell   *lc;

	trail_require_catalog();
	InitMaterializedSRF(fcinfo, 0);
	found = insights_cycle(PG_GETARG_TIMESTAMPTZ(0), true);
	foreach(lc, found)
	{
		Detection  *d = lfirst(lc);
		Datum		values[2] = {UUIDPGetDatum(&d->event_id),
		TimestampTzGetDatum(d->event_time)};
		bool		nulls[2] = {false, false};

		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
