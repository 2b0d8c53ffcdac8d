#!/usr/bin/env bash
# Builds the agent image with the real agent CLIs, when scripts/setup.sh
# installed them at the versions mngr pins: one layer on top of the default
# agent image with claude (the native binary of @anthropic-ai/claude-code)
# at /usr/local/bin/claude and codex (the native package of @openai/codex,
# as its release archives ship it) in /opt/codex, linked from
# /usr/local/bin/codex. Its `docker save` tarball names the image
# mngr-agent:latest, as a user's baked image would be, so a simulated VM
# booted with it (MNGR_AGENT_IMAGE_TAR=$MNGR_AGENT_CLI_IMAGE_TAR) runs claude
# and codex agents with no npm install. Only the tests of the real CLIs on
# azsim use it; every other VM loads the small default tarball.
#
#   scripts/agent-cli-image.sh AGENT_IMAGE CACHE_DIR
#
# Prints the tarball's path (CACHE_DIR/cli-agent-<hash>.tar, reused when it
# exists), or nothing when the pinned claude or codex is not installed. scripts/images.sh
# calls it and records the path as MNGR_AGENT_CLI_IMAGE_TAR in images.env.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$root/scripts/lib.sh"
agent_image=$1
cache=$2
rebuild=${MNGR_IMAGES_REBUILD:-0}

log() { printf 'images: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

mods="$(mngr_agent_clis_dir)/node_modules"
claude_bin="$mods/@anthropic-ai/claude-code/bin/claude.exe"
codex_dir="$mods/@openai/codex-linux-x64/vendor/x86_64-unknown-linux-musl"
[ -x "$claude_bin" ] && [ -x "$codex_dir/bin/codex" ] || exit 0
want=$(mngr_pinned_version ClaudeCodeVersion)
have=$("$claude_bin" --version 2>/dev/null || true)
want_codex=$(mngr_pinned_version CodexVersion)
have_codex=$("$codex_dir/bin/codex" --version 2>/dev/null || true)
case "$have/$have_codex" in
"$want "*"/codex-cli $want_codex" | "$want/codex-cli $want_codex") ;;
*)
  log "skipping the agent CLI image: claude is ${have:-unreadable} (pinned $want), codex ${have_codex:-unreadable} (pinned $want_codex)"
  exit 0
  ;;
esac

cli_hash=$( (echo "$agent_image claude $want codex $want_codex"; stat -L -c %s "$claude_bin" "$codex_dir/bin/codex"; cat "$0") | sha256sum | cut -c1-16)
cli_image="mngr-agent-clis:$cli_hash"
cli_tar="$cache/cli-agent-$cli_hash.tar"
if [ -s "$cli_tar" ] && [ "$rebuild" != 1 ]; then
  echo "$cli_tar"
  exit 0
fi
ctx=$(mktemp -d "$cache/.cli-agent.XXXXXX")
# shellcheck disable=SC2064
trap "rm -rf '$ctx'" EXIT
ln "$claude_bin" "$ctx/claude" 2>/dev/null || cp "$claude_bin" "$ctx/claude"
cp -a "$codex_dir" "$ctx/codex"
printf 'FROM %s\nCOPY claude /usr/local/bin/claude\nCOPY codex /opt/codex\nRUN ln -s /opt/codex/bin/codex /usr/local/bin/codex\n' "$agent_image" >"$ctx/Dockerfile"
log "docker build $cli_image (claude $want, codex $want_codex)"
DOCKER_BUILDKIT=0 docker build -q -t "$cli_image" "$ctx" >/dev/null
log "docker save $cli_image as mngr-agent:latest → $cli_tar"
docker save -o "$ctx/image.tar" "$cli_image"
# Rename the image in the tarball's two index files, so the host's own
# mngr-agent:latest tag stays on the default image.
(
  mkdir "$ctx/image"
  cd "$ctx/image"
  tar -xf ../image.tar
  rm ../image.tar
  sed -i "s|\"$cli_image\"|\"mngr-agent:latest\"|" manifest.json
  sed -i "s|{\"mngr-agent-clis\":{\"$cli_hash\"|{\"mngr-agent\":{\"latest\"|" repositories
  grep -q '"mngr-agent:latest"' manifest.json
  grep -q '"mngr-agent":{"latest"' repositories
  tar -cf ../image.tar .
) || die "could not rename $cli_image in its tarball"
mv "$ctx/image.tar" "$cli_tar"
echo "$cli_tar"
