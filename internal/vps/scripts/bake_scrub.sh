#!/bin/sh
# Written by mngr: the last step on an image builder VM before it is
# generalized. It removes everything that belongs to this one VM or is
# secret, so that a VM made from the image boots as a new machine:
# ssh host keys, authorized keys, cloud-init's state, seed and logs (they
# hold the builder's user data), the Azure agent's state (ovf-env.xml holds
# the user data too), the machine id, shell histories, mngr's host dirs and
# mngr's units.
# What Docker, the agent image and the packages put on disk stays.
# Usage: bake_scrub.sh HOSTS_DIR
set -u
hosts_dir=$1
rm -f /etc/ssh/ssh_host_*
rm -f /root/.ssh/authorized_keys /home/*/.ssh/authorized_keys
if command -v cloud-init >/dev/null 2>&1; then
  # --seed fails where the seed is a read-only mount; the rest is cleaned then.
  cloud-init clean --logs --seed >/dev/null 2>&1 || cloud-init clean --logs >/dev/null 2>&1 || true
fi
rm -rf /var/lib/cloud/instances /var/lib/cloud/instance /var/lib/cloud/data /var/lib/cloud/sem
rm -f /var/log/cloud-init.log /var/log/cloud-init-output.log
if [ -d /var/lib/waagent ]; then find /var/lib/waagent -mindepth 1 -delete; fi
rm -rf "$hosts_dir"
# mngr's own units and scripts are per host: a create writes and enables
# them again. Left enabled in the image, the scrub unit would be in the
# first boot's transaction before cloud-init, whose ordering it joins.
for u in /etc/systemd/system/mngr-*.service /etc/systemd/system/mngr-*.path; do
  [ -e "$u" ] && systemctl disable "${u##*/}" >/dev/null 2>&1
done
rm -f /etc/systemd/system/mngr-*.service /etc/systemd/system/mngr-*.path /etc/systemd/system/*.wants/mngr-* /usr/local/sbin/mngr-*
rm -f /root/.bash_history /home/*/.bash_history /root/.lesshst /home/*/.lesshst
rm -f /var/lib/dbus/machine-id
: > /etc/machine-id
sync
