package sshx

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/gofrs/flock"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// HostPattern returns the known_hosts host field for host and port: the bare
// host for port 22, "[host]:port" otherwise.
func HostPattern(host string, port int) string {
	if port == 22 {
		return host
	}
	return "[" + host + "]:" + strconv.Itoa(port)
}

// PinHostKey records pubKey (an authorized_keys style "type base64 [comment]"
// line) as the only key of host:port in the known_hosts file. Under a file
// lock: when the exact line is present nothing changes; otherwise lines for
// the same host and key type are dropped, the new line is appended, and the
// file is synced.
func PinHostKey(file, host string, port int, pubKey string) error {
	fields := strings.Fields(pubKey)
	if len(fields) < 2 {
		return fmt.Errorf("pin host key for %s: malformed public key %q", HostPattern(host, port), pubKey)
	}
	if _, _, _, _, err := ssh.ParseAuthorizedKey([]byte(pubKey)); err != nil {
		return fmt.Errorf("pin host key for %s: %w", HostPattern(host, port), err)
	}
	pat := HostPattern(host, port)
	line := pat + " " + fields[0] + " " + fields[1]
	return editKnownHosts(file, func(lines []string) ([]string, bool) {
		for _, l := range lines {
			if l == line {
				return lines, false
			}
		}
		out := lines[:0:0]
		for _, l := range lines {
			if !strings.HasPrefix(l, pat+" "+fields[0]+" ") {
				out = append(out, l)
			}
		}
		return append(out, line), true
	})
}

// UnpinHost drops every known_hosts line for host:port.
func UnpinHost(file, host string, port int) error {
	pat := HostPattern(host, port)
	return editKnownHosts(file, func(lines []string) ([]string, bool) {
		out := lines[:0:0]
		for _, l := range lines {
			if !strings.HasPrefix(l, pat+" ") {
				out = append(out, l)
			}
		}
		return out, len(out) != len(lines)
	})
}

// UnpinKey drops every known_hosts line, whatever its host, that pins pubKey
// (an authorized_keys style line; its comment is ignored). When each host has
// keys of its own, that is every pin of one host, at its current address and
// at any earlier one.
func UnpinKey(file, pubKey string) error {
	fields := strings.Fields(pubKey)
	if len(fields) < 2 {
		return fmt.Errorf("unpin host key: malformed public key %q", pubKey)
	}
	return editKnownHosts(file, func(lines []string) ([]string, bool) {
		out := lines[:0:0]
		for _, l := range lines {
			if !pinsKey(l, fields[0], fields[1]) {
				out = append(out, l)
			}
		}
		return out, len(out) != len(lines)
	})
}

// pinsKey reports whether the known_hosts line holds the key typ b64.
func pinsKey(line, typ, b64 string) bool {
	f := strings.Fields(line)
	for i := 0; i+1 < len(f); i++ {
		if f[i] == typ && f[i+1] == b64 {
			return true
		}
	}
	return false
}

func editKnownHosts(file string, edit func([]string) ([]string, bool)) error {
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return fmt.Errorf("create known_hosts dir: %w", err)
	}
	lock := flock.New(filepath.Join(filepath.Dir(file), "."+filepath.Base(file)+".lock"))
	if err := lock.Lock(); err != nil {
		return fmt.Errorf("lock known_hosts %q: %w", file, err)
	}
	defer func() { _ = lock.Unlock() }()
	b, err := os.ReadFile(file) //nolint:gosec // G304: mngr's own known_hosts file
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("read known_hosts %q: %w", file, err)
	}
	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.TrimSpace(l) != "" {
			lines = append(lines, l)
		}
	}
	out, changed := edit(lines)
	if !changed {
		return nil
	}
	text := strings.Join(out, "\n")
	if text != "" {
		text += "\n"
	}
	return writeFileAtomic(file, []byte(text), 0o600)
}

// HostKeyCallback returns a callback that accepts only the keys pinned in
// the known_hosts files; an unknown or changed key is refused.
func HostKeyCallback(files ...string) (ssh.HostKeyCallback, error) {
	for _, f := range files {
		if _, err := os.Stat(f); err != nil {
			return nil, fmt.Errorf("known_hosts %q: %w", f, err)
		}
	}
	cb, err := knownhosts.New(files...)
	if err != nil {
		return nil, fmt.Errorf("load known_hosts %v: %w", files, err)
	}
	return func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		if err := cb(hostname, remote, key); err != nil {
			return fmt.Errorf("host key of %s is not the pinned one (refusing to connect): %w", hostname, err)
		}
		return nil
	}, nil
}
