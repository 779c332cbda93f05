#!/usr/bin/env bash
# bench/rules.sh: what do EventBridge-style rules cost a DDL-heavy workload?
#
#   bash bench/rules.sh
#   ROUNDS=1 ITERATIONS=30 bash bench/rules.sh      (smoke run, ~1 min)
#
# The issue's goal: "matching is C and costs nothing measurable when no rule
# exists; with 100 rules it adds under 5 % to a DDL-heavy script".
#
# One cluster with trail preloaded (initdb, shared_buffers=1GB,
# max_wal_size=4GB, checkpoint_timeout=30min, fsync on, synchronous_commit
# on unless SYNCHRONOUS_COMMIT says otherwise) and one database per
# configuration:
#     no-trail          trail preloaded, CREATE EXTENSION not run: its hooks
#                       run and find no extension
#     trail             CREATE EXTENSION trail, no rule
#     trail-100-rules   100 enabled rules with notify targets and varied,
#                       realistic patterns (10 shapes: sources, event names,
#                       prefix, suffix, wildcard, anything-but, numeric,
#                       exists, cidr, equals-ignore-case, $or), none of
#                       which matches the workload's events (checked)
#     trail-100-rules+1-all
#                       the same 100 rules and one more matching every
#                       event, with a notify target (nobody listens: each
#                       event is rendered, wrapped, matched and queued)
# The workload: a script of 14 DDL statements, each its own transaction
# (CREATE TABLE, ALTER TABLE x2, CREATE INDEX, COMMENT, CREATE VIEW, CREATE
# FUNCTION, GRANT, CREATE ROLE, ALTER ROLE, then the DROPs of all of it),
# run ITERATIONS times by one psql session per run (simple protocol, one
# statement per round trip, like pgbench -M simple).  After one unmeasured
# warm-up run of WARMUP_ITERATIONS per configuration, ROUNDS rounds run
# every configuration once, the order rotating each round (A B C D,
# B C D A, ...).
# Measured per run, by the session itself: the wall time (clock_timestamp)
# and the CPU time of its backend (utime + stime of /proc/<pid>/stat, read
# with pg_read_file).  Rules cost CPU in the backend and nothing else, and
# the backend's CPU time hardly moves when other processes load the disk or
# the other core, where wall time on this shared machine moves by +-30 %;
# so the goal is judged on CPU time: the extra CPU per statement of 100 rules
# over trail without rules, against trail's wall time per statement (what
# the script takes) and, stricter, against trail's CPU time per statement.
# Reported: median and min-max per configuration of statements/s and CPU
# µs per statement, the ratios per round, and the extra µs per statement.
# Databases drift apart as the script bloats their catalogs (each run
# creates and drops ~8,000 objects; autovacuum catches up at its own pace),
# which moves CPU per statement by +-20 % between runs.  So the rules are
# also measured in one database against themselves: PAIRS pairs of short
# runs (PAIR_ITERATIONS each) of trail-100-rules with its rules disabled
# and enabled (trail.disable_rule/enable_rule, order alternating), and the
# difference within each pair.  That paired figure decides the goal.
#
# Output: a markdown report on stdout and in bench/results/rules-<date>-<time>.md.
# Settings (environment): ROUNDS (7), ITERATIONS (600), WARMUP_ITERATIONS
# (60), PAIRS (20), PAIR_ITERATIONS (150), PORT (5534), SYNCHRONOUS_COMMIT (off: the CPU cost; on adds an
# fsync per statement, which rules do not change).  The default run takes
# about 10 minutes.
set -euo pipefail

BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
source "$BENCH/lib.sh"

ROUNDS=${ROUNDS:-7}
ITERATIONS=${ITERATIONS:-600}
PAIRS=${PAIRS:-20}
PAIR_ITERATIONS=${PAIR_ITERATIONS:-150}
WARMUP_ITERATIONS=${WARMUP_ITERATIONS:-60}
PORT=${PORT:-5534}
SYNCHRONOUS_COMMIT=${SYNCHRONOUS_COMMIT:-off}
TICKS=$(getconf CLK_TCK)
NSTMT=14 # statements of the pgbench script

