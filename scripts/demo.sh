#!/usr/bin/env bash
# The main job on the local Azure simulator: builds mngr and azsim, builds the
# simulated-VM and agent images (cached), starts azsim with real machines
# (docker VM backend) and walks the user journey of the Azure provider's
# manual, with progress on stderr. Everything it creates is removed at the end.
#
#   scripts/demo.sh            # the journey
#   KEEP=1 scripts/demo.sh     # leave azsim and its VMs running for a look
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/goenv.sh
. scripts/goenv.sh

# Everything the demo needs on a bare Debian 12 machine: packages, dockerd and
# the simulated-VM and agent images (cached; seconds when all is there).
scripts/setup.sh
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
mngr_load_images

work=$(mktemp -d /tmp/mngr-demo.XXXXXX)
bin="$work/bin"
mkdir -p "$bin"
say() { printf '\n\033[1m$ %s\033[0m\n' "$*" >&2; }

echo "building mngr and azsim into $bin" >&2
go build -o "$bin/" ./cmd/mngr ./cmd/azsim
export PATH="$bin:$PATH"


data="$work/azsim"
azsim serve --listen 127.0.0.1:0 --data-dir "$data" --vm-backend docker --apt-proxy 127.0.0.1:3142 >"$work/azsim.log" 2>&1 &
azsim_pid=$!
cleanup() {
  status=$?
  if [ "${KEEP:-0}" = 1 ]; then
    echo "KEEP=1: azsim (pid $azsim_pid) and its data stay in $work" >&2
    exit "$status"
  fi
  azsim stop --data-dir "$data" >/dev/null 2>&1 || kill "$azsim_pid" 2>/dev/null || true
  wait "$azsim_pid" 2>/dev/null || true
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
for _ in $(seq 1 100); do [ -s "$data/endpoint.json" ] && break; sleep 0.1; done
[ -s "$data/endpoint.json" ] || { cat "$work/azsim.log" >&2; echo "azsim did not start" >&2; exit 1; }

# A private home so the demo never touches the user's own mngr settings.
export HOME="$work/home" MNGR_HOST_DIR="$work/home/.mngr" MNGR_PREFIX="mngr-demo-$$-"
mkdir -p "$MNGR_HOST_DIR"
eval "$(azsim env --data-dir "$data" | grep '^export ')"
azsim env --data-dir "$data" | sed -n '/^\[providers\./,$p' >"$MNGR_HOST_DIR/settings.toml"
# The manual's `mngr create my-agent` takes the agent type from config; the
# demo's agent is a long sleep standing in for claude or codex.
cat >>"$MNGR_HOST_DIR/settings.toml" <<'TOML'

[agent_types.sleeper]
command = "sleep 100000"

[commands.create]
type = "sleeper"
TOML

say mngr azure prepare
mngr azure prepare

# The user's project: a small repository with two commits. create runs
# from inside it and mirrors it into the agent's container on mngr/my-agent.
project="$work/project"
mkdir -p "$project" && cd "$project"
git init -q -b main
git config user.name "Demo User" && git config user.email demo@example.com
echo "print('hello')" >app.py && git add app.py && git commit -q -m "first version"
echo "# demo" >README.md && git add README.md && git commit -q -m "add a readme"

say mngr create my-agent --provider azure
# Piped, so create does not attach to the agent (it does on a terminal).
mngr create my-agent --provider azure | cat
say mngr list
mngr list
say 'mngr exec my-agent "git log --oneline"'
mngr exec my-agent "git log --oneline"
say 'mngr exec my-agent "...commit as the agent would..."'
mngr exec my-agent "echo 'print(\"hello, world\")' > app.py && git commit -q -am 'agent: greet the world' && git log --oneline -1"
say mngr git pull my-agent
mngr git pull my-agent
say 'git log --oneline mngr/my-agent   # your checkout (main) is untouched'
git log --oneline mngr/my-agent
say 'mngr rsync my-agent:app.py ./from-agent.py'
mngr rsync my-agent:app.py ./from-agent.py && cat from-agent.py
say 'mngr create echo --provider azure --host my-agent-host --type command --transfer none -m hello -- cat'
mngr create echo --provider azure --host my-agent-host --type command --transfer none -m hello -- cat | cat
say mngr capture echo
mngr capture echo
mngr destroy -f echo
mngr exec my-agent "echo kept > survives.txt"
say mngr stop my-agent
mngr stop my-agent
say mngr list
mngr list
say mngr start my-agent
mngr start my-agent
say 'mngr exec my-agent "cat survives.txt"'
mngr exec my-agent "cat survives.txt"
say 'mngr destroy -f my-agent   # -f: the agent is running and this is not a terminal' 
mngr destroy -f my-agent
say mngr gc
mngr gc
say mngr azure cleanup
mngr azure cleanup
cd "$work"
say 'what is left in azsim'
curl -fsS --cacert "$data/ca.pem" -H "Authorization: Bearer $(jq -r .client_secret "$data/endpoint.json")" \
  "$(jq -r .admin "$data/endpoint.json")/state" | jq '{resources, vms}'
echo "containers left: $(docker ps -aq --filter "label=dev.mngr.azsim.data-dir=$data" | wc -l)" >&2
