#!/usr/bin/env bash
# Runs every check CI runs: go vet, golangci-lint and the whole test suite.
# Tests that need docker or az skip themselves when those are missing.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== go vet" >&2
go vet ./...

echo "== golangci-lint" >&2
if command -v golangci-lint >/dev/null 2>&1; then
  golangci-lint run ./...
elif [ -x "$(go env GOPATH)/bin/golangci-lint" ]; then
  "$(go env GOPATH)/bin/golangci-lint" run ./...
else
  echo "golangci-lint not found; install it with:" >&2
  echo "  go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0" >&2
  exit 1
fi

echo "== go test" >&2
go test -timeout 45m ./...
