# cloudinit_base_packages.sh
# A cloud-init step: installs the packages a VM host needs that its image
# lacks (curl, rsync, jq, gnupg, inotify-tools, ca-certificates).
missing=""
command -v curl >/dev/null 2>&1 || missing="$missing curl"
command -v rsync >/dev/null 2>&1 || missing="$missing rsync"
command -v jq >/dev/null 2>&1 || missing="$missing jq"
command -v gpg >/dev/null 2>&1 || missing="$missing gnupg"
command -v inotifywait >/dev/null 2>&1 || missing="$missing inotify-tools"
[ -f /etc/ssl/certs/ca-certificates.crt ] || missing="$missing ca-certificates"
if [ -n "$missing" ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y $missing
fi
