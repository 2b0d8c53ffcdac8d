# cloudinit_docker.sh INSTALL DOCKER_VERSION KEY_FINGERPRINT
# A cloud-init step: unless docker is installed, installs it, then enables
# and starts it. INSTALL is "debian" (Debian's own docker.io from the
# Debian archive the VM's apt already uses; the default) or "docker-ce"
# (docker-ce DOCKER_VERSION from Docker's apt repository, whose signing
# key's primary fingerprint must be KEY_FINGERPRINT; docker_apt_key_check
# comes from docker_apt_key.sh, put before this script).
install_mode=$1 docker_version=$2 key_fingerprint=$3
export DEBIAN_FRONTEND=noninteractive
if ! command -v docker >/dev/null 2>&1; then
  case "$install_mode" in
  debian)
    apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends docker.io
    ;;
  docker-ce)
    . /etc/os-release
    DOCKER_APT_VERSION="5:$docker_version-1~${ID}.${VERSION_ID}~${VERSION_CODENAME}"
    command -v gpg >/dev/null 2>&1 || apt-get -o DPkg::Lock::Timeout=300 install -y gnupg
    install -m 0755 -d /etc/apt/keyrings
    curl -fsSL "https://download.docker.com/linux/${ID}/gpg" -o /etc/apt/keyrings/docker.asc.new
    if ! docker_apt_key_check /etc/apt/keyrings/docker.asc.new "$key_fingerprint"; then
      rm -f /etc/apt/keyrings/docker.asc.new
      exit 1
    fi
    mv /etc/apt/keyrings/docker.asc.new /etc/apt/keyrings/docker.asc
    chmod a+r /etc/apt/keyrings/docker.asc
    echo "deb [arch=$(dpkg --print-architecture) signed-by=/etc/apt/keyrings/docker.asc] https://download.docker.com/linux/${ID} ${VERSION_CODENAME} stable" > /etc/apt/sources.list.d/docker.list
    apt-get -o DPkg::Lock::Timeout=300 update
    apt-get -o DPkg::Lock::Timeout=300 install -y --allow-downgrades docker-ce="${DOCKER_APT_VERSION}" docker-ce-cli="${DOCKER_APT_VERSION}" containerd.io docker-buildx-plugin docker-compose-plugin
    ;;
  *)
    echo "unknown docker install '$install_mode' (want debian or docker-ce)" >&2
    exit 1
    ;;
  esac
fi
systemctl enable docker >/dev/null 2>&1 || true
systemctl start docker
