# pane.sh ACTION SESSION [ARG]
# Works on window 0 of tmux session SESSION. Exits 3 (exitNoTmux) without
# tmux and 7 (exitNoSession) without the session. ACTION is one of:
#   type          types the text on stdin literally (send-keys -l), then Enter
#   paste SETTLE  pastes the text on stdin as one bracketed paste, waits
#                 SETTLE seconds, then presses Enter
#   capture FULL [JOIN]  prints the pane; with FULL 1 its scrollback too;
#                 with JOIN 1 wrapped lines joined
#   enter         presses Enter
#   probe CONTENT prints the pane's pid and command, @@MNGR_PS and the
#                 process table; with CONTENT 1 then @@MNGR_PANE and the pane
command -v tmux >/dev/null 2>&1 || { echo 'tmux is not installed on this host' >&2; exit 3; }
tmux has-session -t "=$2" 2>/dev/null || exit 7
w="=$2:0"
case $1 in
type)
  set -e
  # $(…) drops trailing newlines; the x keeps every byte of the text.
  text=$(cat; printf x)
  text=${text%x}
  tmux send-keys -t "$w" -l -- "$text"
  tmux send-keys -t "$w" Enter
  ;;
paste)
  set -e
  buf="mngr-message-$$"
  tmux load-buffer -b "$buf" -
  tmux paste-buffer -p -d -b "$buf" -t "$w"
  sleep "$3"
  tmux send-keys -t "$w" Enter
  ;;
capture)
  j=; [ "${4:-0}" = 1 ] && j=-J
  if [ "$3" = 1 ]; then tmux capture-pane -p $j -S - -t "$w"; else tmux capture-pane -p $j -t "$w"; fi
  ;;
enter)
  tmux send-keys -t "$w" Enter
  ;;
probe)
  tmux list-panes -t "$w" -F '#{pane_pid} #{pane_current_command}' 2>/dev/null | head -n 1
  echo @@MNGR_PS
  ps -e -o pid=,ppid=,comm= 2>/dev/null || true
  if [ "$3" = 1 ]; then echo @@MNGR_PANE; tmux capture-pane -p -t "$w"; fi
  ;;
*)
  echo "pane.sh: unknown action '$1'" >&2
  exit 2
  ;;
esac
