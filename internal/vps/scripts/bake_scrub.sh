#!/bin/sh
# Written by mngr: the last step on an image builder VM before it is
# generalized. It removes everything that belongs to this one VM or is
# secret, so that a VM made from the image boots as a new machine:
# ssh host keys, authorized keys, cloud-init's state, seed and logs (they
# hold the builder's user data), the Azure agent's state (ovf-env.xml holds
# the user data too), the machine id, shell histories, mngr's host dirs and
# mngr's units, the admin user cloud-init made from the builder's user
# data (as `waagent -deprovision+user` does: a create's cloud-init makes it
# again with that create's key) and the DHCP leases.
# What Docker, the agent image and the packages put on disk stays.
# Usage: bake_scrub.sh HOSTS_DIR [ADMIN_USER]
set -u
hosts_dir=$1
admin=${2:-}
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
if [ -n "$admin" ] && [ "$admin" != root ] && uid=$(id -u "$admin" 2>/dev/null) && [ "$uid" -ge 1000 ]; then
  pkill -KILL -u "$admin" >/dev/null 2>&1 || true
  userdel --force --remove "$admin" >/dev/null 2>&1 || userdel --force "$admin" || exit 1
  rm -rf "/home/$admin"
fi
rm -f /etc/sudoers.d/90-cloud-init-users
rm -f /var/lib/dhcp/*.leases /var/lib/dhclient/*.leases /var/lib/systemd/network/*.lease 2>/dev/null
rm -f /var/lib/dbus/machine-id
: > /etc/machine-id
sync
