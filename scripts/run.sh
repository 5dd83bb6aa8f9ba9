#!/usr/bin/env bash
# run.sh — everything govx needs, on this machine, in the foreground:
# PostgreSQL and Redis (scripts/services.sh), then `govx up` (an embedded
# Kafka-protocol broker on 127.0.0.1:19092, migrations, demo data, the
# exchange API on 127.0.0.1:8080 and the population adapter). Extra
# arguments go to `govx up`.
#
# Ctrl-C reaches govx directly (same process group) and it shuts down by
# itself. Afterwards this script stops PostgreSQL and Redis, but only those it
# started; services that were already running are left running. It exits with
# govx's status.
set -euo pipefail

ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"
export GOVX_DATA=${GOVX_DATA:-$ROOT/.govx}
SERVICES=$ROOT/scripts/services.sh
BIN=$ROOT/.govx/bin/govx

say() { printf 'run: %s\n' "$*" >&2; }

if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
	PATH=/usr/local/go/bin:$PATH
fi
command -v go >/dev/null 2>&1 || { say "error: go is not installed (need Go 1.26)"; exit 1; }

# Which services this run starts, so that only those are stopped at the end.
started=()
"$SERVICES" status postgres >/dev/null 2>&1 || started+=(postgres)
"$SERVICES" status redis >/dev/null 2>&1 || started+=(redis)

# shellcheck disable=SC2317 # reached through the EXIT trap
cleanup() {
	local rc=$?
	trap - EXIT INT TERM HUP
	if [ "${#started[@]}" -gt 0 ]; then
		say "stopping ${started[*]} (started by this run)"
		"$SERVICES" stop "${started[@]}" || true
	fi
	exit "$rc"
}
trap cleanup EXIT
# A foreground command (services start, go build) killed by Ctrl-C fails, and
# set -e then runs cleanup; while govx runs, Ctrl-C is govx's to handle.
trap ':' INT

"$SERVICES" start
eval "$("$SERVICES" env)"

say "building $BIN"
mkdir -p "$(dirname "$BIN")"
go build -o "$BIN" ./cmd/govx

say "starting: govx up --data $GOVX_DATA $*"
# In the background so that a TERM/HUP sent to this script alone can be passed
# on; `trap - INT QUIT` undoes the SIGINT-ignore bash gives background jobs,
# so the terminal's Ctrl-C still reaches govx.
(
	trap - INT QUIT
	exec "$BIN" up --data "$GOVX_DATA" "$@"
) &
pid=$!
trap 'kill -TERM "$pid" 2>/dev/null || true' TERM HUP

while kill -0 "$pid" 2>/dev/null; do
	wait "$pid" || true # returns early when a trapped signal arrives
done
status=0
wait "$pid" || status=$?
say "govx exited with status $status"
exit "$status"
