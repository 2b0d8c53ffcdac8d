package sshx

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestEnsureKeyModesUnderOpenUmask checks that a key written under a
// permissive umask (0) is still 0600 in a 0700 directory (every directory
// level EnsureKey creates), that rebuilding a lost .pub leaves the private key
// 0600, and that a pinned known_hosts file is 0600 in a 0700 directory.
func TestEnsureKeyModesUnderOpenUmask(t *testing.T) {
	old := syscall.Umask(0)
	t.Cleanup(func() { syscall.Umask(old) })
	base := t.TempDir()
	key := filepath.Join(base, "a", "b", "id_ed25519")
	pub, err := EnsureKey(key, "c")
	if err != nil {
		t.Fatal(err)
	}
	wantMode := func(p string, want os.FileMode) {
		t.Helper()
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := st.Mode().Perm(); got != want {
			t.Errorf("%s has mode %o, want %o", p, got, want)
		}
	}
	wantMode(key, 0o600)
	wantMode(key+".pub", 0o644)
	wantMode(filepath.Join(base, "a", "b"), 0o700)
	wantMode(filepath.Join(base, "a"), 0o700)
	if err := os.Remove(key + ".pub"); err != nil {
		t.Fatal(err)
	}
	if again, err := EnsureKey(key, "c"); err != nil || again != pub {
		t.Fatalf("rebuild .pub: %q, %v; want %q", again, err, pub)
	}
	wantMode(key, 0o600)
	kh := filepath.Join(base, "kh", "known_hosts")
	if err := PinHostKey(kh, "127.0.0.1", 22, pub); err != nil {
		t.Fatal(err)
	}
	wantMode(kh, 0o600)
	wantMode(filepath.Dir(kh), 0o700)
}
