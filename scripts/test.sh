#!/usr/bin/env bash
# scripts/test.sh: every test suite of trail, on throwaway clusters (`make test`, CI).
#
#   1. bootstrap (packages, build, install)
#   2. a temporary cluster in `mktemp -d` with trail preloaded (trail.* at defaults)
#   3. pg_regress   sql/*.sql against expected/*.out       (make installcheck)
#   4. pgTAP        test/pgtap/*.sql, each in a fresh database (pg_prove)
#   5. system       test/system/*.pl, TAP tests with their own clusters
#                   (PostgreSQL::Test::Cluster via prove)
# The last line printed is always `N passed, N failed`; the exit status is 1 when
# anything failed or nothing ran.  Suite logs are kept in log/test/ of the repo.
# TRAIL_TEST_TIMEOUT (seconds, default 1200) bounds each suite;
# TRAIL_TEST_KEEP=1 keeps the temporary directory.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/cluster.sh
source "$ROOT/scripts/cluster.sh"

PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
PGXS_DIR=/usr/lib/postgresql/15/lib/pgxs
PORT=5488
SUITE_TIMEOUT=${TRAIL_TEST_TIMEOUT:-1200}
LOGDIR="$ROOT/log/test"

PASSED=0
FAILED=0
FINISHED=0 # 1 once all suites ran (otherwise the run was aborted)
FAILED_SUITES=() # named again just above the last line, where a CI tail shows them
W=""

section() {
	echo
	echo "==================== $* ===================="
}

