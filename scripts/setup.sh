#!/usr/bin/env bash
# The one set-up step both README commands run (scripts/demo.sh and
# scripts/test.sh), idempotent: on a bare Debian 12 machine with Go it
# installs the Debian packages mngr, azsim and the tests need, starts dockerd
# when it is not running, starts Debian's apt-cacher-ng on 127.0.0.1:3142
# (the package cache the simulated VMs install through), installs the pinned golangci-lint (with
# MNGR_SETUP_LINT=1, which scripts/test.sh sets), the real agent CLIs at the
# versions mngr pins (npm), and builds or reuses the simulated-VM and agent
# images (scripts/images.sh). A second run changes nothing and takes seconds.
#
# Not root and something missing: it prints the one command to run and exits 1.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# shellcheck source=scripts/goenv.sh
. scripts/goenv.sh
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

log() { printf 'setup: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Debian packages: the command they provide (to check without dpkg on
# machines where they came another way) and the package name.
packages=(tmux git jq rsync openssh-client openssh-server docker.io azure-cli
  debootstrap cloud-init iproute2 ca-certificates nodejs npm curl gnupg apt-cacher-ng)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' && continue
  case "$p" in
    # Commands a machine may have from elsewhere (node and npm from
    # nodesource, docker from docker-ce): present is good enough.
    nodejs) command -v node >/dev/null && continue ;;
    npm) command -v npm >/dev/null && continue ;;
    docker.io) command -v dockerd >/dev/null && command -v docker >/dev/null && continue ;;
    openssh-client) command -v ssh >/dev/null && continue ;;
  esac
  missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    die "missing Debian packages; run: sudo apt-get update && sudo apt-get install -y ${missing[*]}"
  fi
  log "installing ${missing[*]} (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# dockerd: start it in the background when it is not answering, and wait for
# it (at most 60 s). Its log is /var/log/dockerd.log.
if ! docker info >/dev/null 2>&1; then
  [ "$(id -u)" -eq 0 ] || die "dockerd is not running; start it (sudo systemctl start docker, or sudo dockerd &)"
  if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
    log "starting dockerd (systemctl start docker)"
    systemctl start docker || true
  fi
  if ! docker info >/dev/null 2>&1; then
    log "starting dockerd in the background (log: /var/log/dockerd.log)"
    nohup dockerd >/var/log/dockerd.log 2>&1 &
  fi
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || die "dockerd did not start within 60 s; see /var/log/dockerd.log"
fi

# The Debian package cache azsim's simulated VMs install through (azsim
# --apt-proxy 127.0.0.1:3142): Debian's apt-cacher-ng, on loopback only, so
# every create after the first takes its packages from this machine. Its
# Debian backend is the archive the VMs' sources name (the package's default,
# ftp.debian.org, may not resolve); an existing backends file is kept.
acng_conf=/etc/apt-cacher-ng/zz_mngr_loopback.conf
acng_want=$'# scripts/setup.sh: serve only this machine (azsim forwards it into its VMs).\nBindAddress: 127.0.0.1\nPort: 3142\n'
acng_backend=/etc/apt-cacher-ng/backends_debian
acng_restart=0
if [ "$(cat "$acng_conf" 2>/dev/null)"$'\n' != "$acng_want" ] || [ ! -s "$acng_backend" ]; then
  [ "$(id -u)" -eq 0 ] || die "apt-cacher-ng needs its loopback settings; run as root once (it writes $acng_conf and $acng_backend)"
  printf '%s' "$acng_want" >"$acng_conf"
  [ -s "$acng_backend" ] || printf '%s\n' "${MNGR_DEBIAN_MIRROR:-http://deb.debian.org/debian}/" >"$acng_backend"
  log "apt-cacher-ng: 127.0.0.1:3142 only ($acng_conf), Debian backend $(cat "$acng_backend")"
  acng_restart=1
fi
acng_service() {
  if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
    systemctl enable apt-cacher-ng >/dev/null 2>&1 || true
    systemctl "$1" apt-cacher-ng || true
  else
    /etc/init.d/apt-cacher-ng "$1" >/dev/null || true
  fi
}
acng_up() { (exec 3<>/dev/tcp/127.0.0.1/3142) 2>/dev/null; }
if [ "$acng_restart" = 1 ]; then
  acng_service restart
elif ! acng_up; then
  [ "$(id -u)" -eq 0 ] || die "apt-cacher-ng is not running; start it (sudo systemctl start apt-cacher-ng, or sudo /etc/init.d/apt-cacher-ng start)"
  log "starting apt-cacher-ng"
  acng_service start
fi
for _ in $(seq 1 20); do acng_up && break; sleep 0.5; done
acng_up || die "apt-cacher-ng is not answering on 127.0.0.1:3142; see /var/log/apt-cacher-ng/"

# golangci-lint at the pinned version, built with the toolchain of goenv.sh
# (so it reads that standard library). Only the tests need it.
lint_version=v2.15.0
if [ "${MNGR_SETUP_LINT:-0}" = 1 ]; then
  gobin="$(go env GOPATH)/bin"
  if ! "$gobin/golangci-lint" version 2>/dev/null | grep -q "${lint_version#v}"; then
    log "installing golangci-lint $lint_version"
    go install "github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$lint_version"
  fi
fi

# The real agent CLIs at the versions mngr pins, from the npm registry (the
# tests drive them: MNGR_TEST_AGENT_CLIS points at their bin dir).
clis=$(mngr_agent_clis_dir)
want_claude=$(mngr_pinned_version ClaudeCodeVersion)
want_codex=$(mngr_pinned_version CodexVersion)
[ -n "$want_claude" ] && [ -n "$want_codex" ] || die "cannot read the pinned CLI versions from internal/core/agent_types.go"
have() { jq -r .version "$clis/node_modules/$1/package.json" 2>/dev/null || true; }
if [ "$(have @anthropic-ai/claude-code)" != "$want_claude" ] || [ "$(have @openai/codex)" != "$want_codex" ]; then
  log "installing @anthropic-ai/claude-code@$want_claude and @openai/codex@$want_codex into $clis (npm)"
  mkdir -p "$clis"
  npm install --prefix "$clis" --no-audit --no-fund --loglevel=error \
    "@anthropic-ai/claude-code@$want_claude" "@openai/codex@$want_codex" >&2
fi
# npm's own cache seeds azsim's npm cache for the bake test (its VMs reach
# no registry): it must hold the pinned packages' tarballs. When it does
# not (a cleaned cache, CLIs installed from elsewhere), an install into a
# scratch prefix fills it.
npm_cache="$(npm config get cache)/_cacache"
if ! grep -rqs "claude-code-linux-x64-$want_claude.tgz" "$npm_cache/index-v5" ||
  ! grep -rqs "codex-$want_codex-linux-x64.tgz" "$npm_cache/index-v5"; then
  log "filling npm's cache ($npm_cache) with the pinned CLIs"
  scratch=$(mktemp -d)
  npm install --prefix "$scratch" --no-audit --no-fund --loglevel=error \
    "@anthropic-ai/claude-code@$want_claude" "@openai/codex@$want_codex" >&2
  rm -rf "$scratch"
fi

# The simulated-VM and agent images, from Debian packages (cached by recipe hash).
scripts/images.sh >&2
log "ready (image cache: $(mngr_images_cache))"
