# Sourced by the scripts: the one rule for where the image cache lives, shared
# with internal/azsim/vm/docker.ImagesCacheDir (keep the two in step).
# shellcheck shell=bash
mngr_images_cache() {
  printf '%s\n' "${MNGR_IMAGES_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mngr-images}"
}

# mngr_load_images exports the names scripts/images.sh wrote (MNGR_AZSIM_VM_IMAGE,
# MNGR_AGENT_IMAGE, MNGR_AGENT_IMAGE_TAR) and the test variables derived from them.
mngr_load_images() {
  local env
  env="$(mngr_images_cache)/images.env"
  if [ ! -f "$env" ]; then
    echo "no $env: run scripts/setup.sh (it builds the images)" >&2
    return 1
  fi
  set -a
  # shellcheck disable=SC1090
  . "$env"
  set +a
  export MNGR_TEST_VM_IMAGE="$MNGR_AZSIM_VM_IMAGE" MNGR_TEST_AGENT_TAR="$MNGR_AGENT_IMAGE_TAR"
}
