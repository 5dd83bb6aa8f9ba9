#!/usr/bin/env bash
# test.sh — the whole test suite against real PostgreSQL and Redis
# (scripts/services.sh starts them if needed and leaves them running).
# Extra arguments go to `go test`, e.g. scripts/test.sh -run TestExchange -v
set -euo pipefail

ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"

say() { printf 'test: %s\n' "$*" >&2; }

if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
	PATH=/usr/local/go/bin:$PATH
fi
command -v go >/dev/null 2>&1 || { say "error: go is not installed (need Go 1.26)"; exit 1; }
go version

scripts/services.sh start
eval "$(scripts/services.sh env)"

# The page tests drive a real headless Chromium (internal/browsertest).
# Install Debian's package when it is missing and we may, as services.sh
# does for PostgreSQL and Redis; otherwise those tests say how to.
if [ -z "${GOVX_CHROMIUM:-}" ] && [ ! -x /usr/bin/chromium ]; then
	if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
		say "chromium is not installed; installing it for the browser tests"
		apt-get update -q </dev/null >&2
		# A CJK font, or the screenshots show boxes for every Chinese character.
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium fonts-wqy-microhei </dev/null >&2
	else
		say "warning: no /usr/bin/chromium; the browser tests will fail (apt-get install chromium, or set GOVX_CHROMIUM)"
	fi
fi
export GOVX_ARTIFACTS=${GOVX_ARTIFACTS:-$ROOT/.govx/artifacts}

say "go vet ./..."
go vet ./...

# The race detector needs cgo and a C compiler; use it wherever there is one.
race=()
if [ "$(go env CGO_ENABLED)" = 1 ] && command -v "$(go env CC)" >/dev/null 2>&1; then
	race=(-race)
fi
say "go test ${race[*]} -count=1 -timeout 20m ./... $*"
go test "${race[@]}" -count=1 -timeout 20m ./... "$@" || {
	say "tests failed; browser screenshots are in $GOVX_ARTIFACTS/<test name>/"
	exit 1
}
say "all tests passed"
say "browser screenshots are in $GOVX_ARTIFACTS/<test name>/"
