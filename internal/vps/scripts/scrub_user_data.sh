#!/bin/sh
# Written by mngr: removes this VM's user data, which holds its private ssh
# host key, from every place cloud-init and Azure's provisioning leave it
# (sshd keeps its own copy in /etc/ssh). Run after cloud-final at every boot,
# since cloud-init writes its copies again at each boot.
#  - the plain copies in each instance directory are shredded;
#  - the CustomData of Azure's provisioning document
#    (/var/lib/waagent/ovf-env.xml) is blanked in place: cloud-init reads that
#    file again at reboot, so it stays, with empty custom data;
#  - the user data in cloud-init's pickled datasource (obj.pkl) is emptied in
#    place, so later boots restore an empty document from it; a cache that
#    cannot be rewritten is removed (cloud-init then reads its datasource
#    again, which by then holds no custom data on Azure).
for f in /var/lib/cloud/instances/*/user-data.txt /var/lib/cloud/instances/*/user-data.txt.i \
  /var/lib/cloud/instances/*/cloud-config.txt; do
  if [ -f "$f" ]; then shred -u "$f" 2>/dev/null || rm -f "$f"; fi
done
ovf=/var/lib/waagent/ovf-env.xml
if [ -f "$ovf" ] && grep -q 'CustomData>[^<]' "$ovf"; then
  python3 - "$ovf" <<'PY' || logger -t mngr-scrub "could not blank the custom data in $ovf"
import re, sys
path = sys.argv[1]
with open(path, "r+b") as f:
    text = f.read()
    blank = re.sub(rb"(<(?:[\w.-]+:)?CustomData\b[^>]*>)[^<]*(</(?:[\w.-]+:)?CustomData>)", rb"\1\2", text)
    # Overwrite in place (same inode, mode and owner), then cut the rest.
    f.seek(0)
    f.write(blank)
    f.truncate()
PY
fi
for pkl in /var/lib/cloud/instances/*/obj.pkl; do
  [ -f "$pkl" ] || continue
  python3 - "$pkl" <<'PY' && continue
import os, pickle, sys
path = sys.argv[1]
with open(path, "rb") as f:
    ds = pickle.load(f)
if getattr(ds, "userdata_raw", None) or getattr(ds, "userdata", None) is not None:
    ds.userdata_raw = b""
    ds.userdata = None
    data = pickle.dumps(ds)
    mode = os.stat(path).st_mode & 0o777
    with open(path, "r+b") as f:
        f.write(data)
        f.truncate()
    os.chmod(path, mode)
PY
  logger -t mngr-scrub "could not empty the user data in $pkl; removing it"
  shred -u "$pkl" 2>/dev/null || rm -f "$pkl"
done
exit 0
