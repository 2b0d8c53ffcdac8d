#!/bin/sh
# Written by mngr: shreds cloud-init's copies of this VM's user data, which
# hold its private ssh host key (sshd keeps its own copy in /etc/ssh).
for f in /var/lib/cloud/instances/*/user-data.txt /var/lib/cloud/instances/*/user-data.txt.i \
  /var/lib/cloud/instances/*/cloud-config.txt; do
  if [ -f "$f" ]; then shred -u "$f" 2>/dev/null || rm -f "$f"; fi
done
exit 0
