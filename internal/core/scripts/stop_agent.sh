# stop_agent.sh SESSION AGENT_ID
# Ends tmux session SESSION: TERM to its pane processes, their descendants
# and any process whose environment holds MNGR_AGENT_ID=AGENT_ID (never this
# script's own ancestors), KILL to survivors after 1 s, then kill-session.
# Exits 6 (exitProcsRemain) naming any process that survived.
S=$1
tag="MNGR_AGENT_ID=$2"
roots=$(tmux list-panes -s -t "=$S:" -F '#{pane_pid}' 2>/dev/null || true)
tagged=$(grep -lzx -- "$tag" /proc/[0-9]*/environ 2>/dev/null | sed -n 's|^/proc/\([0-9]*\)/environ$|\1|p' || true)
victims=$(ps -e -o pid=,ppid= | awk -v roots="$roots $tagged" -v self=$$ '
  { pp[$1] = $2; kids[$2] = kids[$2] " " $1 }
  END {
    a = self
    for (i = 0; i < 256 && a > 1; i++) { anc[a] = 1; a = pp[a] }
    n = split(roots, r, " "); tail = 0
    for (i = 1; i <= n; i++) if ((r[i] in pp) && !(r[i] in mark)) { mark[r[i]] = 1; q[++tail] = r[i] }
    for (head = 1; head <= tail; head++) {
      m = split(kids[q[head]], c, " ")
      for (j = 1; j <= m; j++) if (!(c[j] in mark)) { mark[c[j]] = 1; q[++tail] = c[j] }
    }
    for (p in mark) if (!(p in anc)) print p
  }')
alive=""
if [ -n "$victims" ]; then
  kill -TERM $victims 2>/dev/null || true
  i=0
  while [ $i -lt 10 ]; do
    alive=$(ps -o pid=,stat= -p "$(echo $victims | tr ' ' ,)" 2>/dev/null | awk '$2 !~ /^Z/ { print $1 }')
    [ -z "$alive" ] && break
    sleep 0.1; i=$((i+1))
  done
  if [ -n "$alive" ]; then
    kill -KILL $alive 2>/dev/null || true
    i=0
    while [ $i -lt 20 ]; do
      alive=$(ps -o pid=,stat= -p "$(echo $alive | tr ' ' ,)" 2>/dev/null | awk '$2 !~ /^Z/ { print $1 }')
      [ -z "$alive" ] && break
      sleep 0.1; i=$((i+1))
    done
  fi
fi
tmux kill-session -t "=$S" 2>/dev/null || true
if [ -n "$alive" ]; then echo "processes remain:" $alive >&2; exit 6; fi
exit 0
