// Package sshx is mngr's SSH layer: Ed25519 key files, pinned known_hosts,
// a connection pool over golang.org/x/crypto/ssh, and a core.Executor that
// runs scripts on a remote host. Host keys are only ever accepted when they
// are pinned in a known_hosts file: there is no trust-on-first-use.
package sshx

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/gofrs/flock"
	"golang.org/x/crypto/ssh"

	"github.com/mngr-azure/mngr/internal/core"
)

// EnsureKey makes sure an Ed25519 private key exists at path (mode 0600, in
// OpenSSH format) with its public half at path+".pub" (0644), generating both
// under a file lock when missing, and returns the public key in
// authorized_keys format (without a trailing newline).
//
// Ed25519 is used for every key, client keys included: generation is
// instantaneous (RSA-4096 takes seconds), keys are small, and every OpenSSH
// server mngr talks to (Debian 12 and later) accepts them.
func EnsureKey(path, comment string) (string, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("create key dir %q: %w", dir, err)
	}
	lock := flock.New(filepath.Join(dir, "."+filepath.Base(path)+".lock"))
	if err := lock.Lock(); err != nil {
		return "", fmt.Errorf("lock key %q: %w", path, err)
	}
	defer func() { _ = lock.Unlock() }()

	if _, err := os.Stat(path); err == nil {
		pub, err := ReadPublicKey(path)
		if err == nil {
			return pub, nil
		}
		// The private key exists but its .pub is missing or broken: rebuild it.
		signer, lerr := LoadSigner(path)
		if lerr != nil {
			return "", lerr
		}
		pub = authorizedLine(signer.PublicKey(), comment)
		if werr := writeFileAtomic(path+".pub", []byte(pub+"\n"), 0o644); werr != nil {
			return "", werr
		}
		return pub, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("stat key %q: %w", path, err)
	}

	pemText, pub, err := GenerateEd25519(comment)
	if err != nil {
		return "", err
	}
	if err := writeFileAtomic(path, pemText, 0o600); err != nil {
		return "", err
	}
	if err := writeFileAtomic(path+".pub", []byte(pub+"\n"), 0o644); err != nil {
		return "", err
	}
	return pub, nil
}

// GenerateEd25519 returns a new Ed25519 private key in OpenSSH PEM format and
// its public key as an authorized_keys line.
func GenerateEd25519(comment string) (privatePEM []byte, public string, err error) {
	pubKey, privKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, "", fmt.Errorf("generate ed25519 key: %w", err)
	}
	block, err := ssh.MarshalPrivateKey(privKey, comment)
	if err != nil {
		return nil, "", fmt.Errorf("encode ed25519 key: %w", err)
	}
	sshPub, err := ssh.NewPublicKey(pubKey)
	if err != nil {
		return nil, "", fmt.Errorf("encode ed25519 public key: %w", err)
	}
	return pem.EncodeToMemory(block), authorizedLine(sshPub, comment), nil
}

func authorizedLine(k ssh.PublicKey, comment string) string {
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k)))
	if comment != "" {
		line += " " + comment
	}
	return line
}

// ReadPublicKey reads path+".pub" and returns its first line, checked to be a
// valid public key.
func ReadPublicKey(path string) (string, error) {
	b, err := os.ReadFile(path + ".pub") //nolint:gosec // G304: path is mngr's own key file
	if err != nil {
		return "", fmt.Errorf("read public key %q: %w", path+".pub", err)
	}
	line := strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0])
	if _, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line)); err != nil {
		return "", fmt.Errorf("parse public key %q: %w", path+".pub", err)
	}
	return line, nil
}

// LoadSigner reads an unencrypted private key file.
func LoadSigner(path string) (ssh.Signer, error) {
	b, err := os.ReadFile(path) //nolint:gosec // G304: path is mngr's own key file
	if err != nil {
		return nil, fmt.Errorf("read private key %q: %w", path, err)
	}
	s, err := ssh.ParsePrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("parse private key %q: %w", path, err)
	}
	return s, nil
}

// writeFileAtomic is core.WriteFileAtomic (a temp file beside path,
// removed on failure; a full disk names its directory).
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	return core.WriteFileAtomic(path, data, mode)
}
