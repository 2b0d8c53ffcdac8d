# docker_apt_key.sh defines docker_apt_key_check KEY_FILE WANT_FINGERPRINT:
# it succeeds when the primary key of the armored OpenPGP key KEY_FILE has
# the fingerprint WANT_FINGERPRINT (40 hex digits, any case), and otherwise
# prints what it found and fails. Only the primary key counts: Docker's key
# carries a signing subkey, whose fingerprint `gpg --with-colons` prints as
# a second fpr record after its sub record.
docker_apt_key_check() {
  _key_file=$1
  _want=$(printf '%s' "$2" | tr 'a-f' 'A-F')
  _got=$(gpg --batch --show-keys --with-colons "$_key_file" 2>/dev/null |
    awk -F: '$1 == "pub" { n++; primary = (n == 1) } $1 == "sub" { primary = 0 } $1 == "fpr" && primary && !seen { print $10; seen = 1 }')
  _pubs=$(gpg --batch --show-keys --with-colons "$_key_file" 2>/dev/null | grep -c '^pub:' || true)
  if [ "$_pubs" != 1 ]; then
    echo "docker apt key: want exactly one primary key in $_key_file, found ${_pubs:-0}" >&2
    return 1
  fi
  if [ -z "$_got" ] || [ "$_got" != "$_want" ]; then
    echo "docker apt key: primary key fingerprint is ${_got:-unreadable}, want $_want" >&2
    return 1
  fi
}