case ${1:-} in
'') ;;
-h | --help)
	script_help "${BASH_SOURCE[0]}"
	exit 0
	;;
*)
	echo "rules.sh: unknown argument $1 (try --help)" >&2
	exit 2
	;;
esac

W=$(mktemp -d /tmp/trail-bench-rules.XXXXXX)
chmod 755 "$W"

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	set +e
	cluster_stop "$W/c"
	rm -rf -- "$W"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM


CONFIGS=(no-trail trail trail-100-rules trail-100-rules+1-all)
declare -A DBNAME=([no-trail]=b_notrail [trail]=b_trail [trail-100-rules]=b_rules [trail-100-rules+1-all]=b_rules_all)
SOCK="$W/c/sock"
psql_on() { # database, psql args...
	local db=$1
	shift
	"$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$SOCK" -p "$PORT" -U postgres -d "$db" "$@"
}

# what is measured: the installed library and script (others may reinstall them)
EXT_DIR=$("$PG_CONFIG" --sharedir)/extension
TRAIL_VERSION="$(git -C "$BENCH/.." log -1 --format='commit %h "%<(60,trunc)%s"' 2>/dev/null | sed 's/ *"$/"/')$(git -C "$BENCH/.." diff --quiet HEAD -- src trail--1.0.sql 2>/dev/null || echo ', src/ or trail--1.0.sql modified'); installed trail.so md5 $(md5sum "$("$PG_CONFIG" --pkglibdir)/trail.so" | cut -c1-12), extension script md5 $(cat "$EXT_DIR"/trail.control "$EXT_DIR"/trail--*.sql | md5sum | cut -c1-12)"

log "starting a cluster with trail preloaded (port $PORT, $W)"
cluster_init "$W/c" "$PORT" "shared_preload_libraries = 'trail'" "synchronous_commit = $SYNCHRONOUS_COMMIT"
cluster_start "$W/c"
for c in "${CONFIGS[@]}"; do
	"$PG_BIN/createdb" -h "$SOCK" -p "$PORT" -U postgres "${DBNAME[$c]}"
	if [[ $c != no-trail ]]; then
		psql_on "${DBNAME[$c]}" -c "SET client_min_messages = warning" -c "CREATE EXTENSION trail"
	fi
done

# The 100 rules: 10 shapes x 10 variants, each naming things the workload
# never produces (other event names, users, tables, addresses), several of
# them passing their first fields (source, eventName) for the workload's events
# so that matching goes deep.
RULES_SQL=$(
	cat <<'EOF'
SELECT count(trail.put_rule(format('rule-%s', i), p, format('notify:alerts_%s', i % 10), format('bench rule %s', i)))
  FROM generate_series(0, 99) i,
  LATERAL (SELECT (CASE i % 10
	WHEN 0 THEN format('{"source": ["postgresql.ddl"], "detail": {"eventName": ["DropDatabase", "AlterSystem"],
	                     "userIdentity": {"userName": ["intruder_%s"]}}}', i)
	WHEN 1 THEN format('{"source": ["postgresql.iam"], "detail": {"eventName": [{"prefix": "Alter"}],
	                     "requestParameters": {"roleName": ["admin_%s", "superuser_%s"]}}}', i, i)
	WHEN 2 THEN format('{"detail": {"eventCategory": ["Data"], "eventName": ["Delete", "Truncate"],
	                     "requestParameters": {"tableName": ["app.payments_%s"]}}}', i)
	WHEN 3 THEN format('{"source": ["postgresql.ddl"], "detail": {"eventName": ["CreateTable", "DropTable"],
	                     "requestParameters": {"statement": [{"wildcard": "*secret_%s*"}]}}}', i)
	WHEN 4 THEN format('{"detail": {"eventCategory": ["Data"], "responseElements": {"rowCount": [{"numeric": [">", %s]}]}}}',
	                   100000 + i)
	WHEN 5 THEN format('{"source": ["postgresql.ddl"], "detail": {"eventName": [{"anything-but": {"prefix": "Create"}}],
	                     "userIdentity": {"userName": ["ops_%s"]}}}', i)
	WHEN 6 THEN format('{"detail": {"eventName": [{"equals-ignore-case": "alterSystem"}], "awsRegion": [{"suffix": "_%s"}]}}', i)
	WHEN 7 THEN format('{"source": ["postgresql.ddl"], "$or": [{"detail": {"eventName": ["DropSchema", "DropExtension"]}},
	                     {"detail": {"requestParameters": {"statement": [{"prefix": "TRUNCATE app_%s"}]}}}]}', i)
	WHEN 8 THEN format('{"detail": {"sourceIPAddress": [{"cidr": "10.%s.0.0/16"}], "errorCode": [{"exists": true}]}}', i)
	ELSE format('{"source": ["postgresql.trail", "postgresql.iam"], "detail": {"eventName": ["PutRule", "DeleteRule", "DropRole"],
	              "userIdentity": {"type": ["AssumedRole"], "userName": ["deployer_%s"]}}}', i)
	END)::jsonb AS p) x;
