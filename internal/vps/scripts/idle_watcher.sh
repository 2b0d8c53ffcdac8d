#!/bin/sh
# idle_watcher.sh HOST_DIR TIMEOUT_SECONDS [CHECK_SECONDS]
# Runs in the agent container. Tracks the newest activity (IO mode): the
# mtimes of the files under HOST_DIR/activity and each agent's activity dir
# except "process", and any attached tmux client; once none happened for
# TIMEOUT_SECONDS, touches HOST_DIR/commands/stop-instance-requested and
# exits. Looks every CHECK_SECONDS (default 30).
dir=$1
timeout=$2
check=${3:-30}
case $timeout in ''|*[!0-9]*) echo "idle_watcher: bad timeout '$timeout'" >&2; exit 2;; esac
case $check in ''|*[!0-9]*) echo "idle_watcher: bad check interval '$check'" >&2; exit 2;; esac
sentinel="$dir/commands/stop-instance-requested"
last=$(date +%s)
while :; do
  newest=$(find "$dir/activity" "$dir"/agents/*/activity -type f ! -name process -exec stat -c %Y {} + 2>/dev/null | sort -n | tail -n 1)
  if [ -n "$newest" ] && [ "$newest" -gt "$last" ]; then last=$newest; fi
  if command -v tmux >/dev/null 2>&1 && [ -n "$(tmux list-clients 2>/dev/null)" ]; then last=$(date +%s); fi
  now=$(date +%s)
  if [ $((now - last)) -ge "$timeout" ]; then
    mkdir -p "$dir/commands"
    touch "$sentinel"
    echo "idle_watcher: idle for $((now - last))s, requested stop at $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    exit 0
  fi
  sleep "$check"
done
