#!/bin/sh
# Run by mngr-idle-watcher.service when the idle sentinel appears.
# idle_stop.sh SENTINEL SELF_STOP REFUSED FIRST MAX FOR (bound by the set
# line above): removes SENTINEL and runs the self-stop script SELF_STOP. A
# refused or failed self-stop is tried again after FIRST seconds, the wait
# doubling up to MAX seconds, until FOR seconds have passed since the first
# try (a role assignment takes minutes to take effect; 429 and 5xx pass).
# Each refusal is recorded in REFUSED as one line, "TIME<TAB>REASON", which
# `mngr list` shows; an accepted stop removes it. SELF_STOP's exit status
# says what happened: 0 accepted, 2 refused for want of a role (HTTP 403
# AuthorizationFailed), 3 the identity is missing (the VM has none, or
# Entra ID does not know it yet: PrincipalNotFound), 4 no answer or a
# transient error (429, 5xx); anything else is final and not retried.
# Its last line on stderr is the reason. It never powers the VM off.
sentinel=$1 selfstop=$2 refused=$3 delay=$4 maxwait=$5 retryfor=$6
rm -f "$sentinel"
start=$(date +%s)
attempt=0
errs=$(mktemp) || exit 0
trap 'rm -f "$errs"' EXIT
while :; do
  attempt=$((attempt + 1))
  "$selfstop" 2>"$errs"
  rc=$?
  if [ "$rc" -eq 0 ]; then
    rm -f "$refused"
    logger -t mngr-idle "self-stop requested (attempt $attempt)"
    exit 0
  fi
  case $rc in
    2) kind="refused: the VM's identity lacks the deallocate role (not yet effective, or removed)" ;;
    3) kind="refused: the VM's identity is missing or not yet known to Entra ID" ;;
    4) kind="failed: the cloud did not answer or was busy" ;;
    *) kind="failed" ;;
  esac
  # The script's own reason: its last line without a leading "tag: ",
  # printable characters only, bounded.
  detail=$(tail -n 1 "$errs" | tr -cd '[:print:]' | sed 's/^[A-Za-z0-9_.-]*: //' | cut -c1-300)
  now=$(date +%s)
  case $rc in
    2|3|4) [ $((now - start + delay)) -le "$retryfor" ] && next="retrying in ${delay}s" || next="gave up" ;;
    *) next="gave up" ;;
  esac
  if [ -n "$refused" ] && mkdir -p "$(dirname "$refused")"; then
    printf '%s\t%s (attempt %d, %s): %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$kind" "$attempt" "$next" "$detail" >"$refused.tmp" &&
      mv -f "$refused.tmp" "$refused"
  fi
  logger -t mngr-idle "self-stop $kind (exit $rc, attempt $attempt, $next); the VM keeps running"
  [ "$next" = "gave up" ] && exit 0
  sleep "$delay"
  delay=$((delay * 2))
  [ "$delay" -gt "$maxwait" ] && delay=$maxwait
done
