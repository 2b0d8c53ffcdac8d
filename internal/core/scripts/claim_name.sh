# claim_name.sh HOST_DIR NAME ID FRESH_SECONDS [release]
# Claims agent name NAME on this host for agent ID. Under the host's name
# lock (flock on HOST_DIR/names/.lock, or a lock directory where flock is
# missing) it writes ID to HOST_DIR/names/NAME unless another agent holds
# the name: one whose record (HOST_DIR/agents/ID/data.json) exists, or
# whose claim is younger than FRESH_SECONDS (its create still runs). With
# "release" it removes the claim instead, when ID holds it.
# Prints the holder's id and exits 17 (exitNameTaken) when the name is
# held; exits 9 (exitLockBusy) when the lock is not had within 30 s.
dir=$1/names f=$1/names/$2
mkdir -p "$dir" || exit 1
if command -v flock >/dev/null 2>&1; then
  exec 9>"$dir/.lock"
  flock -w 30 9 || exit 9
else
  i=0
  until mkdir "$dir/.lockdir" 2>/dev/null; do
    i=$((i+1))
    [ $i -lt 300 ] || exit 9
    # A lock directory older than a minute was left by a killed create.
    if [ -n "$(find "$dir/.lockdir" -maxdepth 0 -mmin +1 2>/dev/null)" ]; then rmdir "$dir/.lockdir" 2>/dev/null; fi
    sleep 0.1
  done
  trap 'rmdir "$dir/.lockdir" 2>/dev/null' EXIT
fi
held=$(cat "$f" 2>/dev/null)
if [ "${5:-}" = release ]; then
  [ "$held" = "$3" ] && rm -f "$f"
  exit 0
fi
if [ -n "$held" ] && [ "$held" != "$3" ]; then
  if [ -f "$1/agents/$held/data.json" ]; then echo "$held"; exit 17; fi
  age=$(( $(date +%s) - $(stat -c %Y "$f" 2>/dev/null || echo 0) ))
  if [ "$age" -lt "$4" ]; then echo "$held"; exit 17; fi
fi
printf '%s\n' "$3" > "$f.$$" && mv -f "$f.$$" "$f"
