#!/usr/bin/env bash
# bench/rules.sh: what do EventBridge-style rules cost a DDL-heavy workload?
#
#   bash bench/rules.sh
#   ROUNDS=1 SECONDS_PER_RUN=3 bash bench/rules.sh      (smoke run, ~1 min)
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
# The workload: pgbench -n -M simple -c CLIENTS -T SECONDS_PER_RUN of a script
# of 14 DDL statements, each its own transaction (CREATE TABLE, ALTER TABLE
# x2, CREATE INDEX, COMMENT, CREATE VIEW, CREATE FUNCTION, GRANT, CREATE ROLE,
# ALTER ROLE, then the DROPs of all of it; every client has its own names).
# After one unmeasured warm-up run per configuration, ROUNDS rounds run every
# configuration once, the order rotating each round (A B C D, B C D A, ...).
# Measured: pgbench's tps (without connection time) times 14, statements
# per second.  Reported: median and min-max per configuration, the ratios
# trail-100-rules / trail (the goal: >= 0.95), trail / no-trail, and the
# same ratios taken per round (configurations of one round run back to
# back), and the difference in microseconds per statement.
#
# Output: a markdown report on stdout and in bench/results/rules-<date>-<time>.md.
# Settings (environment): ROUNDS (5), SECONDS_PER_RUN (20), WARMUP_SECONDS (5),
# CLIENTS (1), PORT (5534), SYNCHRONOUS_COMMIT (on).  The default run takes
# about 4 x ROUNDS x SECONDS_PER_RUN + 1 minute: ~8 minutes.
set -euo pipefail

BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
source "$BENCH/lib.sh"

ROUNDS=${ROUNDS:-5}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-20}
WARMUP_SECONDS=${WARMUP_SECONDS:-5}
CLIENTS=${CLIENTS:-1}
PORT=${PORT:-5534}
SYNCHRONOUS_COMMIT=${SYNCHRONOUS_COMMIT:-on}
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

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }

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

# run pgbench on a configuration for some seconds; prints the tps
run() { # config seconds
	local c=$1 s=$2 out
	out=$("$PG_BIN/pgbench" -n -M simple -h "$SOCK" -p "$PORT" -U postgres -c "$CLIENTS" -j "$CLIENTS" \
		-T "$s" -D tag="${DBNAME[$c]#b_}" -f "$W/ddl.sql" "${DBNAME[$c]}" 2>&1) || {
		echo "$out" >&2
		return 1
	}
	if grep -q 'failed' <<<"$out" && ! grep -q 'number of failed transactions: 0' <<<"$out"; then
		echo "$out" >&2
		log "pgbench reported failures on $c"
		return 1
	fi
	awk '/^tps = / && /without initial connection time/ { print $3 }' <<<"$out"
}

events() { # config: events stored so far (0 without the extension)
	if [[ $1 == no-trail ]]; then echo 0; else psql_on "${DBNAME[$1]}" -At -c "SELECT count(*) FROM trail.events"; fi
}

log "warm-up: ${WARMUP_SECONDS}s per configuration"
declare -A EV_BEFORE EV_AFTER WARM_TPS
for c in "${CONFIGS[@]}"; do
	EV_BEFORE[$c]=$(events "$c")
	WARM_TPS[$c]=$(run "$c" "$WARMUP_SECONDS")
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
		tps=$(run "$c" "$SECONDS_PER_RUN")
		echo "$r $c $tps" >>"$W/results"
		line+="$c $(awk -v t="$tps" -v n="$NSTMT" 'BEGIN { printf "%.0f", t * n }')/s  "
	done
	log "round $r/$ROUNDS: $line"
done
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

declare -A MED MIN MAX Q1 Q3
for c in "${CONFIGS[@]}"; do
	read -r "MED[$c]" "MIN[$c]" "MAX[$c]" "Q1[$c]" "Q3[$c]" _ < <(awk -v c="$c" -v n="$NSTMT" '$2 == c { print $3 * n }' "$W/results" | stats)
