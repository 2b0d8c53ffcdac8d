#!/bin/sh
# Written by mngr (mngr azure bake --agent-type): on an image builder VM,
# installs agent CLIs into the agent image the way an agent's start installs
# a missing one, then commits the result under the image's own name, so that
# a create from the baked image finds the pinned CLI on PATH and installs
# nothing.
# Usage: bake_agent_clis.sh IMAGE WORK_DIR ENV_TEXT INSTALL_SCRIPT LABEL
# WORK_DIR (on the VM, made here, mode 0700) holds ENV_TEXT as the
# installer's env file, INSTALL_SCRIPT and the install logs; it is mounted
# into the install container at /mngr-bake, so none of it is committed, and
# it is removed at the end whatever happens. The container shares the VM's
# network, so a proxy or package registry on the VM's loopback answers.
# LABEL (name=value) marks the committed image. The image keeps its own
# entrypoint and command.
set -eu
image=$1
work=$2
envtext=$3
install=$4
label=$5
name=mngr-bake-clis
cleanup() {
  docker rm -f "$name" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
cleanup
umask 077
mkdir -p "$work"
printf '%s\n' "$envtext" >"$work/env"
printf '%s\n' "$install" >"$work/install.sh"
entry=$(docker image inspect -f '{{json .Config.Entrypoint}}' "$image")
cmd=$(docker image inspect -f '{{json .Config.Cmd}}' "$image")
# docker commit cannot clear an entrypoint or command, so the run sets
# only what the commit then puts back as it was (an image without a command
# gets sh's).
[ "$cmd" != null ] || cmd='["sh"]'
set -- --name "$name" --network host -v "$work:/mngr-bake"
if [ "$entry" = null ]; then
  set -- "$@" "$image" sh /mngr-bake/install.sh
else
  set -- "$@" --entrypoint sh "$image" /mngr-bake/install.sh
fi
if ! docker run "$@"; then
  echo "installing the agent CLIs into $image failed (the output is above)" >&2
  exit 8
fi
set -- --change "CMD $cmd" --change "LABEL $label"
[ "$entry" = null ] || set -- "$@" --change "ENTRYPOINT $entry"
docker commit "$@" "$name" "$image" >/dev/null
