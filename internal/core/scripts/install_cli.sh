# install_cli.sh HOST_ENV AGENT_ENV LOG PACKAGE CLI
# Installs an agent CLI: npm install -g PACKAGE, after installing nodejs and
# npm with apt-get (no recommends: no compilers) when npm is missing, as root or through sudo -n, with the
# env files HOST_ENV and AGENT_ENV loaded (a proxy or npm registry set there
# applies), then checks that CLI is on PATH. Everything but a short list of
# variables an installer needs (PATH, HOME, locale, proxies, npm's own
# settings, CA files) is dropped from the environment first, so the user's
# secrets (an API key passed to the agent) never reach apt-get, npm or a
# package's install script (core.InstallerEnvAllowed is the same list). The package managers' output
# goes to LOG; on failure its last lines go to stderr and the exit status is
# 8 (exitInstallFailed).
set -a; if [ -f "$1" ]; then . "$1"; fi; if [ -f "$2" ]; then . "$2"; fi; set +a
for v in $(env | sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*\)=.*/\1/p'); do
  case $v in
  PATH|HOME|USER|LOGNAME|LANG|LC_*|TMPDIR|TERM|http_proxy|https_proxy|HTTP_PROXY|HTTPS_PROXY|no_proxy|NO_PROXY|npm_config_*|NPM_CONFIG_*|NODE_EXTRA_CA_CERTS|SSL_CERT_FILE|SSL_CERT_DIR) ;;
  *) unset "$v" 2>/dev/null || true ;;
  esac
done
log=$3
pkg=$4
cli=$5
mkdir -p "${log%/*}"
S=; [ "$(id -u)" = 0 ] || S="sudo -n"
fail() { printf '%s; the last lines of %s:\n' "$1" "$log" >&2; tail -n 20 "$log" >&2; exit 8; }
if ! command -v npm >/dev/null 2>&1; then
  command -v apt-get >/dev/null 2>&1 || { echo 'npm is missing and this host has no apt-get to install it' >&2; exit 8; }
  $S env DEBIAN_FRONTEND=noninteractive apt-get update -qq >>"$log" 2>&1 || fail 'apt-get update failed'
  $S env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >>"$log" 2>&1 || fail 'apt-get install nodejs npm failed'
fi
$S npm install -g --no-fund --no-audit --no-update-notifier "$pkg" >>"$log" 2>&1 || fail "npm install -g $pkg failed"
command -v "$cli" >/dev/null 2>&1 || { echo "$pkg was installed but $cli is not on PATH" >&2; exit 8; }