done
# per round: the ratio of two configurations' statements/s, and the
# difference of their time per statement (µs)
paired() { # a b -> "median min max" of a/b over rounds
	awk -v a="$1" -v b="$2" '$2 == a { x[$1] = $3 } $2 == b { y[$1] = $3 } END { for (r in x) if (r in y) print x[r] / y[r] }' "$W/results" | stats
}
paired_us() { # a b -> "median min max" of (1/a - 1/b) in µs per statement
	awk -v a="$1" -v b="$2" -v n="$NSTMT" '$2 == a { x[$1] = $3 } $2 == b { y[$1] = $3 }
		END { for (r in x) if (r in y) print 1e6 / (x[r] * n) - 1e6 / (y[r] * n) }' "$W/results" | stats
}
row_ratio() { # label a b
	local pm pmin pmax um umin umax
	read -r pm pmin pmax _ < <(paired "$2" "$3")
	read -r um umin umax _ < <(paired_us "$2" "$3")
	echo "| $1 | **$(ratio "${MED[$2]}" "${MED[$3]}")** | $(f3 "$pm") ($(f3 "$pmin")–$(f3 "$pmax")) | $(f1 "$um") ($(f1 "$umin")–$(f1 "$umax")) |"
}
goal() { # ratio of the medians of trail-100-rules and trail
	awk -v a="${MED[trail-100-rules]}" -v b="${MED[trail]}" 'BEGIN { print (a / b >= 0.95) ? "met" : "NOT met" }'
}

{
	echo "# trail rules: the cost of 100 rules on a DDL-heavy workload"
	echo
	echo "Run $(date '+%F %T %Z') by \`bench/rules.sh\`. One cluster with trail preloaded, one database per"
	echo "configuration; pgbench (-M simple, $CLIENTS client(s), ${SECONDS_PER_RUN} s per run) of a script of $NSTMT DDL"
	echo "statements, each its own transaction (CREATE/ALTER/DROP TABLE, CREATE INDEX, COMMENT, CREATE VIEW,"
	echo "CREATE FUNCTION, GRANT, CREATE/ALTER/DROP ROLE ...). One unmeasured warm-up run of ${WARMUP_SECONDS} s per"
	echo "configuration, then $ROUNDS rounds running every configuration once, the order rotating each round."
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
	echo "Events stored by the warm-up run (statements: about $(f0 "$(awk -v t="${WARM_TPS[trail]}" -v n="$NSTMT" -v s="$WARMUP_SECONDS" 'BEGIN { print t * n * s }')") in trail):"
	for c in "${CONFIGS[@]}"; do
		echo "$c $((EV_AFTER[$c] - EV_BEFORE[$c]))"
	done | awk '{ printf "%s%s %s", (NR > 1 ? ", " : ""), $1, $2 } END { print "." }'
	echo
	echo "trail: $TRAIL_VERSION"
	echo
	machine_section "$COND_BEFORE" "$COND_AFTER"
	echo "## Statements per second"
	echo
	echo "| configuration | median | min–max | IQR | µs per statement (median) | × trail |"
	echo "|---|--:|--:|--:|--:|--:|"
	for c in "${CONFIGS[@]}"; do
		echo "| $c | $(f0 "${MED[$c]}") | $(f0 "${MIN[$c]}")–$(f0 "${MAX[$c]}") | $(f0 "${Q1[$c]}")–$(f0 "${Q3[$c]}") | $(f0 "$(awk -v m="${MED[$c]}" 'BEGIN { print 1e6 / m }')") | $(ratio "${MED[$c]}" "${MED[trail]}") |"
	done
	echo
	echo "## Ratios"
	echo
	echo "Ratio of the medians; the same ratio taken per round (configurations run back to back), median"
	echo "(min–max); and the extra time per statement per round, median (min–max)."
	echo
	echo "| comparison | ratio of medians | per round | extra µs per statement |"
	echo "|---|--:|--:|--:|"
	row_ratio "trail-100-rules / trail" trail-100-rules trail
	row_ratio "trail-100-rules+1-all / trail" trail-100-rules+1-all trail
	row_ratio "trail-100-rules+1-all / trail-100-rules" trail-100-rules+1-all trail-100-rules
	row_ratio "trail / no-trail" trail no-trail
	echo
	echo "The goal (100 rules add under 5 %: trail-100-rules / trail >= 0.95 in statements per second) is"
	echo "**$(goal)** by the ratio of the medians. Read the spread first: this machine is shared."
	echo
	echo "Statements per second per run, in run order:"
	echo
	echo '```'
	awk -v n="$NSTMT" '{ printf "round %-2s %-22s %8.0f\n", $1, $2, $3 * n }' "$W/results"
	echo '```'
} >"$REPORT"

cat "$REPORT"
log "report written to $REPORT"