EOF
)
for c in trail-100-rules trail-100-rules+1-all; do
	psql_on "${DBNAME[$c]}" -At -c "$RULES_SQL" >/dev/null
done
psql_on "${DBNAME[trail-100-rules+1-all]}" -At \
	-c "SELECT trail.put_rule('all', '{\"version\": [\"0\"]}', 'notify:everything', 'every event')" >/dev/null

# The workload: 14 DDL statements, each its own transaction; every object is
# dropped again, so every run starts from the same catalog.  :client_id keeps
# clients apart, :tag databases (roles are cluster-wide).
cat >"$W/ddl.sql" <<'EOF'
CREATE TABLE bench_t:client_id (id serial PRIMARY KEY, name text, created_at timestamptz DEFAULT now());
ALTER TABLE bench_t:client_id ADD COLUMN payload jsonb;
CREATE INDEX bench_i:client_id ON bench_t:client_id (name);
COMMENT ON TABLE bench_t:client_id IS 'a benchmark table, dropped at the end of the script';
CREATE VIEW bench_v:client_id AS SELECT id, name, created_at FROM bench_t:client_id WHERE name IS NOT NULL;
CREATE FUNCTION bench_f:client_id(int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT $1 + 1';
ALTER TABLE bench_t:client_id ALTER COLUMN name SET NOT NULL;
CREATE ROLE bench_r:client_id:tag NOLOGIN;
GRANT SELECT ON bench_t:client_id TO bench_r:client_id:tag;
ALTER ROLE bench_r:client_id:tag SET work_mem = '8MB';
DROP VIEW bench_v:client_id;
DROP FUNCTION bench_f:client_id(int);
DROP TABLE bench_t:client_id;
DROP ROLE bench_r:client_id:tag;
EOF
if (($(grep -c ';$' "$W/ddl.sql") != NSTMT)); then
	log "the script has $(grep -c ';$' "$W/ddl.sql") statements, not $NSTMT"
	exit 1
fi

# A psql script running the workload n times, which prints its own wall
# time and its backend's CPU time (seconds) at the end.
loop_script() { # n
	local n=$1 f="$W/loop_$1.sql" i
	if [[ ! -f $f ]]; then
		{
			echo '\set client_id 0'
			echo "SELECT clock_timestamp() AS t0, pg_read_file('/proc/' || pg_backend_pid() || '/stat') AS s0 \\gset"
			for ((i = 0; i < n; i++)); do echo "\\i $W/ddl.sql"; done
			echo "SELECT extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) || ' ' ||"
			echo "       ((f1[12]::bigint + f1[13]::bigint) - (f0[12]::bigint + f0[13]::bigint))::float8 / $TICKS"
			echo "  FROM (SELECT string_to_array(split_part(:'s0', ') ', 2), ' ') AS f0,"
			echo "               string_to_array(split_part(pg_read_file('/proc/' || pg_backend_pid() || '/stat'), ') ', 2), ' ') AS f1) x;"
		} >"$f"
	fi
	echo "$f"
}

# run the workload n times on a configuration; prints "wall cpu" (seconds)
run() { # config n
	psql_on "${DBNAME[$1]}" -At -v tag="${DBNAME[$1]#b_}" -f "$(loop_script "$2")" | tail -1
}

events() { # config: events stored so far (0 without the extension)
	if [[ $1 == no-trail ]]; then echo 0; else psql_on "${DBNAME[$1]}" -At -c "SELECT count(*) FROM trail.events"; fi
}

log "warm-up: $WARMUP_ITERATIONS iterations per configuration"
declare -A EV_BEFORE EV_AFTER
for c in "${CONFIGS[@]}"; do
	EV_BEFORE[$c]=$(events "$c")
	run "$c" "$WARMUP_ITERATIONS" >/dev/null
	EV_AFTER[$c]=$(events "$c")
done

# How many of the warm-up's events each rule matches: the envelope of every
# stored event (as rules.c makes it) against every enabled rule.
MATCH_SQL=$(
	cat <<'EOF'
WITH ev AS (
	SELECT trail.cloudtrail_record(e) AS rec FROM trail.events e
	 WHERE e.event_id > (SELECT event_id FROM trail.events WHERE event_name = 'PutRule' ORDER BY event_id DESC LIMIT 1)),
env AS (
	SELECT jsonb_build_object('version', '0',
		'detail-type', CASE WHEN rec->>'eventType' = 'AwsServiceEvent' THEN 'AWS Service Event via CloudTrail'
		                    ELSE 'AWS API Call via CloudTrail' END,
		'source', split_part(rec->>'eventSource', '.', 2) || '.' || split_part(rec->>'eventSource', '.', 1),
		'account', rec->>'recipientAccountId', 'time', rec->>'eventTime', 'region', rec->>'awsRegion',
		'resources', coalesce((SELECT jsonb_agg(r->'ARN') FROM jsonb_array_elements(
		                       CASE jsonb_typeof(rec->'resources') WHEN 'array' THEN rec->'resources' ELSE '[]' END) r), '[]'),
		'detail', rec) AS env FROM ev)
SELECT (SELECT count(*) FROM env) || ' ' || count(DISTINCT r.name) FILTER (WHERE m.n > 0) || ' '
       || coalesce(sum(m.n), 0)
  FROM trail.rules r,
  LATERAL (SELECT count(*) AS n FROM env WHERE trail.test_event_pattern(r.event_pattern, env.env)) m
 WHERE r.enabled;
EOF
)
declare -A MATCHED
for c in trail-100-rules trail-100-rules+1-all; do
	MATCHED[$c]=$(psql_on "${DBNAME[$c]}" -At -c "$MATCH_SQL")
	log "$c: $(awk '{ printf "%d rules match %d of the %d warm-up events", $2, $3, $1 }' <<<"${MATCHED[$c]}")"
done
NRULES_A=$(psql_on "${DBNAME[trail-100-rules]}" -At -c "SELECT count(*) FROM trail.describe_rules() WHERE state = 'ENABLED'")
NRULES_B=$(psql_on "${DBNAME[trail-100-rules+1-all]}" -At -c "SELECT count(*) FROM trail.describe_rules() WHERE state = 'ENABLED'")

COND_BEFORE=$(machine_conditions start)
: >"$W/results"
for ((r = 1; r <= ROUNDS; r++)); do
	order=()
	for ((k = 0; k < ${#CONFIGS[@]}; k++)); do
		order+=("${CONFIGS[$(((r - 1 + k) % ${#CONFIGS[@]}))]}")
	done
	line=""
	for c in "${order[@]}"; do
		read -r wall cpu < <(run "$c" "$ITERATIONS")
		echo "$r $c $wall $cpu" >>"$W/results"
		line+="$c $(awk -v w="$wall" -v c="$cpu" -v n="$((ITERATIONS * NSTMT))" 'BEGIN { printf "%.0f/s %.0fus", n / w, c * 1e6 / n }')  "
	done
	log "round $r/$ROUNDS: $line"
done
# The same database with its rules off and on, pair by pair
toggle() { # enable|disable
	psql_on "${DBNAME[trail-100-rules]}" -At -c "SELECT count(trail.${1}_rule(name)) FROM trail.describe_rules()" >/dev/null
}
: >"$W/pairs"
for ((k = 1; k <= PAIRS; k++)); do
	if ((k % 2)); then order=(off on); else order=(on off); fi
	for o in "${order[@]}"; do
		if [[ $o == on ]]; then toggle enable; else toggle disable; fi
		read -r wall cpu < <(run trail-100-rules "$PAIR_ITERATIONS")
		echo "$k $o $wall $cpu" >>"$W/pairs"
	done
done
toggle enable
log "pairs: $(awk -v n="$((PAIR_ITERATIONS * NSTMT))" '{ c[$2] += $4; k[$2]++ } END { printf "rules off %.0fus, on %.0fus of CPU per statement (means)", c["off"] * 1e6 / n / k["off"], c["on"] * 1e6 / n / k["on"] }' "$W/pairs")"
COND_AFTER=$(machine_conditions end)

###############################################################################
# The report
###############################################################################

mkdir -p "$BENCH/results"
REPORT="$BENCH/results/rules-$(date +%F-%H%M)$([[ $SYNCHRONOUS_COMMIT == on ]] || echo "-sync-$SYNCHRONOUS_COMMIT").md"
f0() { awk -v v="$1" 'BEGIN { printf "%.0f", v }'; }
f1() { awk -v v="$1" 'BEGIN { printf "%.1f", v }'; }
f3() { awk -v v="$1" 'BEGIN { printf "%.3f", v }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }

NS=$((ITERATIONS * NSTMT)) # statements per run
# per run: statements/s (field 3) and CPU µs per statement (field 4)
per_run() { awk -v n="$NS" '{ print $1, $2, n / $3, $4 * 1e6 / n }' "$W/results"; }
declare -A MED MIN MAX CMED CMIN CMAX
for c in "${CONFIGS[@]}"; do
	read -r "MED[$c]" "MIN[$c]" "MAX[$c]" _ < <(per_run | awk -v c="$c" '$2 == c { print $3 }' | stats)
	read -r "CMED[$c]" "CMIN[$c]" "CMAX[$c]" _ < <(per_run | awk -v c="$c" '$2 == c { print $4 }' | stats)
done
# per round, configurations a and b: field f of a over field f of b, or
# (op -) field f of a minus that of b
paired() { # a b field op
	per_run | awk -v a="$1" -v b="$2" -v f="$3" -v op="$4" '$2 == a { x[$1] = $f } $2 == b { y[$1] = $f }
		END { for (r in x) if (r in y) print (op == "-") ? x[r] - y[r] : x[r] / y[r] }' | stats
}
row_ratio() { # label a b
	local pm pmin pmax cm cmin cmax um umin umax
	read -r pm pmin pmax _ < <(paired "$2" "$3" 3 /)
	read -r cm cmin cmax _ < <(paired "$2" "$3" 4 /)
	read -r um umin umax _ < <(paired "$2" "$3" 4 -)
	echo "| $1 | $(f3 "$pm") ($(f3 "$pmin")–$(f3 "$pmax")) | **$(f3 "$cm")** ($(f3 "$cmin")–$(f3 "$cmax")) | **$(f1 "$um")** ($(f1 "$umin")–$(f1 "$umax")) |"
}
# the pairs: per pair, the CPU µs per statement with rules off and on, and
# the difference; the extra CPU µs per statement of 100 rules is its median,
# set against trail's wall time and CPU time per statement
PNS=$((PAIR_ITERATIONS * NSTMT))
pair_field() { # off|on|diff|wall|offwall -> values over pairs
	awk -v n="$PNS" -v w="$1" '{ c[$1, $2] = $4 * 1e6 / n; t[$1, $2] = n / $3; k[$1] = 1 }
		END {
			for (p in k) {
				if (w == "diff") v = c[p, "on"] - c[p, "off"]
				else if (w == "wall") v = t[p, "on"] / t[p, "off"]
				else if (w == "offwall") v = 1e6 / t[p, "off"]
				else v = c[p, w]
				print v
			}
		}' "$W/pairs"
}
read -r POFF POFF_MIN POFF_MAX _ < <(pair_field off | stats)
read -r PON PON_MIN PON_MAX _ < <(pair_field on | stats)
read -r EXTRA EXTRA_MIN EXTRA_MAX EXTRA_Q1 EXTRA_Q3 _ < <(pair_field diff | stats)
read -r PWALL PWALL_MIN PWALL_MAX _ < <(pair_field wall | stats)
read -r WALL_US _ < <(pair_field offwall | stats)
SHARE_WALL=$(awk -v e="$EXTRA" -v w="$WALL_US" 'BEGIN { printf "%.1f", 100 * e / w }')
SHARE_CPU=$(awk -v e="$EXTRA" -v c="$POFF" 'BEGIN { printf "%.1f", 100 * e / c }')
goal() { awk -v s="$1" 'BEGIN { print (s < 5) ? "met" : "NOT met" }'; }

{
	echo "# trail rules: the cost of 100 rules on a DDL-heavy workload"
	echo
	echo "Run $(date '+%F %T %Z') by \`bench/rules.sh\`. One cluster with trail preloaded, one database per"
	echo "configuration; one psql session per run executing a script of $NSTMT DDL statements $ITERATIONS times"
	echo "($NS statements), each its own transaction (CREATE/ALTER/DROP TABLE, CREATE INDEX, COMMENT, CREATE VIEW,"
	echo "CREATE FUNCTION, GRANT, CREATE/ALTER/DROP ROLE ...). One unmeasured warm-up run of $WARMUP_ITERATIONS"
	echo "iterations per configuration, then $ROUNDS rounds running every configuration once, the order rotating"
	echo "each round. Measured per run: wall time, and the CPU time (user + system) of the session's backend."
	echo "Settings: shared_buffers=1GB, max_wal_size=4GB, checkpoint_timeout=30min, fsync=on,"
	echo "synchronous_commit=$SYNCHRONOUS_COMMIT, others default."
	echo
	echo "- **no-trail**: trail preloaded, extension not created in the database"
	echo "- **trail**: extension created, no rule"
	echo "- **trail-100-rules**: $NRULES_A enabled rules with notify targets, 10 pattern shapes x 10 variants;"
	echo "  of the $(cut -d' ' -f1 <<<"${MATCHED[trail-100-rules]}") events of the warm-up run, $(cut -d' ' -f2 <<<"${MATCHED[trail-100-rules]}") rules matched $(cut -d' ' -f3 <<<"${MATCHED[trail-100-rules]}")"
	echo "- **trail-100-rules+1-all**: the same and one rule matching every event ($NRULES_B enabled), notify target,"
	echo "  nobody listening; of the $(cut -d' ' -f1 <<<"${MATCHED[trail-100-rules+1-all]}") warm-up events, $(cut -d' ' -f2 <<<"${MATCHED[trail-100-rules+1-all]}") rule(s) matched $(cut -d' ' -f3 <<<"${MATCHED[trail-100-rules+1-all]}")"
	echo
	echo "Events stored by the warm-up run ($((WARMUP_ITERATIONS * NSTMT)) statements):"
	for c in "${CONFIGS[@]}"; do
		echo "$c $((EV_AFTER[$c] - EV_BEFORE[$c]))"
	done | awk '{ printf "%s%s %s", (NR > 1 ? ", " : ""), $1, $2 } END { print "." }'
	echo
	echo "trail: $TRAIL_VERSION"
	echo
	machine_section "$COND_BEFORE" "$COND_AFTER"
	echo "## Per configuration"
	echo
	echo "| configuration | statements/s, median | min–max | × trail | backend CPU µs per statement, median | min–max | × trail |"
	echo "|---|--:|--:|--:|--:|--:|--:|"
	for c in "${CONFIGS[@]}"; do
		echo "| $c | $(f0 "${MED[$c]}") | $(f0 "${MIN[$c]}")–$(f0 "${MAX[$c]}") | $(ratio "${MED[$c]}" "${MED[trail]}") | $(f1 "${CMED[$c]}") | $(f1 "${CMIN[$c]}")–$(f1 "${CMAX[$c]}") | $(ratio "${CMED[$c]}" "${CMED[trail]}") |"
	done
	echo
	echo "## Ratios, per round"
	echo
	echo "Configurations of one round run back to back; median (min–max) over the rounds of the ratio of"
	echo "statements/s, of the ratio of CPU time per statement, and of the extra CPU µs per statement."
	echo
	echo "| comparison | statements/s ratio | CPU ratio | extra CPU µs per statement |"
	echo "|---|--:|--:|--:|"
	row_ratio "trail-100-rules / trail" trail-100-rules trail
	row_ratio "trail-100-rules+1-all / trail" trail-100-rules+1-all trail
	row_ratio "trail-100-rules+1-all / trail-100-rules" trail-100-rules+1-all trail-100-rules
	row_ratio "trail / no-trail" trail no-trail
	echo
	echo "## The same database, rules off and on"
	echo
	echo "$PAIRS pairs of runs of $PAIR_ITERATIONS iterations ($PNS statements) on trail-100-rules, its rules disabled"
	echo "in one run and enabled in the other (order alternating); median (min–max) over the pairs."
	echo
	echo "| | backend CPU µs per statement |"
	echo "|---|--:|"
	echo "| rules disabled | $(f1 "$POFF") ($(f1 "$POFF_MIN")–$(f1 "$POFF_MAX")) |"
	echo "| 100 rules enabled | $(f1 "$PON") ($(f1 "$PON_MIN")–$(f1 "$PON_MAX")) |"
	echo "| difference within a pair | **$(f1 "$EXTRA")** ($(f1 "$EXTRA_MIN")–$(f1 "$EXTRA_MAX"); IQR $(f1 "$EXTRA_Q1")–$(f1 "$EXTRA_Q3")) |"
	echo
	echo "Statements/s with the rules enabled over disabled, per pair: $(f3 "$PWALL") ($(f3 "$PWALL_MIN")–$(f3 "$PWALL_MAX"))."
	echo
	echo "100 rules cost $(f1 "$EXTRA") µs of backend CPU per statement (median over pairs): **${SHARE_WALL} %** of"
	echo "the $(f0 "$WALL_US") µs a statement of the script takes with the rules disabled (wall time, median over"
	echo "pairs), ${SHARE_CPU} % of its $(f1 "$POFF") µs of backend CPU. The goal (100 rules add under 5 % to the script) is"
	echo "**$(goal "$SHARE_WALL")** against the script's time, **$(goal "$SHARE_CPU")** against its backend CPU time alone."
	echo
	echo "Pairs, in run order (statements/s, backend CPU µs per statement):"
	echo
	echo '```'
	awk -v n="$PNS" '{ printf "pair %-2s rules %-3s %8.0f/s %8.1f us\n", $1, $2, n / $3, $4 * 1e6 / n }' "$W/pairs"
	echo '```'
	echo
	echo "Rounds, per run, in run order (statements/s, backend CPU µs per statement):"
	echo
	echo '```'
	per_run | awk '{ printf "round %-2s %-22s %8.0f/s %8.1f us\n", $1, $2, $3, $4 }'
	echo '```'
} >"$REPORT"

cat "$REPORT"
log "report written to $REPORT"
