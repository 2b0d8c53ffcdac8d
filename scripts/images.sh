#!/usr/bin/env bash
# Builds, offline from Debian packages, the two images azsim's docker VM
# backend needs, and caches them by the content hash of their recipe:
#
#   mngr-azsim-vm:<hash>   a simulated VM: the package set of Debian 12's
#                          Azure image (images/vm/packages), systemd as
#                          PID 1, sshd, cloud-init (NoCloud seed only); no
#                          Docker: mngr's cloud-init installs it
#   mngr-agent:latest      the default agent image (Debian 12 + sshd, tmux,
#                          git, curl, rsync, jq), saved as a tarball that
#                          azsim mounts in every VM (mngr loads it)
#   mngr-agent-clis:<hash> only when scripts/setup.sh installed the real
#                          CLIs: the default image plus claude and codex at
#                          the pinned versions, saved as a tarball that names
#                          it mngr-agent:latest, for the tests of the real
#                          CLIs on a simulated VM (scripts/agent-cli-image.sh)
#
# Recipes live in images/ (vm/, agent/). A rebuild happens only when this
# script or a recipe file changes; the debootstrap root filesystems are kept
# in the cache too, keyed by their package lists.
#
#   scripts/images.sh                 # build or reuse; prints the names
#   MNGR_IMAGES_CACHE=DIR scripts/images.sh
#   MNGR_DEBIAN_MIRROR=URL scripts/images.sh   # default: this machine's apt mirror
#   MNGR_IMAGES_REBUILD=1 scripts/images.sh    # ignore the cache (e.g. to time a cold build)
#
# At the end it writes $CACHE/images.env (MNGR_AZSIM_VM_IMAGE,
# MNGR_AGENT_IMAGE, MNGR_AGENT_IMAGE_TAR, and MNGR_AGENT_CLI_IMAGE_TAR when
# the CLI image was built) for azsim and the tests, and the images it built
# (MNGR_AZSIM_VM_BASE_IMAGE, MNGR_AGENT_BUILD_IMAGE, MNGR_AGENT_CLI_IMAGE):
# the next run removes only those of them it no longer names, so runs
# into different caches leave each other's images alone.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
recipes="$root/images"
# shellcheck source=scripts/lib.sh
. "$root/scripts/lib.sh"
cache=$(mngr_images_cache)
suite=bookworm
rebuild=${MNGR_IMAGES_REBUILD:-0}
mkdir -p "$cache/debs"

