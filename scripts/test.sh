#!/usr/bin/env bash
# Runs every check CI runs: go vet, golangci-lint (gosec included), the unit
# tests, the system tests, a short fuzz pass and govulncheck, with the
# toolchain of scripts/goenv.sh.
#
# Two layers of tests: `go test ./...` is the unit layer (seconds per
# package); the system tests build with tags: e2e (the e2e package: mngr and
# azsim binaries, journeys, crash matrices, release cross-build, start-up
# benchmarks) and azsim (internal/provider/azure's tests against a served
# azsim). Vet and lint read the tagged files too.
#
# It first runs scripts/setup.sh (packages, dockerd, golangci-lint, images,
# the agent CLIs): on a bare Debian 12 machine this one command does
# everything. A test whose prerequisite is missing then FAILS
# (MNGR_TEST_REQUIRE_ALL=1); MNGR_TEST_ALLOW_SKIP=1 is the explicit opt-out
# (e.g. a laptop without docker): such tests skip, and the summary at the end
# says how many and why.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/goenv.sh
. scripts/goenv.sh
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

skip_log=$(mktemp /tmp/mngr-test-skips.XXXXXX)
export MNGR_TEST_SKIP_LOG="$skip_log"
summary() {
  status=$?
  n=$(wc -l <"$skip_log")
  if [ "$n" -gt 0 ]; then
    echo "== $n test(s) skipped or failed for a missing prerequisite:" >&2
    sed 's/^/   /' "$skip_log" | sort | uniq -c | sort -rn | head -20 >&2
  else
    echo "== no test skipped for a missing prerequisite" >&2
  fi
  rm -f "$skip_log"
  exit "$status"
}
trap summary EXIT

if [ "${MNGR_TEST_ALLOW_SKIP:-0}" = 1 ]; then
  echo "== set-up (MNGR_TEST_ALLOW_SKIP=1: a failed set-up step lets its tests skip)" >&2
  MNGR_SETUP_LINT=1 scripts/setup.sh || echo "set-up failed; tests that need it will skip" >&2
else
  echo "== set-up (scripts/setup.sh)" >&2
  MNGR_SETUP_LINT=1 scripts/setup.sh
  export MNGR_TEST_REQUIRE_ALL=1
fi

system_tags="e2e azsim"

echo "== go vet" >&2
go vet ./...
go vet -tags "$system_tags" ./...

echo "== golangci-lint" >&2
lint=""
if command -v golangci-lint >/dev/null 2>&1; then
  lint=golangci-lint
elif [ -x "$(go env GOPATH)/bin/golangci-lint" ]; then
  lint="$(go env GOPATH)/bin/golangci-lint"
fi
if [ -n "$lint" ]; then
  # With the tags every file is read: the untagged ones and the tagged ones.
  "$lint" run --build-tags "${system_tags// /,}" ./...
else
  echo "golangci-lint not found; install it with:" >&2
  echo "  go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0" >&2
  exit 1
fi

# The simulated-VM images let the docker-backed tests run: azsim's machines,
# the host layer on a real VM and the Azure journey.
mngr_load_images || [ "${MNGR_TEST_ALLOW_SKIP:-0}" = 1 ]

echo "== go test (unit layer)" >&2
go test -timeout 45m ./...

echo "== go test (system tests: -tags '$system_tags')" >&2
# The journeys on simulated VMs mostly wait (boot, cloud-init, image load),
# so up to three run side by side (t.Parallel); the timed tests run alone first.
go test -timeout 45m -parallel 3 -tags "$system_tags" ./e2e/... ./internal/provider/azure/...

# Every fuzz target, briefly: the committed corpora replay as part of go test
# above; this also mutates for a few seconds per target (scripts/fuzz.sh N
# runs longer). Each target is a separate instrumented build, so on a loaded
# machine this step takes minutes; MNGR_FUZZ_SECONDS=0 skips it.
if [ "${MNGR_FUZZ_SECONDS:-3}" != 0 ]; then
  echo "== fuzz (${MNGR_FUZZ_SECONDS:-3}s per target)" >&2
  scripts/fuzz.sh "${MNGR_FUZZ_SECONDS:-3}"
fi

# govulncheck over every package, against a database built from the
# golang.org/x/vulndb module (scripts/vulncheck.sh); MNGR_GOVULNCHECK=0 skips.
if [ "${MNGR_GOVULNCHECK:-1}" != 0 ]; then
  echo "== govulncheck" >&2
  scripts/vulncheck.sh
fi
