# mngr build, test and release packaging.
#
#   make build   # bin/mngr and bin/azsim for this machine
#   make test    # everything CI runs (scripts/test.sh)
#   make dist    # static release binaries + sha256sums in dist/
#
# Version stamps come from git; override with VERSION=… COMMIT=… DATE=….

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

GO      ?= go
# The toolchain scripts/goenv.sh names: its standard library has the fixes
# govulncheck asks for. GOTOOLCHAIN=local make … keeps the machine's Go.
export GOTOOLCHAIN ?= go1.27.3
CMDS    := mngr azsim
PLATFORMS := linux/amd64 linux/arm64 darwin/amd64 darwin/arm64

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
# The commit time (UTC), so rebuilding the same commit gives the same binary.
DATE    ?= $(shell TZ=UTC0 git log -1 --format=%cd --date=format-local:%Y-%m-%dT%H:%M:%SZ 2>/dev/null || echo unknown)

# azsim links no version variables; -X is a no-op for it.
LDFLAGS := -s -w \
	-X github.com/mngr-azure/mngr/internal/cli.Version=$(VERSION) \
	-X github.com/mngr-azure/mngr/internal/cli.Commit=$(COMMIT) \
	-X github.com/mngr-azure/mngr/internal/cli.BuildDate=$(DATE)

.PHONY: all build test dist clean

all: build

build:
	@mkdir -p bin
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/ $(addprefix ./cmd/,$(CMDS))

test:
	scripts/test.sh

# dist/<cmd>_<version>_<os>_<arch> for every platform, then dist/sha256sums.txt.
dist:
	@rm -rf dist && mkdir -p dist
	@for platform in $(PLATFORMS); do \
		os=$${platform%/*}; arch=$${platform#*/}; \
		for cmd in $(CMDS); do \
			out="dist/$${cmd}_$(VERSION)_$${os}_$${arch}"; \
			echo "build $$out"; \
			CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o "$$out" ./cmd/$$cmd; \
		done; \
	done
	@cd dist && if command -v sha256sum >/dev/null; then sha256sum -- *_* > sha256sums.txt; \
		else shasum -a 256 -- *_* > sha256sums.txt; fi
	@cat dist/sha256sums.txt

clean:
	rm -rf bin dist
