#!/usr/bin/env bash
# bench/delivery.sh: how fast do trails deliver log files, how fast are they
# validated, and how long until an event is in a file?
#
#   bash bench/delivery.sh                                 the full run (~10-15 min)
#   N=20000 ROUNDS=1 M=3 bash bench/delivery.sh            a quick smoke run (~1-2 min)
#
# One fresh cluster (port PORT, private unix socket, no TCP) with
# shared_preload_libraries = 'trail', trail.log_directory = <temp dir>/buckets,
# trail.delivery_interval = 1, trail.digest_interval = 3600 (no digest while
# delivery is timed), trail.max_file_records = MAX_FILE_RECORDS, and the bench
# settings of lib.sh (shared_buffers=1GB, max_wal_size=4GB, checkpoint_timeout=30min,
# fsync on). Measured, in this order:
#
# 1. Delivery throughput, ROUNDS rounds, each in a database of its own created
#    for the round, benchr<round> (dropped with its bucket after the round,
#    except the last round's; no "_" in the name: the database name is the
#    region in file names, and the validators take a digest's home region to
#    be [A-Za-z0-9-]+): CREATE EXTENSION trail; a table bench_rows (id int PRIMARY KEY, v text)
#    selected for data events (writes) by the event data store, row images
#    'changed'; in ONE transaction, trail.create_trail('bench', 'bench-r<round>')
#    with logging on (so its cursor starts there), trail.put_event_selectors
#    with the same data selector, trail.stop_logging('bench').  Then the
#    backlog: INSERT INTO bench_rows SELECT g, md5(g::text) FROM
#    generate_series(...) in statements of BATCH rows, N rows in all (N row
#    events); VACUUM (ANALYZE) and CHECKPOINT, so that autovacuum and the
#    checkpointer stay out of the timed part.  Then trail.start_logging('bench')
#    and, every 0.5 s, the records trail.delivered_files lists as delivered for
#    the trail, until they reach the number of selected events after the
#    trail's cursor (count(*) of trail.delivery_source with eventCategory Data
#    and commit_seq after the cursor; must be N).  Delivery time = the last
#    file's delivered_time minus the commit of start_logging (both server
#    clock): records/s = records / that time; the first file's delivered_time
#    too.  Meanwhile /proc/<pid>/stat of every "trail ... for database" worker
#    (children of the postmaster) is sampled every 0.05 s: the worker CPU time
#    (user + system, the last sample of each worker process: up to 0.05 s of
#    each process is missed, so only passes much longer than that give a
#    meaningful records per CPU-second), and the start of the busiest worker process (its
#    starttime), hence the time from its start to the last file without the
#    wait for the next pass (up to trail.delivery_interval).  After the
#    round: files, compressed bytes (file sizes), uncompressed bytes (zcat),
#    bytes per record, and the distinct eventIDs in the files (must be N:
#    every event exactly once).
# 2. Baselines on the same bytes: the last round's log files decompressed and
#    concatenated into one file (the same JSON bytes trail compressed), read
#    once to warm the page cache; then BASE_ROUNDS times, interleaved:
#    gzip -1 and gzip -6 of it (to /dev/null), sha256sum of it, openssl dgst
#    -sha256 of it (the SHA-256 the validators use), sha256sum of
#    the .json.gz files as delivered, zcat of the files (to /dev/null) and
#    zcat files | sha256sum.  MB/s (MB = 10^6 bytes) of uncompressed bytes
#    (of compressed bytes for sha256sum of the .json.gz files), the records/s
#    that speed is worth at the measured bytes per record, and trail's
#    delivery records/s as a ratio of it.
# 3. Validation throughput, on the last round's trail: trail.stop_logging,
#    which makes the next delivery pass write a final digest listing every
#    log file (waited for: no log file without digest_object), then
#    BASE_ROUNDS times, interleaved: SELECT * FROM trail.validate_logs('bench',
#    now() - interval '1 day') (server clock, one session, its rows counted in
#    the server) and the
#    offline $(pg_config --bindir)/trail-validate --trail bench --public-key
#    <each DER key of trail.list_public_keys()> <bucket dir> (wall clock; if
#    installed).  Each must report every digest and log file valid.  MB/s over
#    the uncompressed bytes of the log files validated, and over their
#    compressed bytes, as ratios to the baselines above.
# 4. Event-to-file latency: a fresh database, a trail 'lat' with no selectors
#    (management events) and no log file validation, ALTER SYSTEM SET
#    trail.delivery_interval = D and reload.  M events CREATE TABLE lat_<i>(a int),
#    each its own psql session, spaced by a random wait uniform in [0, 2 D] s
#    (bash RANDOM seeded with SEED); each event's time is clock_timestamp()
#    read right after its commit, in its session.  A poller lists the bucket
#    every 0.1 s and, for each new .json.gz log file, notes when it first saw
#    it and which lat_<i> its records name (zcat).  Latency = file first seen
#    minus event commit (and, from the server's side, the file's delivered_time
#    in trail.delivered_files minus the commit): median, p90, max.
#
# Goals (from the issue; the report marks each met or missed): delivery of at
# least 100,000 records per second per core (one worker process delivers, so
# per core = its wall-clock rate, from the start of the worker process to the
# last file; the wait for the next pass is latency, not throughput; the rate
# from start_logging and records per worker CPU-second are shown too);
# validation at least half the speed of sha256sum on the same bytes; event-to-file
# latency at most D + 5 s.
#
# Output: a markdown report on stdout and in bench/results/delivery-<date>-<time>.md.
# Settings (environment): N (1000000 records per round), BATCH (100000 rows per
# INSERT statement), ROUNDS (3), BASE_ROUNDS (ROUNDS, at least 3: repetitions
# of the baselines and validations), MAX_FILE_RECORDS (10000), M (20 latency
# events), D (5 s, the delivery interval of the latency phase), SEED (1),
# DELIVERY_TIMEOUT (1800 s per round), PORT (55441), RESULTS (bench/results),
# KEEP (0; 1 keeps the temp directory with the stopped cluster and buckets).
# Disk: about 1.3 KB per record in /tmp for the JSON copy of step 2 (1.3 GB at
# N=1000000), plus the cluster (trail's tables, the worker's sort spill).
set -euo pipefail

BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
source "$BENCH/lib.sh"

N=${N:-1000000}
BATCH=${BATCH:-100000}
ROUNDS=${ROUNDS:-3}
BASE_ROUNDS=${BASE_ROUNDS:-$((ROUNDS < 3 ? 3 : ROUNDS))}
MAX_FILE_RECORDS=${MAX_FILE_RECORDS:-10000}
M=${M:-20}
D=${D:-5}
SEED=${SEED:-1}
DELIVERY_TIMEOUT=${DELIVERY_TIMEOUT:-1800}
PORT=${PORT:-55441}
KEEP=${KEEP:-0}
RESULTS=${RESULTS:-$BENCH/results}

case ${1:-} in
'') ;;
-h | --help)
	script_help "${BASH_SOURCE[0]}"
	exit 0
	;;
*)
	echo "delivery.sh: unknown argument $1 (try --help)" >&2
	exit 2
	;;
esac

for v in N BATCH ROUNDS BASE_ROUNDS MAX_FILE_RECORDS M D SEED DELIVERY_TIMEOUT PORT; do
	[[ ${!v} =~ ^[0-9]+$ ]] || { echo "delivery.sh: $v must be a whole number" >&2; exit 2; }
done
((N > 0 && BATCH > 0 && ROUNDS > 0 && BASE_ROUNDS > 0 && D > 0)) ||
	{ echo "delivery.sh: N, BATCH, ROUNDS, BASE_ROUNDS and D must be positive" >&2; exit 2; }


W=$(mktemp -d /tmp/trail-bench-delivery.XXXXXX)
chmod 755 "$W"
C=$W/cluster
SOCK=$C/sock
BUCKETS=$W/buckets
VALIDATE_BIN=$("$PG_CONFIG" --bindir)/trail-validate

SAMPLER_PID=
POLLER_PID=
trap stop_bench_cluster EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

psql_db() { # database, psql args...
	local db=$1
	shift
	"$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$SOCK" -p "$PORT" -U postgres -d "$db" "$@"
}
q() { psql_db "$1" -At -c "$2"; }
now() { date +%s.%N; }
# seconds between two epoch values, 3 decimals
dt() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f\n", b - a }'; }
# a / b with d decimals ("–" when b is 0 or empty)
div() { awk -v a="$1" -v b="$2" -v d="${3:-2}" 'BEGIN { if (b == "" || b + 0 == 0 || a == "") print "–"; else printf "%.*f\n", d, a / b }'; }

# what is measured: the installed library and script (others may reinstall them)
EXT_DIR=$("$PG_CONFIG" --sharedir)/extension
COMMIT=$(git -C "$BENCH/.." rev-parse --short HEAD 2>/dev/null || echo unknown)
# md5 of what a run uses: the library (loaded once, at server start), the
# extension script (each round's CREATE EXTENSION) and the offline validator
installed_md5() { cat "$("$PG_CONFIG" --pkglibdir)/trail.so" "$EXT_DIR"/trail.control "$EXT_DIR"/trail--*.sql "$VALIDATE_BIN" 2>/dev/null | md5sum | cut -c1-12; }
INSTALLED_AT_START=$(installed_md5)
TRAIL_VERSION="$(git -C "$BENCH/.." log -1 --format='commit %h "%<(60,trunc)%s"' 2>/dev/null | sed 's/ *"$/"/')$(git -C "$BENCH/.." diff --quiet HEAD -- src trail--1.0.sql 2>/dev/null || echo ', src/ or trail--1.0.sql modified'); installed trail.so md5 $(md5sum "$("$PG_CONFIG" --pkglibdir)/trail.so" 2>/dev/null | cut -c1-12), extension script md5 $(cat "$EXT_DIR"/trail.control "$EXT_DIR"/trail--*.sql 2>/dev/null | md5sum | cut -c1-12), trail-validate md5 $(md5sum "$VALIDATE_BIN" 2>/dev/null | cut -c1-12 || echo 'not installed')"

###############################################################################
# The cluster
###############################################################################

log "cluster in $C (port $PORT, socket only), buckets in $BUCKETS"
cluster_init "$C" "$PORT" "shared_preload_libraries = 'trail'" \
	"trail.log_directory = '$BUCKETS'" \
	"trail.delivery_interval = 1" \
	"trail.digest_interval = 3600" \
	"trail.max_file_records = $MAX_FILE_RECORDS"
mkdir -p "$BUCKETS"
if [[ $(id -u) == 0 ]]; then chown "$BENCH_OS_USER": "$BUCKETS"; fi
cluster_start "$C"
q postgres "SELECT 1" >/dev/null
PM_PID=$(head -n 1 "$C/data/postmaster.pid")

RES=$W/results # lines: phase round metric value
ERRS=$W/errors
: >"$RES"
: >"$ERRS"
rec() { echo "$1 $2 $3 $4" >>"$RES"; }
fail() { # what
	echo "- $1" >>"$ERRS"
	log "FAILED: $1"
}
val() { awk -v p="$1" -v r="$2" -v m="$3" '$1 == p && $2 == r && $3 == m { v = $4 } END { print v }' "$RES"; }
# "median min max n" of a metric over the rounds (empty when none)
med() {
	local s a b c n
	s=$(awk -v p="$1" -v m="$2" '$1 == p && $3 == m && $4 != "" { print $4 }' "$RES" | stats)
	read -r a b c _ _ n <<<"$s"
	if ((n > 0)); then echo "$a $b $c $n"; fi
}

