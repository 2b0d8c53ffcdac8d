#!/bin/sh
# Written by mngr: keeps containers away from the cloud's instance metadata
# service (169.254.169.254, which hands out the VM's managed-identity token)
# and WireServer (168.63.129.16), while the VM's own processes keep both.
# Run before and after dockerd starts (a drop-in of docker.service), so at
# every boot and every docker restart. Idempotent.
#  - FORWARD, through Docker's DOCKER-USER chain (which dockerd jumps to
#    first and never flushes): a container's packets to those addresses
#    when they are not local (as on Azure);
#  - INPUT: packets to them arriving on any interface but lo, for when they
#    are local addresses of the VM (a container's packet then never crosses
#    FORWARD).
# The VM's own processes reach them through OUTPUT (Azure) or lo (local).
set -eu
if ! command -v iptables >/dev/null 2>&1; then
  echo "mngr-metadata-firewall: iptables is not installed yet" >&2
  exit 1
fi
chain=MNGR-METADATA
# Rules are added when missing, never flushed and rebuilt: a container
# dockerd restarts meanwhile never sees the chain empty.
rule() { iptables -w -C "$@" 2>/dev/null || iptables -w -A "$@"; }
iptables -w -N "$chain" 2>/dev/null || true
for addr in 169.254.169.254 168.63.129.16; do
  rule "$chain" -d "$addr" -p tcp -j REJECT --reject-with tcp-reset
  rule "$chain" -d "$addr" -j REJECT
done
iptables -w -N DOCKER-USER 2>/dev/null || true
iptables -w -C DOCKER-USER -j "$chain" 2>/dev/null || iptables -w -I DOCKER-USER 1 -j "$chain"
iptables -w -C INPUT ! -i lo -j "$chain" 2>/dev/null || iptables -w -I INPUT 1 ! -i lo -j "$chain"
# Without dockerd's own jump (before its first start), FORWARD goes to
# DOCKER-USER too; dockerd adds its jump at the top later and keeps ours.
iptables -w -C FORWARD -j DOCKER-USER 2>/dev/null || iptables -w -I FORWARD 1 -j DOCKER-USER
