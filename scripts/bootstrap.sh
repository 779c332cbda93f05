#!/usr/bin/env bash
# scripts/bootstrap.sh: get this machine ready to build, run and test trail.
#
# Idempotent; run by `make bootstrap`, `make sandbox` and `make test`.
#   1. installs the Debian packages that are missing (none missing: no apt at all)
#   2. makes sure the `postgres` OS user exists (as root; the server runs as it)
#   3. builds trail and installs it into PostgreSQL 15
# As non-root it uses `sudo -n` where root is needed, or says what to run.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config

PACKAGES=(
	make gcc libssl-dev zlib1g-dev libdeflate-dev
	postgresql-15 postgresql-client-15 postgresql-server-dev-15
	postgresql-15-pgtap libtap-parser-sourcehandler-pgtap-perl libipc-run-perl
	postgresql-15-pgaudit
	# test/system/012 runs a server under libfaketime to step its clock back
	libfaketime
	# The server headers' libpq/libpq-be.h includes <gssapi/gssapi.h> (PostgreSQL
	# is built with GSSAPI); postgresql-server-dev-15 does not pull it in.
	libkrb5-dev
)

say() { echo "bootstrap: $*"; }
die() {
	echo "bootstrap: $*" >&2
	exit 1
}

# How to run a command as root: directly, through passwordless sudo, or not at all.
if [[ $EUID -eq 0 ]]; then
	AS_ROOT=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
	AS_ROOT=(sudo -n)
else
	AS_ROOT=(none)
fi
can_be_root() { [[ ${AS_ROOT[0]-} != none ]]; }
as_root() { "${AS_ROOT[@]}" "$@"; }

# --- 1. packages -------------------------------------------------------------
missing=()
for pkg in "${PACKAGES[@]}"; do
	status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null || true)
	[[ $status == ii* ]] || missing+=("$pkg")
done

if ((${#missing[@]} > 0)); then
	apt_cmd=(env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends
		-o DPkg::Lock::Timeout=600 "${missing[@]}")
	if ! can_be_root; then
		echo "bootstrap: missing packages: ${missing[*]}" >&2
		echo "bootstrap: run as root, then run this again:" >&2
		echo "  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends -o DPkg::Lock::Timeout=600 ${missing[*]}" >&2
		exit 1
	fi
	say "installing missing packages: ${missing[*]}"
	as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 update
	as_root "${apt_cmd[@]}"
else
	say "all ${#PACKAGES[@]} packages present"
fi

# --- 2. the server's OS user -------------------------------------------------
if [[ $EUID -eq 0 ]]; then
	if ! id -u postgres >/dev/null 2>&1; then
		say "creating the postgres OS user"
		useradd --system --home-dir /var/lib/postgresql --create-home --shell /bin/bash postgres
	fi
fi

# --- 3. build and install ----------------------------------------------------
cd "$ROOT"
say "building trail"
make -s PG_CONFIG="$PG_CONFIG"

pkglibdir=$("$PG_CONFIG" --pkglibdir)
extdir="$("$PG_CONFIG" --sharedir)/extension"
# Is the build already installed, byte for byte?
installed_is_current() {
	local f
	cmp -s trail.so "$pkglibdir/trail.so" || return 1
	cmp -s trail-validate "$("$PG_CONFIG" --bindir)/trail-validate" || return 1
	for f in trail.control trail--*.sql; do
		cmp -s "$f" "$extdir/$f" || return 1
	done
}

say "installing trail into $pkglibdir and $extdir"
if [[ $EUID -ne 0 ]] && installed_is_current; then
	say "the installed trail is already this build"
elif [[ $EUID -eq 0 ]] || [[ -w $pkglibdir && -w $extdir ]]; then
	make -s install PG_CONFIG="$PG_CONFIG"
elif can_be_root; then
	as_root make -s install PG_CONFIG="$PG_CONFIG"
else
	die "installing needs root and passwordless sudo is not available; run as root:
  make -C '$ROOT' install PG_CONFIG=$PG_CONFIG"
fi
say "done"
