#!/bin/sh
# mngr: deallocate this VM through mngr's user-assigned managed identity.
# self_stop.sh ENDPOINT TOKEN_URL ID_URL API_VERSION (bound by the set line
# above): gets a token from TOKEN_URL and this VM's resource id from ID_URL
# (the instance metadata service), then POSTs
# ENDPOINT<id>/deallocate?api-version=API_VERSION on Resource Manager.
# Needs mngr's self-deallocate role assigned to that identity (prepare does).
# Exit status (the idle stop retries 2, 3 and 4): 0 accepted; 2 refused for
# want of a role (403 AuthorizationFailed); 3 the identity is missing (IMDS
# has none of that name, or Resource Manager answers PrincipalNotFound);
# 4 no answer, 429 or 5xx; 1 anything else. The last line on stderr says why.
set -u
endpoint=$1 token_url=$2 id_url=$3 api_version=$4
log() { logger -t mngr-self-stop "$*"; echo "mngr-self-stop: $*" >&2; }
out=$(mktemp) || exit 1
trap 'rm -f "$out"' EXIT
tcode=$(curl -sS --max-time 20 -H Metadata:true -o "$out" -w '%{http_code}' "$token_url")
case $tcode in
  200) ;;
  400|404)
    log "no managed-identity token from the instance metadata service (HTTP $tcode, the VM has no such identity): $(head -c 300 "$out")"
    exit 3 ;;
  *)
    log "no managed-identity token from the instance metadata service (HTTP ${tcode:-000})"
    exit 4 ;;
esac
token=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["access_token"])' "$out") || {
  log "the instance metadata service answered without an access token"
  exit 1
}
id=$(curl -fsS --max-time 20 -H Metadata:true "$id_url") || {
  log "no resource id from the instance metadata service"
  exit 4
}
# The token goes to curl on its standard input (a curl config line), never
# on its command line, which every user of the VM can read in ps.
code=$(printf 'header = "Authorization: Bearer %s"\n' "$token" |
  curl --config - -sS --max-time 120 -o "$out" -w '%{http_code}' -X POST -H 'Content-Length: 0' \
  "$endpoint$id/deallocate?api-version=$api_version")
case $code in
  200|202) log "deallocation of $id accepted (HTTP $code)"; exit 0 ;;
esac
body=$(head -c 600 "$out" | tr -d '\n')
ecode=$(printf '%s' "$body" | sed -n 's/.*"code" *: *"\([A-Za-z0-9._]*\)".*/\1/p')
log "deallocation of $id refused (HTTP $code): $body"
log "Resource Manager answered HTTP $code${ecode:+ $ecode}"
case $code in
  401|403)
    case $body in
      *PrincipalNotFound*|*InvalidAuthenticationToken*) exit 3 ;;
    esac
    exit 2 ;;
  000|408|429|5??) exit 4 ;;
esac
exit 1
