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
  # The real agent CLIs scripts/setup.sh installed, for the tests.
  MNGR_TEST_AGENT_CLIS="$(mngr_agent_clis_dir)/node_modules/.bin"
  export MNGR_TEST_AGENT_CLIS
}

# mngr_agent_clis_dir is where scripts/setup.sh installs the real agent CLIs
# (claude, codex) at the versions mngr pins, for the tests that drive them.
mngr_agent_clis_dir() {
  printf '%s\n' "${MNGR_AGENT_CLIS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mngr-agent-clis}"
}

# mngr_pinned_version NAME prints a pinned version constant of
# internal/core/agent_types.go (ClaudeCodeVersion, CodexVersion): one source.
mngr_pinned_version() {
  sed -n "s/^[[:space:]]*$1[[:space:]]*=[[:space:]]*\"\\([^\"]*\\)\".*/\\1/p" "$(dirname "${BASH_SOURCE[0]}")/../internal/core/agent_types.go"
}