log() { printf 'images: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

for tool in docker debootstrap sha256sum tar; do
  command -v "$tool" >/dev/null || die "$tool is not installed (apt-get install docker.io debootstrap coreutils tar)"
done
docker version >/dev/null 2>&1 || die "dockerd is not answering (is the docker service running?)"
[ "$(id -u)" = 0 ] || die "debootstrap needs root: run as root (or with sudo -E)"

# The Debian mirror this machine's apt already uses, so no other host is needed.
debian_mirror() {
  if [ -n "${MNGR_DEBIAN_MIRROR:-}" ]; then echo "$MNGR_DEBIAN_MIRROR"; return; fi
  local f uri
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    # deb822: the first URIs: line of a stanza whose Suites name the release.
    uri=$(awk -v s="$suite" '
      /^URIs:/ {u=$2}
      /^Suites:/ {for (i=2;i<=NF;i++) if ($i==s) {print u; exit}}
      /^$/ {u=""}' "$f")
    if [ -n "$uri" ]; then echo "$uri"; return; fi
  done
  if [ -f /etc/apt/sources.list ]; then
    uri=$(awk -v s="$suite" '$1=="deb" && $0 !~ /security/ {for (i=2;i<=NF;i++) if ($i==s) {print $(i-1); exit}}' /etc/apt/sources.list)
    uri=${uri#\[*\] }
    if [ -n "$uri" ]; then echo "$uri"; return; fi
  fi
  echo "http://deb.debian.org/debian"
}

# hash_of FILE... prints a short content hash of files (paths relative to the
# repository, so a checkout anywhere gives the same hash).
hash_of() {
  (cd "$root" && for f in "$@"; do printf '%s\n' "${f#"$root"/}"; sha256sum <"$f"; done) | sha256sum | cut -c1-16
}

recipe_files() { find "$1" -type f | LC_ALL=C sort; }

image_exists() { [ "$rebuild" != 1 ] && docker image inspect "$1" >/dev/null 2>&1; }

packages_of() { grep -v -e '^#' -e '^[[:space:]]*$' "$1" | paste -sd, -; }

# rootfs NAME PACKAGES_FILE prints the path of a cached debootstrap tarball,
# building it when missing.
rootfs() {
  local name=$1 pkgs=$2 key tarball dir start
  # Keyed by the package list and the debootstrap call only, so editing
  # the build layer never re-downloads packages.
  key=$( (echo "$suite minbase main v1"; cat "$pkgs") | sha256sum | cut -c1-16)
  tarball="$cache/rootfs-$name-$key.tar"
  if [ -s "$tarball" ] && [ "$rebuild" != 1 ]; then echo "$tarball"; return; fi
  dir=$(mktemp -d "$cache/.rootfs-$name.XXXXXX")
  # shellcheck disable=SC2064
  trap "rm -rf '$dir'" EXIT
  start=$SECONDS
  log "debootstrap $suite ($name) from $(debian_mirror)"
  if ! debootstrap --variant=minbase --components=main --cache-dir="$cache/debs" \
    --include="$(packages_of "$pkgs")" "$suite" "$dir" "$(debian_mirror)" >"$cache/debootstrap-$name.log" 2>&1; then
    tail -n 30 "$cache/debootstrap-$name.log" >&2
    die "debootstrap $name failed (full log: $cache/debootstrap-$name.log)"
  fi
  rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/* "$dir"/debootstrap
  tar --numeric-owner --xattrs -C "$dir" -cf "$tarball.tmp" .
  mv "$tarball.tmp" "$tarball"
  rm -rf "$dir"
  log "rootfs $name built in $((SECONDS - start))s"
  echo "$tarball"
}

# import TARBALL TAG makes TAG from a rootfs tarball unless it exists.
import() {
  local tarball=$1 tag=$2
  image_exists "$tag" && return
  log "docker import $tag"
  docker import "$tarball" "$tag" >/dev/null
}

total_start=$SECONDS
self="$root/scripts/images.sh"
# shellcheck disable=SC2046
vm_hash=$(hash_of "$self" $(recipe_files "$recipes/vm"))
# shellcheck disable=SC2046
agent_hash=$(hash_of "$self" $(recipe_files "$recipes/agent"))
vm_image="mngr-azsim-vm:$vm_hash"
agent_image="mngr-agent:$agent_hash"
agent_tar="$cache/agent-$agent_hash.tar"

# The simulated VM: debootstrap rootfs → docker import → a small build layer.
vm_base=
if image_exists "$vm_image"; then
  log "$vm_image is up to date"
  vm_base=$(docker image inspect --format '{{index .Config.Labels "dev.mngr.vm-base"}}' "$vm_image" 2>/dev/null || true)
else
  tarball=$(rootfs vm "$recipes/vm/packages")
  vm_base="mngr-azsim-vm-base:$(basename "$tarball" .tar | sed 's/^rootfs-vm-//')"
  import "$tarball" "$vm_base"
  log "docker build $vm_image"
  DOCKER_BUILDKIT=0 docker build -q --build-arg "BASE=$vm_base" --label "dev.mngr.vm-base=$vm_base" -t "$vm_image" "$recipes/vm" 2>&1 >/dev/null |
    grep -v -i -e 'legacy builder is deprecated' -e 'BuildKit is currently disabled' -e 'environment-variable' -e '^[[:space:]]*$' >&2 || true
fi

# The agent image, saved as the tarball each VM loads ("mngr-agent:latest" inside).
if ! image_exists "$agent_image"; then
  tarball=$(rootfs agent "$recipes/agent/packages")
  log "docker import $agent_image"
  docker import --change 'CMD ["/bin/bash"]' "$tarball" "$agent_image" >/dev/null
fi
docker tag "$agent_image" mngr-agent:latest
if [ ! -s "$agent_tar" ] || [ "$rebuild" = 1 ]; then
  log "docker save mngr-agent:latest → $agent_tar"
  docker save -o "$agent_tar.tmp" mngr-agent:latest
  mv "$agent_tar.tmp" "$agent_tar"
fi

# The same image with the real CLIs baked in, when they are installed.
cli_tar=$("$root/scripts/agent-cli-image.sh" "$agent_image" "$cache")
cli_image=
[ -z "$cli_tar" ] || cli_image="mngr-agent-clis:$(basename "$cli_tar" .tar | sed 's/^cli-agent-//')"

# Drop what this cache's previous build made and this one no longer names:
# only the images its own images.env listed, so another cache's images
# (another checkout, another test run beside this one) stay. Images still
# used by a container stay too (docker refuses to remove them).
if [ -f "$cache/images.env" ]; then
  for old in $(sed -n 's/^MNGR_\(AZSIM_VM_IMAGE\|AZSIM_VM_BASE_IMAGE\|AGENT_BUILD_IMAGE\|AGENT_CLI_IMAGE\)=//p' "$cache/images.env"); do
    case "$old" in "$vm_image" | "$vm_base" | "$agent_image" | mngr-agent:latest | "$cli_image" | "") continue ;; esac
    docker image rm "$old" >/dev/null 2>&1 || true
  done
fi
for old in "$cache"/agent-*.tar "$cache"/cli-agent-*.tar; do
  [ -e "$old" ] && [ "$old" != "$agent_tar" ] && [ "$old" != "$cli_tar" ] && rm -f "$old"
done

cat >"$cache/images.env.tmp" <<EOF
MNGR_AZSIM_VM_IMAGE=$vm_image
MNGR_AGENT_IMAGE=mngr-agent:latest
MNGR_AGENT_IMAGE_TAR=$agent_tar
MNGR_AZSIM_VM_BASE_IMAGE=$vm_base
MNGR_AGENT_BUILD_IMAGE=$agent_image
EOF
if [ -n "$cli_image" ]; then echo "MNGR_AGENT_CLI_IMAGE=$cli_image" >>"$cache/images.env.tmp"; fi
if [ -n "$cli_tar" ]; then echo "MNGR_AGENT_CLI_IMAGE_TAR=$cli_tar" >>"$cache/images.env.tmp"; fi
mv "$cache/images.env.tmp" "$cache/images.env"
log "done in $((SECONDS - total_start))s; settings in $cache/images.env"
echo "$vm_image"
echo "mngr-agent:latest ($agent_tar)"
if [ -n "$cli_tar" ]; then echo "mngr-agent:latest with claude ($cli_tar)"; fi
