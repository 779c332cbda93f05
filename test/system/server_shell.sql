-- pg_temp.server_shell(command): run a shell command as the server's OS user
-- (COPY TO PROGRAM), to make, move or remove test files.  The command first
-- reads the row COPY sends it: one that exits without reading it leaves COPY
-- writing into a closed pipe, which fails now and then ("could not close
-- pipe to external command: Broken pipe"), depending on which side is faster.
-- Shared by test/pgtap/import.sql, insights.sql and lookup_events.sql.
CREATE FUNCTION pg_temp.server_shell(command text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE format('COPY (SELECT 1) TO PROGRAM %L', 'cat >/dev/null; ' || command);
END
$$;
