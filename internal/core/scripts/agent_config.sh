# agent_config.sh ACTION ARGS...
# Prepares an agent CLI's config on the host so it opens at its input prompt
# with no first-run dialog. Runs with the agent's env files loaded, so
# CLAUDE_CONFIG_DIR, CODEX_HOME, HOME and the API keys are the agent's own.
# Secrets never appear in its arguments: a key is read from the environment
# or from stdin. ACTION is one of:
#   claude-read WORK_DIR SETTINGS_FILE SETTINGS_JSON
#       writes SETTINGS_FILE (the agent's hook settings), then prints the
#       path of claude's state file (.claude.json), the work dir's real
#       path, the last 20 characters of ANTHROPIC_API_KEY, the per-agent
#       config dir (or -), whether its settings.json and .credentials.json
#       exist (1/0), the file's cksum (or -), @@MNGR_FILE and the file
#   claude-write FILE CKSUM LOCK
#       replaces FILE with stdin (0600, a temp file and a rename) under a
#       flock on LOCK, only when FILE's cksum is still CKSUM; exits 10 when
#       it changed meanwhile (exitConfigChanged)
#   put-new FILE
#       writes stdin to FILE (0600) when FILE does not exist
#   codex WORK_DIR COPY_USER
#       makes $CODEX_HOME (0700): config.toml with the work dir (and its git
#       top level) trusted and the update check off, auth.json (0600) from
#       OPENAI_API_KEY, openai_base_url from OPENAI_BASE_URL; with COPY_USER 1
#       the user's ~/.codex/config.toml and (without a key) auth.json are the
#       starting point
set -e
case $1 in
claude-read)
  if [ -n "${CLAUDE_CONFIG_DIR:-}" ]; then
    mkdir -p "$CLAUDE_CONFIG_DIR"; chmod 700 "$CLAUDE_CONFIG_DIR"
    f=$CLAUDE_CONFIG_DIR/.claude.json; cd_=$CLAUDE_CONFIG_DIR
  else
    f=$HOME/.claude.json; cd_=-
  fi
  tmp="$3.tmp.$$"; printf '%s' "$4" > "$tmp"; mv -f "$tmp" "$3"
  printf '%s\n' "$f"
  (cd "$2" 2>/dev/null && pwd -P) || printf '%s\n' "$2"
  printf '%s' "${ANTHROPIC_API_KEY:-}" | tail -c 20; echo
  printf '%s\n' "$cd_"
  s=0; c=0
  if [ "$cd_" != - ]; then [ -f "$cd_/settings.json" ] && s=1; [ -f "$cd_/.credentials.json" ] && c=1; fi
  echo "$s $c"
  if [ -f "$f" ]; then cksum < "$f"; else echo -; fi
  echo @@MNGR_FILE
  if [ -f "$f" ]; then cat "$f"; fi
  ;;
claude-write)
  f=$2
  [ -L "$f" ] && f=$(readlink -f "$f")
  mkdir -p "${f%/*}"
  exec 9>>"$4"
  if command -v flock >/dev/null 2>&1; then flock -w 10 9 || { echo "could not lock $4" >&2; exit 10; }; fi
  now=-; [ -f "$f" ] && now=$(cksum < "$f")
  [ "$now" = "$3" ] || exit 10
  tmp="$f.mngr-tmp.$$"
  (umask 077 && cat > "$tmp") && mv -f "$tmp" "$f"
  ;;
put-new)
  [ -e "$2" ] && { cat >/dev/null; exit 0; }
  tmp="$2.tmp.$$"
  (umask 077 && cat > "$tmp") && mv -f "$tmp" "$2"
  ;;
codex)
  ch=${CODEX_HOME:?CODEX_HOME is not set}
  mkdir -p "$ch"; chmod 700 "$ch"
  cfg=$ch/config.toml
  if [ ! -f "$cfg" ] && [ "$3" = 1 ] && [ -f "$HOME/.codex/config.toml" ]; then cp "$HOME/.codex/config.toml" "$cfg"; fi
  touch "$cfg"
  if ! grep -q '^check_for_update_on_startup' "$cfg"; then
    { echo 'check_for_update_on_startup = false'; cat "$cfg"; } > "$cfg.tmp.$$"; mv -f "$cfg.tmp.$$" "$cfg"
  fi
  # codex (0.153.3) takes its API endpoint from openai_base_url in its
  # config only; OPENAI_BASE_URL in the environment is ignored, and codex
  # would call api.openai.com. The agent's OPENAI_BASE_URL becomes that key
  # (a top-level one the agent's env set before is replaced).
  u=${OPENAI_BASE_URL:-}
  case $u in
  '') ;;
  *[!A-Za-z0-9:/._~%@+=,-]*) echo 'OPENAI_BASE_URL has characters a URL here may not have; codex keeps its default endpoint' >&2 ;;
  *)
    awk -v u="$u" 'BEGIN { print "openai_base_url = \"" u "\"" } /^\[/ { t = 1 } t || $0 !~ /^openai_base_url[ \t]*=/' "$cfg" > "$cfg.tmp.$$"
    mv -f "$cfg.tmp.$$" "$cfg"
    ;;
  esac
  wd=$(cd "$2" 2>/dev/null && pwd -P) || wd=$2
  top=$(git -C "$wd" rev-parse --show-toplevel 2>/dev/null) || top=
  for d in "$wd" $top; do
    grep -qF "[projects.\"$d\"]" "$cfg" || printf '\n[projects."%s"]\ntrust_level = "trusted"\n' "$d" >> "$cfg"
  done
  k=${OPENAI_API_KEY:-}
  case $k in
  '') if [ ! -f "$ch/auth.json" ] && [ "$3" = 1 ] && [ -f "$HOME/.codex/auth.json" ]; then (umask 077 && cp "$HOME/.codex/auth.json" "$ch/auth.json"); fi ;;
  *[!A-Za-z0-9_.-]*) echo 'OPENAI_API_KEY has characters an OpenAI key does not have; codex will ask you to sign in' >&2 ;;
  *) (umask 077 && printf '{"auth_mode":"apikey","OPENAI_API_KEY":"%s"}\n' "$k" > "$ch/auth.json.tmp.$$") && mv -f "$ch/auth.json.tmp.$$" "$ch/auth.json" ;;
  esac
  ;;
*)
  echo "agent_config.sh: unknown action '$1'" >&2
  exit 2
  ;;
esac
