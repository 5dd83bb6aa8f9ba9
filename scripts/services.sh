#!/usr/bin/env bash
# services.sh — the PostgreSQL and Redis that govx needs on one machine,
# without Docker. Kafka is not here: `govx up` runs an embedded broker itself.
#
#   scripts/services.sh start [postgres|redis]...   install if missing, init if missing, start if stopped
#   scripts/services.sh stop [postgres|redis]...    stop what is running
#   scripts/services.sh status [postgres|redis]...  exit 0 only if every named service answers
#   scripts/services.sh env                         print the export lines for the govx env vars
#   scripts/services.sh clean                       stop both and delete all local state (GOVX_DATA)
#
# Fixed contract (other code relies on it):
#   state folder   GOVX_DATA, default <repo>/.govx (ignored by git)
#   PostgreSQL 15  127.0.0.1:54329, data .govx/postgres, socket dir .govx/run,
#                  log .govx/postgres.log, trust auth (dev only), superuser
#                  postgres, database govx
#   Redis          127.0.0.1:63799, dir .govx/redis, appendonly
#
# Messages go to stderr, so `eval "$(scripts/services.sh env)"` stays clean.
# Safe to run from any directory, with no stdin, and concurrently (a lock
# serialises start/stop/clean).
set -euo pipefail

ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
GOVX_DATA=${GOVX_DATA:-$ROOT/.govx}
case $GOVX_DATA in /*) ;; *) GOVX_DATA=$PWD/$GOVX_DATA ;; esac

PG_MAJOR=15
PG_BIN=${GOVX_PG_BIN:-/usr/lib/postgresql/$PG_MAJOR/bin}
PG_PORT=54329
PG_HOST=127.0.0.1
REDIS_PORT=63799

POSTGRES_URL="postgres://postgres@$PG_HOST:$PG_PORT/govx?sslmode=disable"
REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
TEST_POSTGRES_URL="postgres://postgres@$PG_HOST:$PG_PORT/postgres?sslmode=disable"
TEST_REDIS_URL="redis://127.0.0.1:$REDIS_PORT/15"

REDIS_DIR=$GOVX_DATA/redis
REDIS_CONF=$GOVX_DATA/redis.conf
REDIS_PID=$GOVX_DATA/redis.pid
REDIS_LOG=$GOVX_DATA/redis.log

export DEBIAN_FRONTEND=noninteractive

say()  { printf 'services: %s\n' "$*" >&2; }
die()  { printf 'services: error: %s\n' "$*" >&2; exit 1; }

is_root() { [ "$(id -u)" -eq 0 ]; }

# PostgreSQL refuses to run as root. As root we run its server-side tools as
# the postgres OS user; as anyone else, as ourselves. `cd /` because the
# caller's cwd may not be readable by postgres.
as_pg() {
	if is_root; then
		(cd / && runuser -u postgres -- "$@")
	else
		(cd / && "$@")
	fi
}

# ---------------------------------------------------------------------------
# Where PostgreSQL lives. Normally under GOVX_DATA; if the postgres user cannot
# reach that folder (e.g. the checkout is under /root), out of tree under
# /var/lib/govx/<hash of the repo path>.
# ---------------------------------------------------------------------------
pg_paths() {
	PG_DATA=$GOVX_DATA/postgres
	PG_SOCK=$GOVX_DATA/run
	PG_LOG=$GOVX_DATA/postgres.log
	PG_OUT_OF_TREE=
	if is_root && id postgres >/dev/null 2>&1; then
		local probe=$GOVX_DATA
		[ -d "$probe" ] || probe=$ROOT
		if ! runuser -u postgres -- test -x "$probe" 2>/dev/null; then
			local hash
			hash=$(printf '%s' "$ROOT" | sha1sum | cut -c1-12)
			PG_OUT_OF_TREE=/var/lib/govx/$hash
			PG_DATA=$PG_OUT_OF_TREE/postgres
			PG_SOCK=$PG_OUT_OF_TREE/run
			PG_LOG=$PG_OUT_OF_TREE/postgres.log
		fi
	fi
}

# ---------------------------------------------------------------------------
# Installing (Debian/Ubuntu apt only; one `apt-get update` per run at most).
# ---------------------------------------------------------------------------
APT_UPDATED=
apt_install() {
	local sudo=
	if ! is_root; then
		command -v sudo >/dev/null 2>&1 || die "need root (or sudo) to install: $*"
		sudo="sudo -n"
	fi
	command -v apt-get >/dev/null 2>&1 || die "no apt-get here; install these yourself: $*"
	if [ -z "$APT_UPDATED" ]; then
		say "apt-get update"
		$sudo apt-get update -q </dev/null >&2 || return 1
		APT_UPDATED=1
	fi
	say "apt-get install -y $*"
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" </dev/null >&2
}

ensure_postgres_installed() {
	if [ -x "$PG_BIN/postgres" ] && [ -x "$PG_BIN/initdb" ] && [ -x "$PG_BIN/pg_ctl" ] &&
		[ -x "$PG_BIN/pg_isready" ] && [ -x "$PG_BIN/psql" ]; then
		return
	fi
	say "PostgreSQL $PG_MAJOR is not installed (no $PG_BIN/postgres); installing postgresql-$PG_MAJOR"
	apt_install "postgresql-$PG_MAJOR" || die "could not install postgresql-$PG_MAJOR"
	[ -x "$PG_BIN/postgres" ] || die "postgresql-$PG_MAJOR installed but $PG_BIN/postgres is missing"
	say "note: the package may have created a system cluster on port 5432; govx does not use it"
}

ensure_redis_installed() {
	command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1 && return
	say "Redis is not installed; installing redis-server"
	apt_install redis-server redis-tools || die "could not install redis-server"
}

# kcat is a convenience for poking at the bus; never fail because of it.
ensure_kcat_installed() {
	command -v kcat >/dev/null 2>&1 && return
	[ -e "$GOVX_DATA/.kcat-unavailable" ] && return
	say "kcat is not installed (optional); trying to install it"
	if ! apt_install kcat; then
		say "kcat could not be installed; carrying on without it"
		touch "$GOVX_DATA/.kcat-unavailable"
	fi
}

# ---------------------------------------------------------------------------
# PostgreSQL
# ---------------------------------------------------------------------------
pg_ready() { [ -x "$PG_BIN/pg_isready" ] && "$PG_BIN/pg_isready" -q -h "$PG_HOST" -p "$PG_PORT" -U postgres -d postgres -t 2 2>/dev/null; }

pg_psql() { "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_HOST" -p "$PG_PORT" -U postgres "$@"; }

pg_has_govx_db() {
	[ "$(pg_psql -d postgres -tAc "select 1 from pg_database where datname = 'govx'" 2>/dev/null)" = 1 ]
}

# Process $1 is alive (not a zombie) and its command name starts with $2.
pid_is() {
	local pid=$1 name=$2
	[[ $pid =~ ^[0-9]+$ ]] && [ -r "/proc/$pid/status" ] || return 1
	grep -q '^State:[[:space:]]*Z' "/proc/$pid/status" 2>/dev/null && return 1
	[[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$name"* ]]
}
is_postgres_pid() { pid_is "$1" postgres; }

# postgresql.conf value quoting: single quotes, doubled inside.
pg_quote() { printf "'%s'" "${1//\'/\'\'}"; }

pg_init() {
	if [ -d "$PG_DATA" ] && [ ! -f "$PG_DATA/PG_VERSION" ] && [ -n "$(ls -A "$PG_DATA" 2>/dev/null)" ]; then
		say "$PG_DATA holds a half-made cluster (no PG_VERSION, e.g. an interrupted initdb); removing it"
		rm -rf "$PG_DATA"
	fi
	if [ -f "$PG_DATA/PG_VERSION" ]; then
		local v
		v=$(cat "$PG_DATA/PG_VERSION")
		[ "$v" = "$PG_MAJOR" ] || die "$PG_DATA is a PostgreSQL $v cluster, need $PG_MAJOR; remove it (make clean) to start over"
		return
	fi
	say "initialising PostgreSQL $PG_MAJOR cluster in $PG_DATA"
	mkdir -p "$PG_DATA"
	if is_root; then chown postgres:postgres "$PG_DATA"; fi
	chmod 700 "$PG_DATA"
	local locale=C.UTF-8
	locale -a 2>/dev/null | grep -qixE 'c\.utf-?8' || locale=C
	as_pg "$PG_BIN/initdb" -D "$PG_DATA" -U postgres --encoding=UTF8 --locale="$locale" \
		--auth-local=trust --auth-host=trust >"$GOVX_DATA/initdb.log" 2>&1 || {
		tail -n 30 "$GOVX_DATA/initdb.log" >&2
		die "initdb failed (full output in $GOVX_DATA/initdb.log)"
	}
	# Our settings live in govx.conf, rewritten on every start so the paths
	# follow the checkout; postgresql.conf only includes it.
	printf '\n# govx: settings managed by scripts/services.sh\ninclude_if_exists = %s\n' "'govx.conf'" |
		as_pg tee -a "$PG_DATA/postgresql.conf" >/dev/null
	say "cluster initialised (trust auth for local and 127.0.0.1 connections, superuser postgres)"
}

pg_write_conf() {
	{
		echo "# Written by scripts/services.sh on every start; edit the script, not this file."
		echo "listen_addresses = '$PG_HOST'"
		echo "port = $PG_PORT"
		echo "unix_socket_directories = $(pg_quote "$PG_SOCK")"
		echo "max_connections = 200"
		echo "shared_buffers = 256MB"
		# Durability stays on: fsync and synchronous_commit keep their defaults.
	} | as_pg tee "$PG_DATA/govx.conf" >/dev/null
}

# A crash (kill -9, power loss, container restart) can leave postmaster.pid
# behind naming a PID that is now dead or belongs to another program.
pg_clear_stale_pid() {
	local pidfile=$PG_DATA/postmaster.pid pid
	[ -f "$pidfile" ] || return 0
	pid=$(head -n 1 "$pidfile" 2>/dev/null || true)
	if is_postgres_pid "$pid"; then
		return 0
	fi
	say "removing stale $pidfile (PID ${pid:-?} is not a running postgres)"
	rm -f "$pidfile"
	local lock=$PG_SOCK/.s.PGSQL.$PG_PORT.lock
	if [ -f "$lock" ] && ! is_postgres_pid "$(head -n 1 "$lock" 2>/dev/null || true)"; then
		rm -f "$lock" "$PG_SOCK/.s.PGSQL.$PG_PORT"
	fi
}

pg_wait_ready() {
	local i
	for ((i = 0; i < 120; i++)); do
		pg_ready && return 0
		sleep 0.5
	done
	return 1
}

pg_ensure_db() {
	pg_has_govx_db && return
	say "creating database govx"
	pg_psql -d postgres -c 'create database govx' >/dev/null 2>&1 || pg_has_govx_db ||
		die "could not create database govx"
}

pg_start() {
	ensure_postgres_installed
	if is_root && ! id postgres >/dev/null 2>&1; then
		die "no 'postgres' OS user to run the server as (it comes with postgresql-common)"
	fi
	pg_paths
	if pg_ready; then
		say "PostgreSQL already answers on $PG_HOST:$PG_PORT"
		pg_ensure_db
		return
	fi
	if [ -n "$PG_OUT_OF_TREE" ]; then
		say "the postgres user cannot reach $GOVX_DATA, so the cluster lives out of tree in $PG_OUT_OF_TREE"
		mkdir -p "$PG_OUT_OF_TREE"
		chmod 755 /var/lib/govx "$PG_OUT_OF_TREE"
	fi
	pg_init
	mkdir -p "$PG_SOCK"
	touch "$PG_LOG"
	if is_root; then
		chown postgres:postgres "$PG_SOCK" "$PG_LOG"
		# Ownership can be lost by copying the folder around; the server insists on it.
		[ "$(stat -c %U "$PG_DATA")" = postgres ] || chown -R postgres:postgres "$PG_DATA"
	fi
	chmod 700 "$PG_DATA"
	pg_write_conf

	local pid
	pid=$(head -n 1 "$PG_DATA/postmaster.pid" 2>/dev/null || true)
	if [ -f "$PG_DATA/postmaster.pid" ] && is_postgres_pid "$pid"; then
		say "PostgreSQL (PID $pid) is running but not answering yet; waiting"
	else
		pg_clear_stale_pid
		say "starting PostgreSQL on $PG_HOST:$PG_PORT (log: $PG_LOG)"
		# 9>&-: the server must not inherit (and so hold forever) our lock.
		if ! as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t 120 -s start >&2 9>&-; then
			tail -n 30 "$PG_LOG" >&2 || true
			die "PostgreSQL did not start (log: $PG_LOG)"
		fi
	fi
	pg_wait_ready || {
		tail -n 30 "$PG_LOG" >&2 || true
		die "PostgreSQL does not answer on $PG_HOST:$PG_PORT (log: $PG_LOG)"
	}
	say "PostgreSQL is ready"
	pg_ensure_db
}

# The cluster in PG_DATA is running (its postmaster.pid names a live postgres).
pg_running_here() {
	[ -f "$PG_DATA/postmaster.pid" ] && is_postgres_pid "$(head -n 1 "$PG_DATA/postmaster.pid" 2>/dev/null || true)"
}

pg_stop() {
	pg_paths
	if pg_running_here; then
		say "stopping PostgreSQL ($PG_DATA)"
		as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w -t 120 -s stop >&2 ||
			die "PostgreSQL did not stop (log: $PG_LOG)"
		say "PostgreSQL stopped"
	elif pg_ready; then
		say "something answers on $PG_HOST:$PG_PORT but it is not the cluster in $PG_DATA; leaving it alone"
	else
		say "PostgreSQL is not running"
	fi
}

pg_status() {
	pg_paths
	if pg_ready; then
		local dir
		dir=$(pg_psql -d postgres -tAc 'show data_directory' 2>/dev/null || echo '?')
		say "postgres: running on $PG_HOST:$PG_PORT, data $dir, log $PG_LOG"
		[ "$dir" = "$PG_DATA" ] || [ "$dir" = '?' ] || say "postgres: note: that is not this checkout's cluster ($PG_DATA)"
		if pg_has_govx_db; then say "postgres: database govx exists"; else say "postgres: database govx is missing (run start)"; fi
		return 0
	fi
	if [ ! -x "$PG_BIN/postgres" ]; then
		say "postgres: not installed ($PG_BIN)"
	elif [ ! -f "$PG_DATA/PG_VERSION" ]; then
		say "postgres: not initialised ($PG_DATA)"
	else
		say "postgres: stopped (data $PG_DATA)"
	fi
	return 3
}

# ---------------------------------------------------------------------------
# Redis
# ---------------------------------------------------------------------------
redis_ready() {
	command -v redis-cli >/dev/null 2>&1 &&
		[ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]
}

# redis.conf value quoting: double quotes, backslash escapes.
redis_quote() {
	local s=${1//\\/\\\\}
	printf '"%s"' "${s//\"/\\\"}"
}

redis_start() {
	ensure_redis_installed
	if redis_ready; then
		say "Redis already answers on 127.0.0.1:$REDIS_PORT"
		return
	fi
	mkdir -p "$REDIS_DIR"
	local pid
	pid=$(cat "$REDIS_PID" 2>/dev/null || true)
	if pid_is "$pid" redis-server; then
		say "Redis (PID $pid) is running but not answering yet (loading its data?); waiting"
	else
		[ -n "$pid" ] && rm -f "$REDIS_PID"
		{
			echo "# Written by scripts/services.sh on every start; edit the script, not this file."
			echo "bind 127.0.0.1"
			echo "port $REDIS_PORT"
			echo "daemonize yes"
			echo "dir $(redis_quote "$REDIS_DIR")"
			echo "pidfile $(redis_quote "$REDIS_PID")"
			echo "logfile $(redis_quote "$REDIS_LOG")"
			echo "appendonly yes"
			echo "databases 16"
		} >"$REDIS_CONF"
		say "starting Redis on 127.0.0.1:$REDIS_PORT (log: $REDIS_LOG)"
		redis-server "$REDIS_CONF" </dev/null >&2 9>&- || {
			tail -n 20 "$REDIS_LOG" >&2 || true
			die "Redis did not start (log: $REDIS_LOG)"
		}
	fi
	local i
	for ((i = 0; i < 120; i++)); do
		redis_ready && { say "Redis is ready"; return; }
		sleep 0.5
	done
	tail -n 20 "$REDIS_LOG" >&2 || true
	die "Redis does not answer on 127.0.0.1:$REDIS_PORT (log: $REDIS_LOG)"
}

redis_stop() {
	if ! redis_ready; then
		say "Redis is not running"
		return
	fi
	say "stopping Redis on 127.0.0.1:$REDIS_PORT"
	redis-cli -h 127.0.0.1 -p "$REDIS_PORT" shutdown >/dev/null 2>&1 || true
	local i
	for ((i = 0; i < 60; i++)); do
		redis_ready || { say "Redis stopped"; return; }
		sleep 0.5
	done
	die "Redis did not stop (log: $REDIS_LOG)"
}

redis_status() {
	if redis_ready; then
		say "redis: running on 127.0.0.1:$REDIS_PORT, dir $REDIS_DIR, log $REDIS_LOG"
		return 0
	fi
	if command -v redis-server >/dev/null 2>&1; then
		say "redis: stopped"
	else
		say "redis: not installed"
	fi
	return 3
}

# ---------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------
lock() {
	# 755 whatever the umask: the postgres user must be able to traverse it.
	if [ ! -d "$GOVX_DATA" ]; then
		mkdir -p "$GOVX_DATA"
		chmod 755 "$GOVX_DATA"
	fi
	exec 9>"$GOVX_DATA/.services.lock"
	if ! flock -n 9; then
		say "waiting for another services.sh to finish (lock $GOVX_DATA/.services.lock)"
		flock -w 300 9 || die "gave up waiting for $GOVX_DATA/.services.lock"
	fi
}

# Which services a command applies to: the arguments, or both.
pick() {
	WANT_PG='' WANT_REDIS=''
	[ $# -eq 0 ] && set -- postgres redis
	local s
	for s in "$@"; do
		case $s in
		postgres | postgresql | pg) WANT_PG=1 ;;
		redis) WANT_REDIS=1 ;;
		*) die "unknown service '$s' (postgres, redis)" ;;
		esac
	done
}

cmd_start() {
	pick "$@"
	# Fast path: everything already answers.
	if { [ -z "$WANT_PG" ] || { pg_ready && pg_has_govx_db; }; } &&
		{ [ -z "$WANT_REDIS" ] || redis_ready; }; then
		say "already running (postgres $PG_HOST:$PG_PORT, redis 127.0.0.1:$REDIS_PORT)"
		return
	fi
	lock
	if [ -n "$WANT_PG" ]; then pg_start; fi
	if [ -n "$WANT_REDIS" ]; then redis_start; fi
	ensure_kcat_installed
	say "ready: eval \"\$($ROOT/scripts/services.sh env)\" to use them"
}

cmd_stop() {
	pick "$@"
	lock
	if [ -n "$WANT_PG" ]; then pg_stop; fi
	if [ -n "$WANT_REDIS" ]; then redis_stop; fi
}

cmd_status() {
	pick "$@"
	local rc=0
	if [ -n "$WANT_PG" ]; then pg_status || rc=$?; fi
	if [ -n "$WANT_REDIS" ]; then redis_status || rc=$?; fi
	return "$rc"
}

cmd_env() {
	printf "export GOVX_POSTGRES_URL='%s'\n" "$POSTGRES_URL"
	printf "export GOVX_REDIS_URL='%s'\n" "$REDIS_URL"
	printf "export GOVX_TEST_POSTGRES_URL='%s'\n" "$TEST_POSTGRES_URL"
	printf "export GOVX_TEST_REDIS_URL='%s'\n" "$TEST_REDIS_URL"
}

cmd_clean() {
	cmd_stop
	pg_paths
	if [ -n "$PG_OUT_OF_TREE" ] && [ -d "$PG_OUT_OF_TREE" ]; then
		say "deleting $PG_OUT_OF_TREE (out-of-tree PostgreSQL cluster)"
		rm -rf "$PG_OUT_OF_TREE"
	fi
	if [ -d "$GOVX_DATA" ]; then
		say "deleting $GOVX_DATA (PostgreSQL and Redis data, embedded Kafka data, keys, built binary)"
		rm -rf "$GOVX_DATA"
	fi
}

usage() {
	sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case $cmd in
start) cmd_start "$@" ;;
stop) cmd_stop "$@" ;;
status) cmd_status "$@" ;;
env) cmd_env ;;
clean) cmd_clean ;;
-h | --help | help) usage ;;
*)
	usage
	exit 2
	;;
esac
