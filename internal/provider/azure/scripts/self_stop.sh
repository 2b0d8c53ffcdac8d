#!/bin/sh
# mngr: deallocate this VM through mngr's user-assigned managed identity.
# self_stop.sh ENDPOINT TOKEN_URL ID_URL API_VERSION (bound by the set line
# above): gets a token from TOKEN_URL and this VM's resource id from ID_URL
# (the instance metadata service), then POSTs
# ENDPOINT<id>/deallocate?api-version=API_VERSION on Resource Manager.
# Needs mngr's self-deallocate role assigned to that identity (prepare does).
set -u
endpoint=$1 token_url=$2 id_url=$3 api_version=$4
log() { logger -t mngr-self-stop "$*"; echo "mngr-self-stop: $*" >&2; }
out=$(mktemp) || exit 1
trap 'rm -f "$out"' EXIT
if ! curl -fsS --max-time 20 -H Metadata:true -o "$out" "$token_url"; then
  log "no managed-identity token from the instance metadata service"
  exit 1
fi
token=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["access_token"])' "$out") || {
  log "the instance metadata service answered without an access token"
  exit 1
}
id=$(curl -fsS --max-time 20 -H Metadata:true "$id_url") || {
  log "no resource id from the instance metadata service"
  exit 1
}
# The token goes to curl on its standard input (a curl config line), never
# on its command line, which every user of the VM can read in ps.
code=$(printf 'header = "Authorization: Bearer %s"\n' "$token" |
  curl --config - -sS --max-time 120 -o "$out" -w '%{http_code}' -X POST -H 'Content-Length: 0' \
  "$endpoint$id/deallocate?api-version=$api_version")
case $code in
  200|202) log "deallocation of $id accepted (HTTP $code)"; exit 0 ;;
esac
log "deallocation of $id refused (HTTP $code): $(head -c 600 "$out")"
exit 1
