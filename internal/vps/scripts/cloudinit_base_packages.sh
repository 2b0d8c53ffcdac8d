# cloudinit_base_packages.sh
# A cloud-init step: refreshes apt's package lists (the image ships none,
# as Debian's cloud images do) and installs the packages a VM host needs
# that its image lacks (on Debian's Azure image: rsync, jq and
# inotify-tools; curl and ca-certificates are there).
export DEBIAN_FRONTEND=noninteractive
missing=""
command -v curl >/dev/null 2>&1 || missing="$missing curl"
command -v rsync >/dev/null 2>&1 || missing="$missing rsync"
command -v jq >/dev/null 2>&1 || missing="$missing jq"
command -v inotifywait >/dev/null 2>&1 || missing="$missing inotify-tools"
[ -f /etc/ssl/certs/ca-certificates.crt ] || missing="$missing ca-certificates"
apt-get -o DPkg::Lock::Timeout=300 update
if [ -n "$missing" ]; then
  apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends $missing
fi