# The worker CPU sampler: every 0.05 s, user + system ticks of each trail
# worker process (children of the postmaster named "trail ... for database");
# prints "pid ticks starttime" lines (clock ticks; starttime since boot), the
# last sample of each pid wins.
cpu_sampler() { # output file
	local out=$1 p name stat kids f sfd
	local -A seen=()
	# builtins only (no fork per sample): /proc read with read, the pause a
	# timed read on a FIFO nobody writes to
	[[ -p $W/sampler.fifo ]] || mkfifo "$W/sampler.fifo"
	exec {sfd}<>"$W/sampler.fifo"
	while :; do
		kids=()
		read -r -a kids 2>/dev/null <"/proc/$PM_PID/task/$PM_PID/children" || true
		for p in "${kids[@]}"; do
			if [[ -z ${seen[$p]:-} ]]; then
				name=
				read -r -d '' name 2>/dev/null <"/proc/$p/cmdline" || true
				if [[ $name == *"trail "*" for database"* ]]; then seen[$p]=1; else seen[$p]=0; fi
			fi
			[[ ${seen[$p]} == 1 ]] || continue
			read -r stat 2>/dev/null <"/proc/$p/stat" || continue
			# the fields after the command: state (3) ... utime (14), stime (15), starttime (22)
			read -r -a f <<<"${stat##*) }"
			echo "$p $((f[11] + f[12])) ${f[19]}" >>"$out"
		done
		read -r -t 0.05 -u "$sfd" _ || true
	done
}
# sampler output -> "cpu_seconds processes busiest_start_epoch": the CPU time
# of every worker seen, and the start (epoch) of the busiest one
cpu_seconds() {
	local boot
	boot=$(awk -v now="$(now)" '{ printf "%.3f", now - $1 }' /proc/uptime)
	awk -v hz="$(getconf CLK_TCK)" -v boot="$boot" '
		{ t[$1] = $2; st[$1] = $3 }
		END {
			s = 0; n = 0; best = ""
			for (p in t) { s += t[p]; n++; if (best == "" || t[p] > t[best]) best = p }
			printf "%.2f %d %s\n", s / hz, n, best == "" ? "" : sprintf("%.3f", boot + st[best] / hz)
		}' "$1"
}

# the log files (not digests) of a bucket, sorted
log_files() { find "$BUCKETS/$1" -path '*/CloudTrail/*' -name '*.json.gz' -type f | sort; }

###############################################################################
# 1. Delivery throughput
###############################################################################

SELECTOR_SQL="SELECT jsonb_build_array(jsonb_build_object(
	'Name', 'bench rows',
	'FieldSelectors', jsonb_build_array(
		'{\"Field\": \"eventCategory\", \"Equals\": [\"Data\"]}'::jsonb,
		'{\"Field\": \"resources.type\", \"Equals\": [\"PG::Table\"]}'::jsonb,
		'{\"Field\": \"readOnly\", \"Equals\": [\"false\"]}'::jsonb,
		jsonb_build_object('Field', 'resources.ARN', 'StartsWith',
			jsonb_build_array(trail.table_arn('public.bench_rows')))))) AS sel"

# no underscore: the database name is the region in file names, and the
# validators take a digest's home region to be [A-Za-z0-9-]+
round_db() { echo "benchr$1"; }
round_bucket() { echo "bench-r$1"; }

# prepare round r: database, table, selectors, the stopped trail, the backlog
prepare_round() { # round
	local r=$1 db bucket lo hi t0 t1
	db=$(round_db "$r")
	bucket=$(round_bucket "$r")
	psql_db postgres -c "SET client_min_messages = warning" \
		-c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db" || return 1
	psql_db "$db" <<-EOF || return 1
		CREATE EXTENSION trail;
		CREATE TABLE bench_rows (id int PRIMARY KEY, v text);
		$SELECTOR_SQL
		\gset
		SELECT trail.update_event_data_store(:'sel') \g /dev/null
		SELECT trail.set_capture_options('public.bench_rows', row_images => 'changed') \g /dev/null
		-- one transaction: no delivery pass can see the trail with its default selectors
		BEGIN;
		SELECT trail.create_trail('bench', '$bucket') \g /dev/null
		SELECT trail.put_event_selectors('bench', :'sel') \g /dev/null
		SELECT trail.stop_logging('bench') \g /dev/null
		COMMIT;
	EOF
	log "round $r: backlog of $N rows in statements of $BATCH"
	t0=$(now)
	{
		for ((lo = 1; lo <= N; lo += BATCH)); do
			hi=$((lo + BATCH - 1))
			((hi > N)) && hi=$N
			echo "INSERT INTO bench_rows SELECT g, md5(g::text) FROM generate_series($lo, $hi) g;"
		done
	} | psql_db "$db" -f - || return 1
	t1=$(now)
	rec delivery "$r" backlog_s "$(dt "$t0" "$t1")"
	psql_db "$db" -c "VACUUM (ANALYZE)" -c "CHECKPOINT" || return 1
	rec delivery "$r" vacuum_s "$(dt "$t1" "$(now)")"
}

