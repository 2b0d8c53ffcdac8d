# container_ssh.sh HOST_DIR CLIENT_KEY_PUB HOST_KEY HOST_KEY_PUB
# Runs in the agent container, read on stdin (sh -s) so the keys stay off
# every argv. Installs the packages an agent host needs that are missing,
# links HOST_DIR to the volume's host_dir, authorizes mngr's client key
# CLIENT_KEY_PUB for root and installs the container's ed25519 host key
# (HOST_KEY, its PEM, and HOST_KEY_PUB) as sshd's only host key.
set -e
missing=""
[ -f /etc/ssl/certs/ca-certificates.crt ] || missing="$missing ca-certificates"
[ -x /usr/sbin/sshd ] || missing="$missing openssh-server"
for c in tmux curl rsync git jq; do command -v "$c" >/dev/null 2>&1 || missing="$missing $c"; done
command -v xxd >/dev/null 2>&1 || missing="$missing xxd"
if [ -n "$missing" ]; then
  echo "MNGR_WARN: installing missing packages:$missing" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq $missing
fi
mkdir -p /run/sshd /mngr-vol/host_dir
if [ ! -L "$1" ]; then rm -rf "$1"; fi
ln -sfn /mngr-vol/host_dir "$1"
mkdir -p /root/.ssh
chmod 700 /root/.ssh
printf '%s\n' "$2" > /root/.ssh/authorized_keys
chmod 600 /root/.ssh/authorized_keys
rm -f /etc/ssh/ssh_host_*
umask 077
printf '%s' "$3" > /etc/ssh/ssh_host_ed25519_key
printf '%s\n' "$4" > /etc/ssh/ssh_host_ed25519_key.pub
chmod 600 /etc/ssh/ssh_host_ed25519_key
chmod 644 /etc/ssh/ssh_host_ed25519_key.pub
