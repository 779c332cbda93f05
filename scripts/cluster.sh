# shellcheck shell=bash
# scripts/cluster.sh: helpers to run a private PostgreSQL 15 cluster for trail.
#
# A bash library: source it, do not run it.  Used by scripts/sandbox.sh (the
# ./sandbox cluster) and scripts/test.sh (throwaway clusters).
#
# A cluster lives in one directory DIR:
#   DIR/data        the data directory
#   DIR/sock        the unix socket directory (the only way in: listen_addresses = '')
#   DIR/server.log  the server log
# The server runs as the OS user `postgres` when we are root (PostgreSQL
# refuses to run as root), and as the current user otherwise.  The database
# superuser is always called `postgres`.
#
#   cluster_create DIR PORT [SETTING ...]  initdb + config; each SETTING is one
#                                          postgresql.conf line, e.g. "fsync = off"
#   cluster_start DIR / cluster_stop DIR [MODE] / cluster_restart DIR
#   cluster_is_running DIR                 status 0 when a server runs on DIR/data
#   cluster_is_valid DIR                   status 0 when DIR holds a cluster we made
#   cluster_env DIR                        export PGHOST, PGPORT, PGUSER for psql
#   cluster_port DIR                       print the port
#   cluster_psql DIR [psql args ...]       psql as the superuser (no .psqlrc)
#   as_server CMD ...                      run CMD as the server OS user

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}

# Written into postgresql.conf; marks a cluster as one of ours.
CLUSTER_CONF_MARKER='# --- trail: settings added by scripts/cluster.sh ---'

# The OS user the server runs as.
cluster_server_user() {
	if [[ $EUID -eq 0 ]]; then
		echo postgres
	else
		id -un
	fi
}

# Run a command as the server OS user.  As root it runs from / so that the
# command never depends on being able to read root's current directory; all
# paths given to it must therefore be absolute.
as_server() {
	if [[ $EUID -eq 0 ]]; then
		(cd / && runuser -u postgres -- "$@")
	else
		"$@"
	fi
}

_cluster_die() {
	echo "cluster.sh: $*" >&2
	return 1
}

# Absolute, normalised path of a directory that may not exist yet.
_cluster_abs() {
	local d=$1
	[[ $d == /* ]] || d="$PWD/$d"
	realpath -m -- "$d"
}

cluster_create() {
	local dir port setting
	dir=$(_cluster_abs "${1:?cluster_create: DIR missing}")
	port=${2:?cluster_create: PORT missing}
	shift 2

	# A unix socket path is limited to 107 bytes.
	local sock="$dir/sock/.s.PGSQL.$port"
	if ((${#sock} > 107)); then
		_cluster_die "socket path $sock is too long (${#sock} > 107 bytes); use a shorter directory"
		return 1
	fi
	if [[ -e $dir/data ]]; then
		_cluster_die "$dir/data already exists"
		return 1
	fi

	mkdir -p "$dir/data" "$dir/sock"
	chmod 700 "$dir/data"
	if [[ $EUID -eq 0 ]]; then
		chown -R postgres: "$dir"
		# The server user must be able to reach the directory through its parents.
		if ! runuser -u postgres -- test -w "$dir/data"; then
			_cluster_die "the postgres OS user cannot write $dir/data (is a parent directory closed to it?)"
			return 1
		fi
	fi

	as_server "$PG_BIN/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 \
		--locale=C.UTF-8 --no-sync >"$dir/initdb.log" 2>&1 || {
		cat "$dir/initdb.log" >&2
		_cluster_die "initdb failed for $dir/data"
		return 1
	}

	{
		echo
		echo "$CLUSTER_CONF_MARKER"
		echo "listen_addresses = ''"
		echo "unix_socket_directories = '$dir/sock'"
		echo "port = $port"
		echo "shared_preload_libraries = 'trail'"
		for setting in "$@"; do
			echo "$setting"
		done
	} | as_server tee -a "$dir/data/postgresql.conf" >/dev/null
}

cluster_is_valid() {
	local dir
	dir=$(_cluster_abs "${1:?}")
	[[ -f $dir/data/PG_VERSION && $(cat "$dir/data/PG_VERSION") == 15 ]] || return 1
	[[ -d $dir/sock ]] || return 1
	grep -qxF "$CLUSTER_CONF_MARKER" "$dir/data/postgresql.conf" 2>/dev/null || return 1
	[[ -n $(cluster_port "$dir") ]] || return 1
	# As root, the data directory must belong to the server user.
	if [[ $EUID -eq 0 && $(stat -c %U "$dir/data") != postgres ]]; then
		return 1
	fi
	return 0
}

cluster_port() {
	local dir
	dir=$(_cluster_abs "${1:?}")
	sed -n 's/^port = \([0-9][0-9]*\).*/\1/p' "$dir/data/postgresql.conf" 2>/dev/null | tail -n 1
}

cluster_is_running() {
	local dir
	dir=$(_cluster_abs "${1:?}")
	[[ -d $dir/data ]] || return 1
	as_server "$PG_BIN/pg_ctl" -D "$dir/data" status >/dev/null 2>&1
}

_cluster_log_tail() {
	echo "---- last lines of $1/server.log ----" >&2
	tail -n 30 "$1/server.log" >&2 2>/dev/null || true
	echo "----" >&2
}

cluster_start() {
	local dir
	dir=$(_cluster_abs "${1:?}")
	if ! as_server "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null; then
		_cluster_log_tail "$dir"
		_cluster_die "could not start the server in $dir/data"
		return 1
	fi
}

# cluster_stop DIR [fast|immediate|smart]; no error when it is not running.
cluster_stop() {
	local dir mode=${2:-fast}
	dir=$(_cluster_abs "${1:?}")
	cluster_is_running "$dir" || return 0
	as_server "$PG_BIN/pg_ctl" -D "$dir/data" -m "$mode" -w -t 60 stop >/dev/null
}

cluster_restart() {
	local dir
	dir=$(_cluster_abs "${1:?}")
	if ! cluster_is_running "$dir"; then
		cluster_start "$dir"
		return
	fi
	if ! as_server "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -m fast -w -t 60 restart >/dev/null; then
		_cluster_log_tail "$dir"
		_cluster_die "could not restart the server in $dir/data"
		return 1
	fi
}

cluster_env() {
	local dir
	dir=$(_cluster_abs "${1:?}")
	PGHOST="$dir/sock"
	PGPORT=$(cluster_port "$dir")
	PGUSER=postgres
	export PGHOST PGPORT PGUSER
	unset PGDATABASE PGPASSWORD PGSERVICE PGOPTIONS
}

cluster_psql() {
	local dir
	dir=$(_cluster_abs "${1:?}")
	shift
	"$PG_BIN/psql" -X -h "$dir/sock" -p "$(cluster_port "$dir")" -U postgres "$@"
}
