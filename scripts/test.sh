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
# Tests that need docker or az skip themselves when those are missing.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/goenv.sh
. scripts/goenv.sh

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

# The simulated-VM images (scripts/images.sh) let the docker-backed tests run:
# azsim's machines, the host layer on a real VM and the Azure journey.
images_env="${MNGR_IMAGES_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mngr-images}/images.env"
if [ -f "$images_env" ]; then
  set -a
  # shellcheck disable=SC1090
  . "$images_env"
  set +a
  export MNGR_TEST_VM_IMAGE="$MNGR_AZSIM_VM_IMAGE" MNGR_TEST_AGENT_TAR="$MNGR_AGENT_IMAGE_TAR"
else
  echo "note: no $images_env; docker-backed tests will skip (build images with scripts/images.sh)" >&2
fi

echo "== go test (unit layer)" >&2
go test -timeout 45m ./...

echo "== go test (system tests: -tags '$system_tags')" >&2
go test -timeout 45m -tags "$system_tags" ./e2e/... ./internal/provider/azure/...

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
