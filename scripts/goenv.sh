# Sourced by the build and test scripts: which Go toolchain builds, tests and
# scans mngr. Go 1.26.8 (the go line of go.mod, and what a Debian 12 build box
# may have) ships standard-library flaws that govulncheck finds reachable from
# mngr (net/http, crypto/tls, crypto/x509); go1.27.3 has their fixes. The go
# command fetches that toolchain through the module proxy on first use
# (about 76 MB). MNGR_GO_TOOLCHAIN=local keeps the machine's own Go.
export GOTOOLCHAIN="${MNGR_GO_TOOLCHAIN:-go1.27.3}"
