/*-------------------------------------------------------------------------
 *
 * validate_logs.c
 *	  trail.validate_logs(): CloudTrail's validate-logs, run by the server on
 *	  a trail's own bucket.
 *
 * The checking itself is log_validation.c, the same code the offline
 * command trail-validate runs for auditors; this file gathers what it
 * needs from the database (the trail's bucket and prefix, the public keys,
 * and the digests trail knows it delivered, so that a deleted newest digest
 * is missed too) and returns its findings as rows.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "catalog.h"
#include "context.h"
#include "log_validation.h"
#include "sql.h"
#include "trail.h"

PG_FUNCTION_INFO_V1(trail_validate_logs);

/*
 * Unix seconds of a timestamp.
 */
static long long
unix_seconds(TimestampTz t)
{
	return (long long) (t / USECS_PER_SEC +
						(POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY);
}

/*
 * One row of the result.
 */
static void
put_row(ReturnSetInfo *rsinfo, const char *type, const char *bucket,
		const char *key, const char *status)
{
	Datum		values[4];
	bool		nulls[4] = {false, bucket == NULL, key == NULL, false};

	values[0] = CStringGetTextDatum(type);
	values[1] = bucket ? CStringGetTextDatum(bucket) : (Datum) 0;
	values[2] = key ? CStringGetTextDatum(key) : (Datum) 0;
	values[3] = CStringGetTextDatum(status);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/*
 * "n/m <what> files valid[, k/m <what> files INVALID]"
 */
static void
append_counts(StringInfo buf, const char *what, int valid, int invalid)
{
	int			total = valid + invalid;

	appendStringInfo(buf, "%d/%d %s files valid", valid, total, what);
	if (invalid > 0)
		appendStringInfo(buf, ", %d/%d %s files INVALID", invalid, total, what);
}

/*
 * trail.validate_logs(trail_name, start_time, end_time)
 */
Datum
trail_validate_logs(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	text	   *name;
	TimestampTz start;
	TimestampTz end;
	TvRequest	req;
	TvReport	report;
	TvPublicKey *keys;
	const char **expected;
	const char *region;
	volatile bool multi_region = false;
	char	   *error = NULL;
	StringInfoData summary;
	TrailSqlScope scope;
	MemoryContext outer;
	uint64		i;
	int			rc;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("InvalidParameterException: trail_name and start_time are required")));
	(void) trail_require_catalog();
	name = PG_GETARG_TEXT_PP(0);
	start = PG_GETARG_TIMESTAMPTZ(1);
	end = PG_ARGISNULL(2) ? GetCurrentTimestamp() : PG_GETARG_TIMESTAMPTZ(2);
	InitMaterializedSRF(fcinfo, 0);

	memset(&req, 0, sizeof(req));
	outer = CurrentMemoryContext;
	trail_sql_begin(&scope, trail_catalog()->owner);
	PG_TRY();
	{
		Oid			types[3] = {TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID};
		Datum		values[3] = {PointerGetDatum(name), TimestampTzGetDatum(start),
		TimestampTzGetDatum(end)};

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "trail: SPI_connect failed");
		if (SPI_execute_with_args("SELECT s3_bucket_name, s3_key_prefix, home_region, is_multi_region_trail"
								  " FROM trail._require_trail($1)",
								  1, types, values, NULL, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "trail: could not read the trail");

		/*
		 * What the checks need outlives SPI_finish: it is copied out of
		 * SPI's memory after each query (each SPI call switches back).
		 */
		MemoryContextSwitchTo(outer);
		req.bucket = pstrdup(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
		req.prefix = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
		req.prefix = req.prefix ? pstrdup(req.prefix) : NULL;
		region = pstrdup(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3));
		/* a multi-region trail's bucket holds a folder per database */
		multi_region = strcmp(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4), "t") == 0;

		if (SPI_execute("SELECT value FROM trail.list_public_keys()", true, 0) != SPI_OK_SELECT)
			elog(ERROR, "trail: could not list the public keys");
		MemoryContextSwitchTo(outer);
		keys = palloc(sizeof(TvPublicKey) * Max(SPI_processed, 1));
		for (i = 0; i < SPI_processed; i++)
		{
			bool		isnull;
			bytea	   *der = DatumGetByteaPCopy(SPI_getbinval(SPI_tuptable->vals[i],
															   SPI_tuptable->tupdesc, 1, &isnull));

			keys[i].der = (unsigned char *) VARDATA(der);
			keys[i].der_len = VARSIZE(der) - VARHDRSZ;
		}
		req.keys = keys;
		req.nkeys = (int) SPI_processed;

		/* digests delivered in the window, by trail's own record */
		if (SPI_execute_with_args("SELECT f.s3_object FROM trail.delivered_files f,"
								  " trail._require_trail($1) t"
								  " WHERE f.trail_name = t.name AND f.s3_bucket = t.s3_bucket_name"
								  " AND f.file_type = 'digest' AND f.state = 'delivered'"
								  " AND f.delivered_time BETWEEN $2 AND $3"
								  " ORDER BY f.s3_object",
								  3, types, values, NULL, true, 0) != SPI_OK_SELECT)
			elog(ERROR, "trail: could not list the delivered digests");
		MemoryContextSwitchTo(outer);
		expected = palloc(sizeof(char *) * Max(SPI_processed, 1));
		for (i = 0; i < SPI_processed; i++)
			expected[i] = pstrdup(SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
		req.expected_digests = expected;
		req.nexpected = (int) SPI_processed;
		SPI_finish();
	}
	PG_FINALLY();
	{
		trail_sql_end(&scope);
	}
	PG_END_TRY();

	req.bucket_dir = psprintf("%s/%s", trail_log_directory, req.bucket);
	req.account = trail_account_id();
	req.trail_name = text_to_cstring(name);
	req.home_region = region;
	req.regions = multi_region ? NULL : &region;
	req.nregions = multi_region ? 0 : 1;
	req.start_time = unix_seconds(start);
	req.end_time = unix_seconds(end);

	memset(&report, 0, sizeof(report));
	rc = tv_validate(&req, &report, &error);
	if (rc != 0)
	{
		char	   *message = pstrdup(error ? error : "unknown error");

		free(error);
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 errmsg("could not validate the logs of trail %s: %s", req.trail_name, message)));
	}

	/* copy the results out of malloc'd memory before anything can fail */
	{
		int			n = report.nresults;
		TvResult   *results = palloc(sizeof(TvResult) * Max(n, 1));
		int			j;

		for (j = 0; j < n; j++)
		{
			results[j].file_type = pstrdup(report.results[j].file_type);
			results[j].bucket = pstrdup(report.results[j].bucket);
			results[j].key = pstrdup(report.results[j].key);
			results[j].status = pstrdup(report.results[j].status);
		}
		initStringInfo(&summary);
		append_counts(&summary, "digest", report.digests_valid, report.digests_invalid);
		appendStringInfoString(&summary, ", ");
		append_counts(&summary, "log", report.logs_valid, report.logs_invalid);
		if (report.digests_valid + report.digests_invalid == 0)
			appendStringInfoString(&summary, "; no digest files found");
		tv_report_free(&report);

		for (j = 0; j < n; j++)
			put_row(rsinfo, results[j].file_type, results[j].bucket, results[j].key,
					results[j].status);
	}
	put_row(rsinfo, "summary", NULL, NULL, summary.data);
	return (Datum) 0;
}
