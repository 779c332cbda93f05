-- pg_temp.write_log(path, query): write the records (jsonb) a query returns
-- as one gzipped CloudTrail log file, by the server (COPY TO PROGRAM).  CSV
-- with a quote and a delimiter that never occur leaves the JSON as it is.
-- Shared by test/pgtap/insights.sql and test/system/070_insights.pl.
CREATE FUNCTION pg_temp.write_log(path text, query text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE format($c$COPY (SELECT '{"Records":[' || string_agg(r::text, ',') || ']}'
	                        FROM (%s) x(r)) TO PROGRAM %L
	                  WITH (FORMAT csv, QUOTE E'\x01', DELIMITER E'\x02')$c$,
	               query, 'gzip > ' || path);
END
$$;
