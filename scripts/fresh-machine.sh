#!/usr/bin/env bash
# Tries a README command the way a newcomer meets it: on a bare Debian 12
# machine with Go and nothing else, from a fresh clone and a fresh HOME. The
# "machine" is a container made from a minimal debootstrap of Debian 12
# (cached as the image mngr-bare-debian:12) with this machine's Go mounted
# read-only; it runs its own dockerd (Docker in Docker, the flags of
# ../shared/DESIGN.md), so the simulated VMs of the demo are nested in it.
#
#   scripts/fresh-machine.sh                      # scripts/demo.sh in a fresh clone of HEAD
#   scripts/fresh-machine.sh scripts/test.sh      # the tests instead (about as long as CI)
#   KEEP=1 scripts/fresh-machine.sh               # leave the container for a look
#
# The machine's CA bundle goes in as a local CA (update-ca-certificates keeps
# it when setup installs ca-certificates): a fresh machine of this workplace
# trusts what this one trusts (its TLS proxy's CA), nothing more.
#
# Needs root, dockerd and debootstrap here (scripts/setup.sh). The clone is of
# the committed HEAD: uncommitted changes are not in it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cmd=${1:-scripts/demo.sh}
image=mngr-bare-debian:12
log() { printf 'fresh-machine: %s\n' "$*" >&2; }

if ! docker image inspect "$image" >/dev/null 2>&1; then
  rootfs=$(mktemp -d /var/tmp/mngr-bare.XXXXXX)
  log "debootstrap --variant=minbase bookworm (once; cached as $image)"
  debootstrap --variant=minbase bookworm "$rootfs" "${MNGR_DEBIAN_MIRROR:-http://deb.debian.org/debian}" >/dev/null
  # The machine's apt sources, as a fresh Debian 12 install has them.
  if cp /etc/apt/sources.list.d/debian.sources "$rootfs/etc/apt/sources.list.d/" 2>/dev/null; then
    rm -f "$rootfs/etc/apt/sources.list"
  fi
  tar -C "$rootfs" -c . | docker import --change 'CMD ["sleep","infinity"]' - "$image" >/dev/null
  rm -rf "$rootfs"
fi

work=$(mktemp -d /var/tmp/mngr-fresh.XXXXXX)
git clone -q "$root" "$work/src"
name="mngr-fresh-$$"
vol="mngr-fresh-docker-$$"
cleanup() {
  status=$?
  if [ "${KEEP:-0}" = 1 ]; then
    log "KEEP=1: container $name (docker exec -it $name bash) and $work stay"
  else
    docker rm -f -v "$name" >/dev/null 2>&1 || true
    docker volume rm -f "$vol" >/dev/null 2>&1 || true
    rm -rf "$work"
  fi
  exit "$status"
}
trap cleanup EXIT

docker volume create "$vol" >/dev/null
docker run -d --name "$name" --hostname fresh \
  --cap-add=ALL --cap-drop=SYS_RESOURCE --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
  --cgroupns=host -v /sys/fs/cgroup:/sys/fs/cgroup:rw --device-cgroup-rule='a *:* rwm' \
  --tmpfs /run --tmpfs /run/lock \
  -v "$vol":/var/lib/docker -v /usr/local/go:/usr/local/go:ro -v "$work/src":/root/src \
  -v /etc/ssl/certs/ca-certificates.crt:/usr/local/share/ca-certificates/this-machine.crt:ro \
  -e PATH=/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  "$image" >/dev/null
log "running $cmd in $name (a bare Debian 12 with Go; fresh clone in /root/src, fresh HOME)"
start=$SECONDS
docker exec -e HOME=/root -w /root/src "$name" bash -c "$cmd"
log "$cmd passed in $((SECONDS - start)) s"