# deliver round r's backlog and time it
deliver_round() { # round
	local r=$1 db bucket after expected state t_start deadline records files last first err cpu files_n
	db=$(round_db "$r")
	bucket=$(round_bucket "$r")
	state=$(q "$db" "SELECT after_seq, is_logging FROM trail.trail_state s JOIN trail.trails t ON t.name = s.trail_name WHERE t.name = 'bench'")
	after=${state%%|*}
	[[ ${state#*|} == f ]] || { fail "round $r: the trail is logging before start_logging ($state)"; return 1; }
	expected=$(q "$db" "SELECT count(*) FROM trail.delivery_source WHERE commit_seq > $after AND event_category = 'Data'")
	rec delivery "$r" expected "$expected"
	if ((expected != N)); then
		fail "round $r: $expected data events after the trail's cursor (seq $after), $N rows inserted"
	fi
	: >"$W/cpu.$r"
	cpu_sampler "$W/cpu.$r" &
	SAMPLER_PID=$!
	BENCH_PIDS+=("$SAMPLER_PID")
	# two statements, two transactions: the time is read after the commit
	t_start=$(psql_db "$db" -At -c "SELECT trail.start_logging('bench')" \
		-c "SELECT extract(epoch FROM clock_timestamp())" | tail -n 1)
	deadline=$(($(date +%s) + DELIVERY_TIMEOUT))
	log "round $r: start_logging; waiting for $expected records"
	while :; do
		IFS='|' read -r records files first last err < <(q "$db" "
			SELECT coalesce(sum(f.record_count), 0), count(f.*),
			       extract(epoch FROM min(f.delivered_time)), extract(epoch FROM max(f.delivered_time)),
			       (SELECT latest_delivery_error FROM trail.trail_state WHERE trail_name = 'bench')
			  FROM trail.delivered_files f
			 WHERE f.trail_name = 'bench' AND f.file_type = 'log' AND f.state = 'delivered'")
		records=${records:-0}
		if ((records >= expected)); then break; fi
		if [[ -n $err ]]; then
			fail "round $r: delivery error: $err ($records of $expected records delivered)"
			break
		fi
		if (($(date +%s) > deadline)); then
			fail "round $r: only $records of $expected records delivered (in $files files) after ${DELIVERY_TIMEOUT} s"
			break
		fi
		sleep 0.5
	done
	sleep 0.2 # a last sample of the worker
	kill "$SAMPLER_PID" 2>/dev/null || true
	wait "$SAMPLER_PID" 2>/dev/null || true
	SAMPLER_PID=
	read -r cpu procs wstart < <(cpu_seconds "$W/cpu.$r")
	rec delivery "$r" records "$records"
	rec delivery "$r" files "$files"
	if ((records < expected)) || [[ -z $last ]]; then return 1; fi
	rec delivery "$r" seconds "$(dt "$t_start" "$last")"
	rec delivery "$r" first_file_s "$(dt "$t_start" "$first")"
	rec delivery "$r" records_per_s "$(div "$records" "$(dt "$t_start" "$last")" 0)"
	rec delivery "$r" worker_cpu_s "$cpu"
	rec delivery "$r" worker_procs "$procs"
	if [[ -n $wstart ]]; then
		# the busiest worker: from its start to the last file
		rec delivery "$r" worker_start_s "$(dt "$t_start" "$wstart")"
		rec delivery "$r" worker_seconds "$(dt "$wstart" "$last")"
		rec delivery "$r" records_per_worker_s "$(div "$records" "$(dt "$wstart" "$last")" 0)"
	fi
	rec delivery "$r" records_per_cpu_s "$(div "$records" "$cpu" 0)"
	log "round $r: $records records in $files files in $(dt "$t_start" "$last") s ($(div "$records" "$(dt "$t_start" "$last")" 0) records/s), worker CPU $cpu s"

	# the files themselves
	local comp uncomp ids
	log_files "$bucket" >"$W/files.$r"
	files_n=$(wc -l <"$W/files.$r")
	comp=$(xargs -r -a "$W/files.$r" stat -c %s | awk '{ s += $1 } END { printf "%d\n", s }')
	uncomp=$(xargs -r -a "$W/files.$r" zcat | wc -c)
	# a file is one line: cut it at every "{" (grep -o is slow on huge lines)
	ids=$(xargs -r -a "$W/files.$r" zcat | tr '{' '\n' | LC_ALL=C grep -o '"eventID":"[^"]*"' | LC_ALL=C sort -u | wc -l)
	rec delivery "$r" files_on_disk "$files_n"
	rec delivery "$r" compressed_bytes "$comp"
	rec delivery "$r" uncompressed_bytes "$uncomp"
	rec delivery "$r" distinct_event_ids "$ids"
	rec delivery "$r" compressed_per_record "$(div "$comp" "$records" 1)"
	rec delivery "$r" uncompressed_per_record "$(div "$uncomp" "$records" 1)"
	((files_n == files)) || fail "round $r: $files_n log files in the bucket, $files recorded as delivered"
	((ids == expected)) || fail "round $r: $ids distinct eventIDs in the files, $expected events selected"
}

COND_BEFORE=$(machine_conditions start)
T_START=$(date +%s)
for ((r = 1; r <= ROUNDS; r++)); do
	if ((r > 1)); then
		# the previous round's database and files are no longer needed
		psql_db postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $(round_db $((r - 1))) WITH (FORCE)"
		rm -rf -- "${BUCKETS:?}/$(round_bucket $((r - 1)))"
	fi
	if ! prepare_round "$r"; then fail "round $r: preparing the backlog"; continue; fi
	deliver_round "$r" || true
done
LAST=$ROUNDS
LAST_DB=$(round_db "$LAST")
LAST_BUCKET=$(round_bucket "$LAST")
T_ROUNDS=$(($(date +%s) - T_START))

###############################################################################
# 2. Baselines on the same bytes
###############################################################################

# time a shell command line (bash -c), seconds
timed() {
	local t0 t1
	t0=$(now)
	bash -c "$1" >/dev/null
	t1=$(now)
	dt "$t0" "$t1"
}

ALL=$W/all.json
BASELINES=(sha256 openssl gzip1 gzip6 sha256gz zcat zcatsha256)
declare -A BASE_CMD=(
	[sha256]="sha256sum '$ALL'"
	[openssl]="openssl dgst -sha256 '$ALL'"
	[gzip1]="gzip -1 -c '$ALL'"
	[gzip6]="gzip -6 -c '$ALL'"
	[sha256gz]="xargs -a '$W/files.$LAST' sha256sum"
	[zcat]="xargs -a '$W/files.$LAST' zcat"
	[zcatsha256]="xargs -a '$W/files.$LAST' zcat | sha256sum"
)
declare -A BASE_DESC=(
	[sha256]="\`sha256sum\` of the uncompressed JSON (one file)"
	[openssl]="\`openssl dgst -sha256\` of the uncompressed JSON (the library the validators hash with)"
	[gzip1]="\`gzip -1\` of the uncompressed JSON"
	[gzip6]="\`gzip -6\` of the uncompressed JSON"
	[sha256gz]="\`sha256sum\` of the .json.gz files as delivered"
	[zcat]="\`zcat\` of the .json.gz files (decompression only)"
	[zcatsha256]="\`zcat files \\| sha256sum\` (decompress and hash, two processes)"
)
UNCOMP=$(val delivery "$LAST" uncompressed_bytes)
COMP=$(val delivery "$LAST" compressed_bytes)
RECORDS=$(val delivery "$LAST" records)
if [[ -s $W/files.$LAST && -n $UNCOMP ]]; then
	log "baselines on the last round's bytes: $UNCOMP bytes uncompressed, $COMP compressed, $BASE_ROUNDS rounds"
	xargs -a "$W/files.$LAST" zcat >"$ALL"
	cat "$ALL" >/dev/null
	xargs -a "$W/files.$LAST" cat >/dev/null
	for ((b = 1; b <= BASE_ROUNDS; b++)); do
		for k in "${BASELINES[@]}"; do
			rec base "$b" "$k" "$(timed "${BASE_CMD[$k]}")"
		done
	done
else
	fail "baselines: no delivered files of the last round"
fi

###############################################################################
# 3. Validation throughput
###############################################################################

VALIDATORS=()
if [[ -s $W/files.$LAST ]]; then
	log "validation: stop_logging on the last round's trail; waiting for its final digest"
	q "$LAST_DB" "SELECT trail.stop_logging('bench')" >/dev/null
	deadline=$(($(date +%s) + 120))
	while :; do
		IFS='|' read -r undigested digests open < <(q "$LAST_DB" "
			SELECT count(*) FILTER (WHERE file_type = 'log' AND (digest_object IS NULL OR state <> 'delivered')),
			       count(*) FILTER (WHERE file_type = 'digest' AND state = 'delivered'),
			       (SELECT digest_start_time IS NOT NULL FROM trail.trail_state WHERE trail_name = 'bench')
			  FROM trail.delivered_files WHERE trail_name = 'bench'")
		if ((undigested == 0 && digests > 0)) && [[ $open == f ]]; then break; fi
		if (($(date +%s) > deadline)); then
			fail "validation: no final digest after 120 s ($undigested log files not digested, $digests digests, period open: $open)"
			break
		fi
		sleep 0.5
	done
	rec valid 0 digests "$digests"
	if ((undigested == 0 && digests > 0)); then
		# the public keys, DER, one file each
		mkdir -p "$W/keys"
		KEY_ARGS=()
		i=0
		while read -r k; do
			i=$((i + 1))
			base64 -d <<<"$k" >"$W/keys/$i.der"
			KEY_ARGS+=(--public-key "$W/keys/$i.der")
		done < <(q "$LAST_DB" "SELECT translate(encode(value, 'base64'), E'\n', '') FROM trail.list_public_keys()")
		VALIDATORS=(sql)
		if [[ -x $VALIDATE_BIN ]]; then VALIDATORS+=(offline); else log "no $VALIDATE_BIN: offline validation not measured"; fi
		for ((b = 1; b <= BASE_ROUNDS; b++)); do
			for v in "${VALIDATORS[@]}"; do
				if [[ $v == sql ]]; then
					out=$(psql_db "$LAST_DB" -At <<-'EOF'
						SELECT clock_timestamp() AS t0 \gset
						SELECT count(*) FILTER (WHERE file_type <> 'summary') AS n,
						       max(status) FILTER (WHERE file_type = 'summary') AS summary,
						       count(*) FILTER (WHERE file_type <> 'summary' AND status <> 'valid') AS bad
						  FROM trail.validate_logs('bench', now() - interval '1 day') \gset
						SELECT extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) || '|' || :'n' || '|' || :'bad' || '|' || :'summary';
					EOF
					) || { fail "validation round $b: trail.validate_logs failed"; continue; }
					IFS='|' read -r secs n bad summary <<<"$out"
					echo "sql|$summary ($n rows of files, $bad not valid)" >>"$W/valid.summary"
					if [[ $summary == *INVALID* || $summary == *"no digest"* || $bad != 0 ]]; then
						fail "validation round $b: trail.validate_logs: $summary (time not counted)"
					else
						rec valid "$b" sql "$secs"
					fi
				else
					t0=$(now)
					rc=0
					"$VALIDATE_BIN" --trail bench "${KEY_ARGS[@]}" "$BUCKETS/$LAST_BUCKET" >"$W/offline.out" 2>&1 || rc=$?
					t1=$(now)
					echo "offline|exit $rc: $(grep -v '^\s*$' "$W/offline.out" | tail -n 2 | tr '\n' ' ' | cut -c1-300)" >>"$W/valid.summary"
					if ((rc == 0)); then
						rec valid "$b" offline "$(dt "$t0" "$t1")"
					else
						fail "validation round $b: trail-validate exited $rc (time not counted): $(tail -n 3 "$W/offline.out" | tr '\n' ' ')"
					fi
				fi
			done
		done
	fi
fi

###############################################################################
# 4. Event-to-file latency
###############################################################################

# poll the bucket every 0.1 s: "seen_epoch path" of each new log file, and
# "lat seen_epoch i path" for each lat_<i> its records name
bucket_poller() { # bucket dir, output file
	local dir=$1 out=$2 f t i
	local -A seen=()
	while :; do
		t=$(now)
		while read -r f; do
			[[ -n $f && -z ${seen[$f]:-} ]] || continue
			seen[$f]=1
			echo "file $t $f" >>"$out"
			for i in $(zcat "$f" 2>/dev/null | LC_ALL=C grep -oE '\blat_[0-9]+\b' | sort -u); do
				echo "lat $t ${i#lat_} $f" >>"$out"
			done
		done < <(find "$dir" -path '*/CloudTrail/*' -name '*.json.gz' -type f 2>/dev/null)
		sleep 0.1
	done
}

if ((M > 0)); then
	log "latency: $M events, delivery_interval = $D s, spacing uniform in [0, $((2 * D))] s"
	psql_db postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $LAST_DB WITH (FORCE)"
	rm -rf -- "${BUCKETS:?}/$LAST_BUCKET" "$ALL"
	psql_db postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS lat WITH (FORCE)" -c "CREATE DATABASE lat"
	psql_db lat <<-'EOF'
		CREATE EXTENSION trail;
		SELECT trail.create_trail('lat', 'lat-bucket', enable_log_file_validation => false) \g /dev/null
	EOF
	psql_db lat -c "ALTER SYSTEM SET trail.delivery_interval = $D" -c "SELECT pg_reload_conf()" >/dev/null
	sleep 1
	rec lat 0 delivery_interval "$(q lat "SHOW trail.delivery_interval")"
	: >"$W/poll"
	bucket_poller "$BUCKETS/lat-bucket" "$W/poll" &
	POLLER_PID=$!
	BENCH_PIDS+=("$POLLER_PID")
	# let the trail's own CreateTrail file go by first
	sleep $((D + 2))
	RANDOM=$SEED
	: >"$W/commits"
	for ((i = 1; i <= M; i++)); do
		wait_s=$(awk -v x="$RANDOM" -v d="$D" 'BEGIN { printf "%.2f", x / 32767 * 2 * d }')
		sleep "$wait_s"
		c=$(psql_db lat -At -c "CREATE TABLE lat_$i (a int)" -c "SELECT extract(epoch FROM clock_timestamp())" | tail -n 1)
		echo "$i $c" >>"$W/commits"
	done
	log "latency: waiting for the last files"
	deadline=$(($(date +%s) + D + 60))
	while (($(awk '$1 == "lat" { print $3 }' "$W/poll" | sort -u | wc -l) < M)) && (($(date +%s) < deadline)); do
		sleep 0.5
	done
	sleep 0.5
	kill "$POLLER_PID" 2>/dev/null || true
	wait "$POLLER_PID" 2>/dev/null || true
	POLLER_PID=
	# the server's delivered_time of each file
	q lat "SELECT s3_object, extract(epoch FROM delivered_time) FROM trail.delivered_files WHERE trail_name = 'lat' AND file_type = 'log'" >"$W/delivered"
	while read -r i c; do
		seen_at=$(awk -v i="$i" '$1 == "lat" && $3 == i { print $2, $4; exit }' "$W/poll")
		if [[ -z $seen_at ]]; then
			fail "latency: event lat_$i (committed $(date -d "@$c" +%T.%3N)) in no file after $((D + 60)) s"
			continue
		fi
		read -r s f <<<"$seen_at"
		key=${f#"$BUCKETS/lat-bucket/"}
		dv=$(awk -F'|' -v k="$key" '$1 == k { print $2 }' "$W/delivered")
		rec lat "$i" commit "$c"
		rec lat "$i" seen "$s"
		rec lat "$i" latency "$(dt "$c" "$s")"
		[[ -n $dv ]] && rec lat "$i" latency_server "$(dt "$c" "$dv")"
		rec lat "$i" file "$(basename "$f")"
	done <"$W/commits"
fi
T_TOTAL=$(($(date +%s) - T_START))
COND_AFTER=$(machine_conditions end)
grep -E '^[0-9-]+ [0-9:.]+ [A-Z]+ \[[0-9]+\] (ERROR|WARNING|FATAL|PANIC):' "$C/server.log" >"$W/problems" || true
if [[ $(installed_md5) != "$INSTALLED_AT_START" ]]; then
	fail "trail was reinstalled during the run (trail.so, its SQL script or trail-validate changed): the server kept the library it started with, later rounds created the extension from the new script, the offline validator may be the new one; run again"
fi

###############################################################################
# The report
###############################################################################

mkdir -p "$RESULTS"
REPORT="$RESULTS/delivery-$(date +%F-%H%M).md"
# "median (min–max)" of a metric, formatted
mm() { # phase metric decimals
	local s a lo hi n
	s=$(med "$1" "$2")
	[[ -n $s ]] || { echo "–"; return; }
	read -r a lo hi n <<<"$s"
	if ((n > 1)); then echo "$(fmt "$a" "$3") ($(fmt "$lo" "$3")–$(fmt "$hi" "$3"))"; else fmt "$a" "$3"; fi
}
# percentile p (0-1) of numbers on stdin
pct() { sort -g | awk -v p="$1" '{ v[NR] = $1 } END { if (NR == 0) { print ""; exit } h = (NR - 1) * p + 1; lo = int(h); hi = lo < NR ? lo + 1 : NR; printf "%.3f\n", v[lo] + (h - lo) * (v[hi] - v[lo]) }'; }
verdict() { # value op limit
	if [[ -z $1 || $1 == "–" ]]; then echo "not measured"; return; fi
	if awk -v a="$1" -v b="$3" -v op="$2" 'BEGIN { exit !(op == ">=" ? a >= b : a <= b) }'; then echo "met"; else echo "**missed**"; fi
}

RPS=$(med delivery records_per_s | cut -d' ' -f1)
# the goal's figure: the worker's rate (from its start: the wait for the next
# pass is latency, not throughput), or the rate from start_logging without it
RPW=$(med delivery records_per_worker_s | cut -d' ' -f1)
GOAL_RPS=${RPW:-$RPS}
GOAL_WHAT=$([[ -n $RPW ]] && echo "from the worker's start to the last file" || echo "from start_logging to the last file (no worker start sampled)")
RPCPU=$(med delivery records_per_cpu_s | cut -d' ' -f1)
BPR=$(div "$UNCOMP" "$RECORDS" 3)
# MB/s of a baseline or validator: "median min max" over its rounds, from seconds and bytes
speed() { # phase metric bytes
	awk -v p="$1" -v m="$2" '$1 == p && $3 == m && $4 > 0 { print $4 }' "$RES" | stats |
		awk -v b="$3" '{ if ($6 == 0) exit; printf "%.1f %.1f %.1f %d\n", b / $1 / 1e6, b / $3 / 1e6, b / $2 / 1e6, $6 }'
}

{
	echo "# trail delivery: log file throughput, validation throughput, event-to-file latency"
	echo
	echo "Run $(date '+%F %T %Z') by \`bench/delivery.sh\` (commit $COMMIT), ${T_TOTAL} s in all (delivery rounds ${T_ROUNDS} s)."
	echo "One cluster, shared_preload_libraries = 'trail', trail.delivery_interval = 1 (latency phase: $D),"
	echo "trail.digest_interval = 3600, trail.max_file_records = $MAX_FILE_RECORDS, shared_buffers=1GB,"
	echo "max_wal_size=4GB, checkpoint_timeout=30min, fsync on, others default."
	echo "Settings: N=$N (BATCH=$BATCH), ROUNDS=$ROUNDS, BASE_ROUNDS=$BASE_ROUNDS, M=$M, D=$D, SEED=$SEED."
	echo
	echo "trail: $TRAIL_VERSION"
	if [[ -s $ERRS ]]; then
		echo
		echo "**Failures and discrepancies** (see also the progress on stderr):"
		echo
		cat "$ERRS"
	fi
	problems_section "$W/problems"
	echo
	machine_section "$COND_BEFORE" "$COND_AFTER"

	echo "## 1. Delivery throughput"
	echo
	echo "A backlog of $(fmt "$N" 0) row events (\`INSERT INTO bench_rows SELECT g, md5(g::text) FROM generate_series(...)\`,"
	echo "$BATCH rows per statement, row images 'changed') made while the trail is stopped; then"
	echo "\`trail.start_logging\` and the wait until \`trail.delivered_files\` lists every record as delivered."
	echo "Time = the last file's \`delivered_time\` minus the commit of start_logging (server clock);"
	echo "first file = the same for the first file. Worker CPU: user + system time of the delivery"
	echo "worker processes, sampled from /proc every 0.05 s (the CPU after a process's last sample is missed: meaningful only
for passes of seconds). Bytes: the .json.gz files in the bucket."
	echo
	echo "| round | records | files | backlog INSERTs s | time s | first file s | records/s | worker started s | worker to last file s | records/s of the worker | worker CPU s (processes) | records per CPU-s | gzip bytes/record | JSON bytes/record | ratio | distinct eventIDs |"
	echo "|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"
	for ((r = 1; r <= ROUNDS; r++)); do
		g() { val delivery "$r" "$1"; }
		echo "| $r | $(fmt "$(g records)" 0) | $(g files) | $(fmt "$(g backlog_s)" 1) | $(fmt "$(g seconds)" 2) | $(fmt "$(g first_file_s)" 2) | $(fmt "$(g records_per_s)" 0) | $(fmt "$(g worker_start_s)" 2) | $(fmt "$(g worker_seconds)" 2) | $(fmt "$(g records_per_worker_s)" 0) | $(fmt "$(g worker_cpu_s)" 2) ($(g worker_procs)) | $(fmt "$(g records_per_cpu_s)" 0) | $(fmt "$(g compressed_per_record)" 1) | $(fmt "$(g uncompressed_per_record)" 1) | $(div "$(g uncompressed_bytes)" "$(g compressed_bytes)" 1) | $(fmt "$(g distinct_event_ids)" 0) |"
	done
	echo
	echo "time s, first file s, worker started s: from the commit of start_logging; worker: the delivery worker"
	echo "process that used the most CPU (its start from /proc/<pid>/stat), up to the last file's delivered_time;"
	echo "worker CPU s: every delivery worker process seen (processes), user + system. A worker may start a few ms"
	echo "before start_logging commits (negative start) and still see the trail logging: it reads the trail after its start."
	echo
	echo "- records/s, median (min–max) over $ROUNDS rounds: **$(mm delivery records_per_s 0)** from start_logging, $(mm delivery records_per_worker_s 0) from the worker's start;"
	echo "  per worker CPU-second: $(mm delivery records_per_cpu_s 0)"
	echo "- goal: at least 100,000 records per second per core; one worker process delivers, so its wall-clock rate is the rate"
	echo "  of one core: $(fmt "$GOAL_RPS" 0) records/s $GOAL_WHAT, $(verdict "$GOAL_RPS" ">=" 100000)"
	echo "  (from start_logging, with the wait for the next pass: $(verdict "$RPS" ">=" 100000); per worker CPU-second: $(verdict "$RPCPU" ">=" 100000))"
	echo "- time from start_logging to the first file: $(mm delivery first_file_s 2) s, to the last: $(mm delivery seconds 2) s"
	echo

	echo "## 2. Baselines on the same bytes"
	echo
	if [[ -n $UNCOMP && -n $RECORDS ]]; then
		echo "The last round's $(fmt "$RECORDS" 0) records: $(fmt "$UNCOMP" 0) bytes of JSON, $(fmt "$COMP" 0) bytes in"
		echo "$(val delivery "$LAST" files_on_disk) .json.gz files ($BPR bytes/record uncompressed). Each command $BASE_ROUNDS times,"
		echo "interleaved, from the page cache, output to /dev/null; MB = 10^6 bytes, of uncompressed JSON except"
		echo "for sha256sum of the .json.gz files (compressed bytes). Equivalent records/s = MB/s ÷ bytes per record"
		echo "(of the bytes that command reads). trail ÷ baseline: trail's median delivery records/s $GOAL_WHAT ($(fmt "$GOAL_RPS" 0)) over it."
		echo
		echo "| baseline | s, median (min–max) | MB/s, median (min–max) | equivalent records/s | trail delivery ÷ baseline |"
		echo "|---|--:|--:|--:|--:|"
		for k in "${BASELINES[@]}"; do
			bytes=$UNCOMP
			[[ $k == sha256gz ]] && bytes=$COMP
			read -r ms mlo mhi _ < <(speed base "$k" "$bytes") || true
			eq=$(awk -v s="$(med base "$k" | cut -d' ' -f1)" -v n="$RECORDS" 'BEGIN { if (s > 0) printf "%.0f", n / s }')
			echo "| ${BASE_DESC[$k]} | $(mm base "$k" 3) | ${ms:-–} (${mlo:-}–${mhi:-}) | $(fmt "$eq" 0) | $(div "$GOAL_RPS" "$eq" 2) |"
		done
	else
		echo "Not measured (no delivered files)."
	fi
	echo

	echo "## 3. Validation throughput"
	echo
	if ((${#VALIDATORS[@]} > 0)); then
		echo "The last round's trail, stopped so that its final digest lists every log file: $(val valid 0 digests) digest(s),"
		echo "$(val delivery "$LAST" files_on_disk) log files, $(fmt "$UNCOMP" 0) bytes uncompressed ($(fmt "$COMP" 0) compressed)."
		echo "\`trail.validate_logs('bench', now() - interval '1 day')\`: server clock in one session, its rows counted in the server;"
		echo "\`trail-validate --trail bench --public-key <DER> <bucket dir>\`: wall clock. $BASE_ROUNDS times each, interleaved"
		echo "with each other (after the baselines, so the files are in the page cache). MB/s over the bytes of the log files."
		echo
		sha=$(speed base sha256 "$UNCOMP" | cut -d' ' -f1)
		zsha=$(speed base zcatsha256 "$UNCOMP" | cut -d' ' -f1)
		shagz=$(speed base sha256gz "$COMP" | cut -d' ' -f1)
		ossl=$(speed base openssl "$UNCOMP" | cut -d' ' -f1)
		echo "| validator | s, median (min–max) | MB/s uncompressed (min–max) | MB/s compressed | × sha256sum of the JSON ($sha MB/s) | × openssl sha256 ($ossl MB/s) | × zcat \\| sha256sum ($zsha MB/s) | × sha256sum of the .json.gz ($shagz MB/s, compressed) | goal ≥ 0.5 × sha256sum |"
		echo "|---|--:|--:|--:|--:|--:|--:|--:|---|"
		for v in "${VALIDATORS[@]}"; do
			read -r ms mlo mhi _ < <(speed valid "$v" "$UNCOMP") || true
			read -r cs _ _ _ < <(speed valid "$v" "$COMP") || true
			name=$([[ $v == sql ]] && echo "trail.validate_logs (SQL)" || echo "trail-validate (offline)")
			rt=$(div "${ms:-}" "$sha" 2)
			echo "| $name | $(mm valid "$v" 3) | ${ms:-–} (${mlo:-}–${mhi:-}) | ${cs:-–} | $rt | $(div "${ms:-}" "$ossl" 2) | $(div "${ms:-}" "$zsha" 2) | $(div "${cs:-}" "$shagz" 3) | $(verdict "$rt" ">=" 0.5) |"
		done
		echo
		echo "What the validators reported (each distinct answer once):"
		echo
		sort -u "$W/valid.summary" | sed 's/^sql|/- validate_logs summary: /; s/^offline|/- trail-validate: /'
		echo
		echo "The goal is read as validation MB/s over the uncompressed bytes it hashes against \`sha256sum\` over those"
		echo "same bytes; validation must also decompress them, which \`zcat | sha256sum\` shows the cost of."
	else
		echo "Not measured (no delivered files, or no final digest)."
	fi
	echo

	echo "## 4. Event-to-file latency"
	echo
	if ((M > 0)); then
		echo "trail.delivery_interval = $(val lat 0 delivery_interval); $M events \`CREATE TABLE lat_<i> (a int)\`, each in its own session,"
		echo "spaced by random waits uniform in [0, $((2 * D))] s; commit = \`clock_timestamp()\` right after the commit; file seen ="
		echo "when a poller listing the bucket every 0.1 s first saw the log file whose records name \`lat_<i>\`;"
		echo "server = that file's \`delivered_time\` in \`trail.delivered_files\`."
		echo
		LAT_MED=$(awk '$1 == "lat" && $3 == "latency" { print $4 }' "$RES" | pct 0.5)
		LAT_P90=$(awk '$1 == "lat" && $3 == "latency" { print $4 }' "$RES" | pct 0.9)
		LAT_MAX=$(awk '$1 == "lat" && $3 == "latency" { print $4 }' "$RES" | pct 1)
		SLAT_MED=$(awk '$1 == "lat" && $3 == "latency_server" { print $4 }' "$RES" | pct 0.5)
		SLAT_P90=$(awk '$1 == "lat" && $3 == "latency_server" { print $4 }' "$RES" | pct 0.9)
		SLAT_MAX=$(awk '$1 == "lat" && $3 == "latency_server" { print $4 }' "$RES" | pct 1)
		NLAT=$(awk '$1 == "lat" && $3 == "latency" { n++ } END { print n + 0 }' "$RES")
		echo "| latency s | median | p90 | max | events |"
		echo "|---|--:|--:|--:|--:|"
		echo "| commit → file seen in the bucket | $(fmt "$LAT_MED" 2) | $(fmt "$LAT_P90" 2) | $(fmt "$LAT_MAX" 2) | $NLAT of $M |"
		echo "| commit → delivered_time (server) | $(fmt "$SLAT_MED" 2) | $(fmt "$SLAT_P90" 2) | $(fmt "$SLAT_MAX" 2) | |"
		echo
		echo "- goal: at most the delivery interval + 5 s = $((D + 5)) s: max $(verdict "$LAT_MAX" "<=" $((D + 5))), p90 $(verdict "$LAT_P90" "<=" $((D + 5)))"
		echo
		echo "<details><summary>each event</summary>"
		echo
		echo "| event | committed | file seen | latency s | server latency s | file |"
		echo "|--:|---|---|--:|--:|---|"
		for ((i = 1; i <= M; i++)); do
			c=$(val lat "$i" commit)
			[[ -n $c ]] || { echo "| lat_$i | | not delivered | | | |"; continue; }
			echo "| lat_$i | $(date -d "@$c" +%T.%3N) | $(date -d "@$(val lat "$i" seen)" +%T.%3N) | $(val lat "$i" latency) | $(val lat "$i" latency_server) | $(val lat "$i" file) |"
		done
		echo
		echo "</details>"
	else
		echo "Not measured (M=0)."
	fi
	echo
	echo "## Goals (from the issue)"
	echo
	echo "- delivery of at least 100,000 records per second per core: $(fmt "$GOAL_RPS" 0) records/s $GOAL_WHAT, $(verdict "$GOAL_RPS" ">=" 100000)"
	for v in "${VALIDATORS[@]}"; do
		ms=$(speed valid "$v" "$UNCOMP" | cut -d' ' -f1)
		echo "- validation at least half the speed of sha256sum on the same bytes ($([[ $v == sql ]] && echo validate_logs || echo trail-validate)): $ms MB/s vs $(speed base sha256 "$UNCOMP" | cut -d' ' -f1) MB/s = × $(div "$ms" "$(speed base sha256 "$UNCOMP" | cut -d' ' -f1)" 2), $(verdict "$(div "$ms" "$(speed base sha256 "$UNCOMP" | cut -d' ' -f1)" 2)" ">=" 0.5)"
	done
	((M > 0)) && echo "- event-to-file latency at most the delivery interval + 5 s ($((D + 5)) s): max $(fmt "${LAT_MAX:-}" 2) s, $(verdict "${LAT_MAX:-}" "<=" $((D + 5)))"
	echo
	echo "## Every value, in run order"
	echo
	echo '```'
	echo "phase round metric value"
	cat "$RES"
	echo '```'
} >"$REPORT"

cat "$REPORT"
log "report written to $REPORT"
