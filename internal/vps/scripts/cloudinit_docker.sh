# cloudinit_docker.sh DOCKER_VERSION KEY_FINGERPRINT
# A cloud-init step: unless docker is installed, installs docker-ce
# DOCKER_VERSION from Docker's apt repository, whose signing key must have
# the fingerprint KEY_FINGERPRINT; then enables and starts docker.
docker_version=$1 key_fingerprint=$2
if ! command -v docker >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  . /etc/os-release
  DOCKER_APT_VERSION="5:$docker_version-1~${ID}.${VERSION_ID}~${VERSION_CODENAME}"
  install -m 0755 -d /etc/apt/keyrings
  curl -fsSL "https://download.docker.com/linux/${ID}/gpg" -o /etc/apt/keyrings/docker.asc
  fprs=$(gpg --show-keys --with-colons /etc/apt/keyrings/docker.asc | awk -F: '$1 == "fpr" { print $10 }')
  if [ "$fprs" != "$key_fingerprint" ]; then
    echo "docker apt key has fingerprint(s) $fprs, want $key_fingerprint" >&2
    rm -f /etc/apt/keyrings/docker.asc
    exit 1
  fi
  chmod a+r /etc/apt/keyrings/docker.asc
  echo "deb [arch=$(dpkg --print-architecture) signed-by=/etc/apt/keyrings/docker.asc] https://download.docker.com/linux/${ID} ${VERSION_CODENAME} stable" > /etc/apt/sources.list.d/docker.list
  apt-get update
  apt-get install -y --allow-downgrades docker-ce="${DOCKER_APT_VERSION}" docker-ce-cli="${DOCKER_APT_VERSION}" containerd.io docker-buildx-plugin docker-compose-plugin
fi
systemctl enable docker >/dev/null 2>&1 || true
systemctl start docker
