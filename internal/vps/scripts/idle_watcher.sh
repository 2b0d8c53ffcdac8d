#!/bin/sh
# idle_watcher.sh HOST_DIR DEFAULT_TIMEOUT_SECONDS [MAX_CHECK_SECONDS]
# Runs in the agent container. At every check it reads the host's idle
# policy from HOST_DIR/idle_policy (KEY=VALUE lines: timeout=SECONDS,
# mode=NAME, sources=a,b,...; mngr create and mngr limit write it), so a
# change applies at the next check. Without that file the policy is the
# default timeout with the io sources. Activity is the mtime of the files of
# the selected sources: HOST_DIR/activity/{boot,user,ssh} and
# HOST_DIR/agents/*/activity/{create,start,agent,process}; an attached tmux
# client counts as ssh activity. Once the newest of them (or the watcher's
# own start, whichever is later) is TIMEOUT seconds old, it touches
# HOST_DIR/commands/stop-instance-requested and exits. A disabled policy
# (mode=disabled, timeout 0 or no sources) never fires. It checks every
# tenth of the timeout, between 1 and MAX_CHECK_SECONDS (default 30).
dir=$1
default_timeout=$2
max_check=${3:-30}
case $default_timeout in ''|*[!0-9]*) echo "idle_watcher: bad timeout '$default_timeout'" >&2; exit 2;; esac
case $max_check in ''|*[!0-9]*|0) echo "idle_watcher: bad check interval '$max_check'" >&2; exit 2;; esac
policy="$dir/idle_policy"
sentinel="$dir/commands/stop-instance-requested"
started=$(date +%s)
shown=

read_policy() {
  timeout=$default_timeout
  sources=user,agent,ssh,create,start,boot
  mode=io
  [ -f "$policy" ] || return 0
  p_timeout=; p_sources=; p_mode=; has_sources=
  while IFS='=' read -r k v || [ -n "$k" ]; do
    case $k in
      timeout) p_timeout=$v ;;
      sources) p_sources=$v; has_sources=1 ;;
      mode) p_mode=$v ;;
    esac
  done < "$policy"
  case $p_timeout in
    ''|*[!0-9]*) echo "idle_watcher: bad timeout '$p_timeout' in $policy; using $timeout" ;;
    *) timeout=$p_timeout ;;
  esac
  if [ -n "$has_sources" ]; then sources=$p_sources; mode=custom; fi
  if [ -n "$p_mode" ]; then mode=$p_mode; fi
}

# newest_activity prints the latest mtime among the selected sources, or
# the watcher's start when that is later.
newest_activity() {
  newest=$started
  for src in $(echo "$sources" | tr ',' ' '); do
    case $src in
      boot|user|ssh) set -- "$dir/activity/$src" ;;
      create|start|agent|process) set -- "$dir"/agents/*/activity/"$src" ;;
      *) continue ;;
    esac
    for f in "$@"; do
      [ -f "$f" ] || continue
      t=$(stat -c %Y "$f" 2>/dev/null) || continue
      if [ "$t" -gt "$newest" ]; then newest=$t; fi
    done
    if [ "$src" = ssh ] && command -v tmux >/dev/null 2>&1 && [ -n "$(tmux list-clients 2>/dev/null)" ]; then
      newest=$(date +%s)
    fi
  done
  echo "$newest"
}

while :; do
  read_policy
  enforced=1
  if [ "$mode" = disabled ] || [ "$timeout" -eq 0 ] || [ -z "$sources" ]; then enforced=; fi
  desc="timeout=${timeout}s mode=$mode sources=$sources"
  [ -n "$enforced" ] || desc="disabled"
  if [ "$desc" != "$shown" ]; then
    echo "idle_watcher: policy $desc at $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    shown=$desc
  fi
  check=$max_check
  if [ -n "$enforced" ]; then
    last=$(newest_activity)
    now=$(date +%s)
    if [ $((now - last)) -ge "$timeout" ]; then
      mkdir -p "$dir/commands"
      touch "$sentinel"
      echo "idle_watcher: idle for $((now - last))s ($desc), requested stop at $(date -u +%Y-%m-%dT%H:%M:%SZ)"
      exit 0
    fi
    check=$((timeout / 10))
    if [ "$check" -lt 1 ]; then check=1; fi
    if [ "$check" -gt "$max_check" ]; then check=$max_check; fi
  fi
  sleep "$check"
done
