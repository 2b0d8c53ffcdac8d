# list_agents.sh AGENTS_DIR PANES_ALWAYS
# Prints, for each AGENTS_DIR/*/data.json, a "@@MNGR_RECORD ACTIVE START
# LAST" line (START: mtime of activity/start, or -; LAST: the newest mtime
# of the agent's activity/* and the host's activity/*, or -, leaving out
# activity/process, which a live agent's pane stamps every few seconds
# whether or not anything happens) and the
# record; then
# @@MNGR_PANES, @@MNGR_NO_TMUX when tmux is not installed, and every tmux
# pane; then @@MNGR_PS and the process table.
# Without any record and with PANES_ALWAYS 0, tmux and ps are not run.
n=$2
for f in "$1"/*/data.json; do
  [ -f "$f" ] || continue
  n=1
  d=${f%/data.json}
  # Active: working on a prompt (the hooks' marker), unless it waits on a
  # permission dialog.
  active=0; [ -e "$d/active" ] && [ ! -e "$d/permissions_waiting" ] && active=1
  start=$(stat -c %Y "$d/activity/start" 2>/dev/null || echo -)
  last=$(find "$d/activity" "$1/../activity" -maxdepth 1 -type f ! -name process -exec stat -c %Y {} + 2>/dev/null | sort -n | tail -n 1)
  echo "@@MNGR_RECORD $active $start ${last:--}"
  cat "$f"; echo
done
echo @@MNGR_PANES
[ "$n" = 1 ] && { command -v tmux >/dev/null 2>&1 || echo @@MNGR_NO_TMUX; tmux list-panes -a -F '#{pane_dead}|#{pane_pid}|#{window_index}|#{session_name}|#{pane_current_command}' 2>/dev/null || true; }
echo @@MNGR_PS
[ "$n" = 1 ] && { ps -e -o pid=,ppid=,comm= 2>/dev/null || true; }
exit 0
