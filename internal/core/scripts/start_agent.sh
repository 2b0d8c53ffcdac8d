# start_agent.sh SESSION WORK_DIR SHELL TMUX_CONF WIDTH HEIGHT CLI HOST_ENV AGENT_ENV COMMAND_LINE STATE_DIR WANT VERSION STRICT [WINDOW_NAME WINDOW_COMMAND]...
# Starts an agent in window 0 of a new tmux session SESSION (WIDTH x
# HEIGHT, in WORK_DIR): each window runs the shell command SHELL, into
# which COMMAND_LINE (window 0) and each WINDOW_COMMAND (a window named
# WINDOW_NAME) is typed. Does nothing when the session exists. With CLI
# not empty, CLI must be on the PATH the env files HOST_ENV and AGENT_ENV
# give; with VERSION not empty, `CLI --version` must start with VERSION
# (exit 9, exitWrongVersion, when STRICT is 1; a warning on stderr when it
# is 0). Stamps STATE_DIR/activity/start; with WANT not empty, waits (3 s at
# most) until process WANT shows in window 0; then stamps
# STATE_DIR/activity/process every 5 s while the pane lives.
# Exits 3 without tmux (exitNoTmux), 4 without CLI (exitNoCLI), 5 without
# WORK_DIR (exitNoWorkDir).
sess=$1 wd=$2 shell=$3 conf=$4 width=$5 height=$6 cli=$7 host_env=$8 agent_env=$9
cmdline=${10} sd=${11} want=${12} pin=${13} strict=${14}
shift 14
w0="=$sess:0"

# stamp FILE writes the activity JSON {"time":<ms>} to FILE.
stamp() { printf '{"time":%s000}\n' "$(date +%s)" > "$1"; }

# on_agent_path HOST_ENV AGENT_ENV NAME: whether NAME is a command once the
# env files are loaded (run it in a subshell).
on_agent_path() {
  set -a
  if [ -f "$1" ]; then . "$1"; fi
  if [ -f "$2" ]; then . "$2"; fi
  set +a
  command -v "$3"
}

command -v tmux >/dev/null 2>&1 || { echo 'tmux is not installed on this host' >&2; exit 3; }
if tmux has-session -t "=$sess" 2>/dev/null; then exit 0; fi
unset HISTFILE
cd "$wd" || { printf 'work dir %s is missing\n' "$wd" >&2; exit 5; }
if [ -n "$cli" ]; then
  ( on_agent_path "$host_env" "$agent_env" "$cli" ) >/dev/null 2>&1 || { echo "$cli is not installed on this host" >&2; exit 4; }
  if [ -n "$pin" ]; then
    v=$( on_agent_path "$host_env" "$agent_env" "$cli" >/dev/null 2>&1 && "$cli" --version 2>/dev/null | head -n 1 ) || v=
    v=${v#codex-cli }
    case $v in
    "$pin"|"$pin "*) ;;
    *)
      if [ "$strict" = 1 ]; then printf '%s is version %s, not the pinned %s\n' "$cli" "${v:-unknown}" "$pin" >&2; exit 9; fi
      printf 'warning: %s is version %s; mngr is tested with %s\n' "$cli" "${v:-unknown}" "$pin" >&2
      ;;
    esac
  fi
fi
set -e
tmux new-session -d -s "$sess" -x "$width" -y "$height" -c "$wd" "$shell"
# Keep the agent in window 0 even when the user's tmux base-index differs.
w=$(tmux display-message -p -t "=$sess:" '#{window_index}')
[ "$w" = 0 ] || tmux move-window -s "=$sess:$w" -t "$w0"
tmux source-file "$conf" >/dev/null 2>&1 || true
while [ $# -ge 2 ]; do
  tmux new-window -d -t "=$sess:" -n "$1" -c "$wd" "$shell"
  tmux send-keys -t "=$sess:$1" -l -- "$2"
  tmux send-keys -t "=$sess:$1" Enter
  shift 2
done
tmux send-keys -t "$w0" -l -- "$cmdline"
tmux send-keys -t "$w0" Enter
stamp "$sd/activity/start"
# The command is typed into a shell that may still be starting: wait,
# bounded (3 s), until its process shows in the pane, so a list right after
# start does not read the lone shell as DONE. A command that ends at once
# just uses up the wait.
if [ -n "$want" ]; then
  set +e
  i=0
  while [ $i -lt 30 ]; do
    set -- $(tmux list-panes -t "$w0" -F '#{pane_pid} #{pane_current_command}' 2>/dev/null | head -n 1)
    [ "${2:-}" = "$want" ] && break
    [ -n "${1:-}" ] && pgrep -x -P "$1" -- "$want" >/dev/null 2>&1 && break
    sleep 0.1; i=$((i+1))
  done
  set -e
fi
# Record process activity every 5 s while the pane lives, for at most a week.
watch='i=0
while [ $i -lt 120960 ] && [ "$(tmux list-panes -t "$1" -F "#{pane_dead}" 2>/dev/null | head -n 1)" = 0 ]; do
  printf "{\"time\":%s000}\n" "$(date +%s)" > "$2"
  sleep 5; i=$((i+1))
done'
(nohup sh -c "$watch" sh "$w0" "$sd/activity/process" </dev/null >/dev/null 2>&1 &)