# Runs at every exit: stop every server under $W (ours and any a killed TAP
# test left behind), remove $W, and print the summary as the very last line.
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	set +e
	if [[ -n $W && -d $W ]]; then
		local pidfile
		while IFS= read -r pidfile; do
			as_server "$PG_BIN/pg_ctl" -D "$(dirname "$pidfile")" -m immediate -w -t 30 stop >/dev/null 2>&1
		done < <(find "$W" -name postmaster.pid -type f 2>/dev/null)
		if [[ ${TRAIL_TEST_KEEP:-0} == 1 ]]; then
			echo "test.sh: kept $W"
		else
			rm -rf -- "$W"
		fi
	fi
	if ((!FINISHED)); then
		echo "test.sh: aborted (status $rc) before all suites ran" >&2
		FAILED=$((FAILED + 1))
	fi
	if ((${#FAILED_SUITES[@]} > 0)); then
		echo "failed suites (logs in ${LOGDIR#"$ROOT"/}/): ${FAILED_SUITES[*]}"
		# the first lines that tell why, for a reader who sees only this tail
		local s
		for s in "${FAILED_SUITES[@]}"; do
			[[ -f $LOGDIR/$s.log ]] || continue
			grep -m 8 -E '^not ok|^# +(Failed|got|expected)|ERROR|died|Dubious|timed out' "$LOGDIR/$s.log" | sed "s/^/  $s: /"
		done
	fi
	echo "$PASSED passed, $FAILED failed"
	if ((FAILED > 0 || PASSED == 0)); then
		exit 1
	fi
	exit 0
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# run_logged LOG CMD...: run CMD under a timeout, its output shown and copied to LOG.
run_logged() {
	local log=$1 rc
	shift
	timeout --kill-after=30 "$SUITE_TIMEOUT" "$@" 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	if ((rc == 124 || rc == 137)); then
		echo "test.sh: timed out after ${SUITE_TIMEOUT}s (see TRAIL_TEST_TIMEOUT): $(basename "$log" .log)" | tee -a "$log"
	fi
	return "$rc"
}

# count_tap LOG RC: add the `ok N` / `not ok N` lines of LOG to the totals; a
# failed run (RC != 0) that reported no `not ok` counts as one failure.
count_tap() {
	local log=$1 rc=$2 ok notok
	ok=$(grep -cE '^ok [0-9]+' "$log" || true)
	# `not ok N # TODO` is an expected failure, not a failure.
	notok=$(grep -E '^not ok [0-9]+' "$log" | grep -cvE '#[[:space:]]*TODO' || true)
	ok=$((ok + $(grep -E '^not ok [0-9]+' "$log" | grep -cE '#[[:space:]]*TODO' || true)))
	if ((rc != 0 && notok == 0)); then
		notok=1
	fi
	PASSED=$((PASSED + ok))
	FAILED=$((FAILED + notok))
	((notok == 0)) || FAILED_SUITES+=("$(basename "$log" .log)")
	echo "-- $(basename "$log" .log): $ok passed, $notok failed"
}

# --- 1. bootstrap -------------------------------------------------------------
section "bootstrap"
bash "$ROOT/scripts/bootstrap.sh"

rm -rf -- "$LOGDIR"
mkdir -p "$LOGDIR"

# --- 2. the temporary cluster -------------------------------------------------
section "cluster"
W=$(mktemp -d "${TMPDIR:-/tmp}/trail-test.XXXXXX")
chmod 755 "$W"
if [[ $EUID -eq 0 ]]; then
	chown "$(cluster_server_user):" "$W"
fi
cluster_create "$W/cluster" "$PORT" "fsync = off"
cluster_start "$W/cluster"
cluster_env "$W/cluster"
echo "PostgreSQL $("$PG_BIN/psql" -X -A -t -d postgres -c 'SHOW server_version') running in $W/cluster (PGHOST=$PGHOST PGPORT=$PGPORT)"

# --- 3. pg_regress ------------------------------------------------------------
section "pg_regress (sql/*.sql)"
if compgen -G "$ROOT/sql/*.sql" >/dev/null; then
	REGRESS_OUT="$W/regress"
	mkdir -p "$REGRESS_OUT"
	rc=0
	# Outputs (results/, regression.diffs) go to the temporary directory, not the
	# source tree, so that concurrent runs cannot trip over each other.
	# CONTRIB_TESTDB: PGXS appends --dbname=$(CONTRIB_TESTDB) after REGRESS_OPTS,
	# so this is what makes the Makefile's --dbname=trail_regress hold (ARNs in
	# expected output contain the database name).
	(cd "$ROOT" && run_logged "$LOGDIR/regress.log" \
		make --no-print-directory installcheck PG_CONFIG="$PG_CONFIG" \
		CONTRIB_TESTDB=trail_regress \
		EXTRA_REGRESS_OPTS="--outputdir=$REGRESS_OUT") || rc=$?
	ok=$(grep -cE '^(test | +)?[[:alnum:]_-]+ +\.\.\. ok' "$LOGDIR/regress.log" || true)
	ok=$((ok + $(grep -cE '\.\.\. (failed|FAILED) \(ignored\)' "$LOGDIR/regress.log" || true)))
	bad=$(grep -cE '\.\.\. FAILED' "$LOGDIR/regress.log" || true)
	# pg_regress stops at the first test it cannot diff (e.g. no expected/X.out):
	# without its closing "N tests passed/failed" line, count one more failure.
	if ((rc != 0)) && ! grep -qE 'tests? (passed|failed)' "$LOGDIR/regress.log"; then
		bad=$((bad + 1))
	fi
	if ((rc != 0 && bad == 0)); then
		bad=1
	fi
	if grep -q 'diff command failed' "$LOGDIR/regress.log"; then
		echo "test.sh: a test has no expected output; create expected/NAME.out from ${LOGDIR#"$ROOT"/}/results/NAME.out once it is right"
	fi
	PASSED=$((PASSED + ok))
	FAILED=$((FAILED + bad))
	((bad == 0)) || FAILED_SUITES+=(regress)
	if ((rc != 0)) && [[ -s $REGRESS_OUT/regression.diffs ]]; then
		echo "---- regression.diffs ----"
		cat "$REGRESS_OUT/regression.diffs"
		echo "----"
	fi
	for f in regression.diffs regression.out results; do
		[[ -e $REGRESS_OUT/$f ]] && cp -r "$REGRESS_OUT/$f" "$LOGDIR/"
	done
	echo "-- regress: $ok passed, $bad failed (outputs kept in ${LOGDIR#"$ROOT"/}/results)"
else
	echo "no sql/*.sql: skipped"
fi

# --- 4. pgTAP -----------------------------------------------------------------
section "pgTAP (test/pgtap/*.sql)"
if compgen -G "$ROOT/test/pgtap/*.sql" >/dev/null; then
	n=0
	for file in "$ROOT"/test/pgtap/*.sql; do
		n=$((n + 1))
		name=$(basename "$file" .sql)
		db="trail_tap_$n"
		log="$LOGDIR/pgtap-$name.log"
		rc=0
		{
			"$PG_BIN/createdb" "$db" &&
				"$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d "$db" \
					-c 'SET client_min_messages = warning' \
					-c 'CREATE EXTENSION IF NOT EXISTS pgtap' \
					-c 'CREATE EXTENSION IF NOT EXISTS trail'
		} >"$log" 2>&1 || rc=$?
		if ((rc == 0)); then
			(cd "$ROOT" && run_logged "$log" pg_prove --psql-bin "$PG_BIN/psql" -v -d "$db" "test/pgtap/$name.sql") || rc=$?
		else
			cat "$log"
			echo "test.sh: could not prepare database $db for $name"
		fi
		count_tap "$log" "$rc"
	done
else
	echo "no test/pgtap/*.sql: skipped"
fi

# --- 5. system (TAP) tests ----------------------------------------------------
section "system tests (test/system/*.pl)"
if compgen -G "$ROOT/test/system/*.pl" >/dev/null; then
	# Copied so that the server user can read them; the clone stays ours.
	cp -r "$ROOT/test/system" "$W/system"
	mkdir -p "$W/tap"
	as_server_cmd=()
	if [[ $EUID -eq 0 ]]; then
		chown -R postgres: "$W/system" "$W/tap"
		as_server_cmd=(runuser -u postgres --)
	fi
	for file in "$W"/system/*.pl; do
		name=$(basename "$file" .pl)
		log="$LOGDIR/system-$name.log"
		rc=0
		(cd "$W/system" && run_logged "$log" "${as_server_cmd[@]}" env \
			PATH="$PG_BIN:$PATH" \
			TESTDIR="$W/tap" \
			PG_REGRESS="$PGXS_DIR/src/test/regress/pg_regress" \
			prove -v -I "$PGXS_DIR/src/test/perl" -I "$W/system" "$file") || rc=$?
		count_tap "$log" "$rc"
		if ((rc != 0)); then
			for nodelog in "$W"/tap/tmp_check/log/*; do
				[[ -f $nodelog ]] || continue
				echo "---- tail of $(basename "$nodelog") ----"
				tail -n 40 "$nodelog"
			done
			echo "----"
		fi
	done
	if [[ -d $W/tap/tmp_check/log ]]; then
		mkdir -p "$LOGDIR/system"
		cp -r "$W"/tap/tmp_check/log/. "$LOGDIR/system/" 2>/dev/null || true
	fi
else
	echo "no test/system/*.pl: skipped"
fi

section "summary"
FINISHED=1
# cleanup (the EXIT trap) stops the cluster and prints `N passed, N failed`.
