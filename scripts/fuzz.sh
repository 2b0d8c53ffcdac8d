#!/usr/bin/env bash
# Runs every fuzz target in the module for N seconds each (default 10):
#   scripts/fuzz.sh [SECONDS]
# Targets are discovered per package with `go test -list 'Fuzz.*'`; a target's
# committed corpus (testdata/fuzz/FuzzX/) is always replayed first, and new
# crashers are written there by `go test`. Set MNGR_FUZZ_PARALLEL to limit the
# fuzzing workers (default 1: the machines this runs on are small).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/goenv.sh
. scripts/goenv.sh

secs="${1:-${MNGR_FUZZ_SECONDS:-10}}"
case "$secs" in
  ''|*[!0-9]*) echo "usage: scripts/fuzz.sh [SECONDS]" >&2; exit 2 ;;
esac
parallel="${MNGR_FUZZ_PARALLEL:-1}"

failed=0
count=0
for pkg in $(go list ./...); do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  # Only packages with a _test.go that declares a fuzz target.
  if ! grep -qs '^func Fuzz' "$dir"/*_test.go; then
    continue
  fi
  for target in $(go test "$pkg" -run '^$' -list '^Fuzz' | grep '^Fuzz' || true); do
    count=$((count + 1))
    echo "== fuzz $pkg $target (${secs}s)" >&2
    if ! go test "$pkg" -run '^$' -fuzz "^${target}\$" -fuzztime "${secs}s" -parallel "$parallel"; then
      echo "FAIL: $pkg $target (a crasher is in $dir/testdata/fuzz/$target/)" >&2
      failed=$((failed + 1))
    fi
  done
done
if [ "$count" -eq 0 ]; then
  echo "no fuzz targets found" >&2
  exit 1
fi
echo "== fuzzed $count targets, $failed failed" >&2
[ "$failed" -eq 0 ]
