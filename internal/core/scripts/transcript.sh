# transcript.sh TYPE SESSION_ID NEEDLE
# Prints the lines of an agent CLI's own session record, oldest first, with
# the agent's env files already loaded: for claude the session file
# ${CLAUDE_CONFIG_DIR:-~/.claude}/projects/*/SESSION_ID.jsonl, for codex
# every ${CODEX_HOME:-~/.codex}/sessions/**/rollout-*.jsonl (the agent's
# own CODEX_HOME). With NEEDLE not empty, only the lines holding it.
case $1 in
claude) dir=${CLAUDE_CONFIG_DIR:-$HOME/.claude}/projects; pat=$2.jsonl ;;
codex) dir=${CODEX_HOME:-$HOME/.codex}/sessions; pat='rollout-*.jsonl' ;;
*) echo "transcript.sh: no transcript for agent type '$1'" >&2; exit 2 ;;
esac
[ -d "$dir" ] || exit 0
find "$dir" -name "$pat" -type f 2>/dev/null | sort | while IFS= read -r f; do
  if [ -n "$3" ]; then grep -F -- "$3" "$f" || true; else cat "$f"; echo; fi
done
exit 0
