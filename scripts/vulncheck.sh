#!/usr/bin/env bash
# Runs govulncheck over every package of mngr against the Go vulnerability
# database. vuln.go.dev is not reachable from every build box, so by default
# the database is built here from the golang.org/x/vulndb module (its
# data/osv reports), which the Go module proxy serves like any module, and
# cached by its version. MNGR_VULNDB=https://vuln.go.dev (or any database
# URL) uses that instead. Exit status: govulncheck's (3 = findings).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/goenv.sh
. scripts/goenv.sh

govulncheck_version=v1.9.0
# A snapshot of the reports (2026-11-05); raise it to take newer reports.
vulndb_version="${MNGR_VULNDB_VERSION:-v0.0.0-20261105234957-e22db6528018}"

db="${MNGR_VULNDB:-}"
if [ -z "$db" ]; then
  cache="${XDG_CACHE_HOME:-$HOME/.cache}/mngr-vulndb/$vulndb_version"
  if [ ! -f "$cache/index/db.json" ]; then
    echo "vulncheck: building the vulnerability database from golang.org/x/vulndb@$vulndb_version" >&2
    src=$(go mod download -json "golang.org/x/vulndb@$vulndb_version" | jq -r .Dir)
    if [ ! -d "$src/data/osv" ]; then
      echo "vulncheck: golang.org/x/vulndb@$vulndb_version has no data/osv" >&2
      exit 1
    fi
    tmp="$cache.tmp.$$"
    rm -rf "$tmp" && mkdir -p "$(dirname "$cache")"
    # indexdb writes the v1 database layout govulncheck reads (index/db.json,
    # index/modules.json, index/vulns.json, ID/<id>.json).
    go run "golang.org/x/vulndb/cmd/indexdb@$vulndb_version" -vulns "$src/data/osv" -out "$tmp"
    rm -rf "$cache" && mv "$tmp" "$cache"
  fi
  db="file://$cache"
  echo "vulncheck: database $vulndb_version ($(find "$cache/ID" -name "*.json" | wc -l) reports), $(go env GOVERSION)" >&2
fi

bin="${XDG_CACHE_HOME:-$HOME/.cache}/mngr-vulndb/bin/$(go env GOVERSION)"
if [ ! -x "$bin/govulncheck-$govulncheck_version" ]; then
  mkdir -p "$bin"
  GOBIN="$bin" go install "golang.org/x/vuln/cmd/govulncheck@$govulncheck_version"
  mv "$bin/govulncheck" "$bin/govulncheck-$govulncheck_version"
fi
exec "$bin/govulncheck-$govulncheck_version" -db "$db" ./...
