package npmcache

import (
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeNPMDir lays out an npm _cacache: content by sha512, index lines
// "HASH\tJSON" appended per key.
type fakeNPMDir struct {
	t   *testing.T
	dir string
}

func (f fakeNPMDir) put(key string, data []byte, corrupt bool) {
	f.t.Helper()
	sum := sha512.Sum512(data)
	h := hex.EncodeToString(sum[:])
	content := filepath.Join(f.dir, "content-v2", "sha512", h[:2], h[2:4], h[4:])
	if corrupt {
		data = append([]byte("x"), data[1:]...)
	}
	if err := os.MkdirAll(filepath.Dir(content), 0o755); err != nil {
		f.t.Fatal(err)
	}
	if err := os.WriteFile(content, data, 0o600); err != nil {
		f.t.Fatal(err)
	}
	f.index(key, "sha512-"+base64.StdEncoding.EncodeToString(sum[:]), int64(len(data)))
}

func (f fakeNPMDir) index(key, integrity string, size int64) {
	f.t.Helper()
	keySum := sha512.Sum512([]byte(key))
	h := hex.EncodeToString(keySum[:8])
	bucket := filepath.Join(f.dir, "index-v5", h[:2], h[2:4], h[4:])
	if err := os.MkdirAll(filepath.Dir(bucket), 0o755); err != nil {
		f.t.Fatal(err)
	}
	var integ any = integrity
	if integrity == "" {
		integ = nil
	}
	js, _ := json.Marshal(map[string]any{"key": key, "integrity": integ, "size": size, "time": 1})
	file, err := os.OpenFile(bucket, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		f.t.Fatal(err)
	}
	defer func() { _ = file.Close() }()
	if _, err := file.WriteString("0123abcd\t" + string(js) + "\n"); err != nil {
		f.t.Fatal(err)
	}
}

// TestImportNPMCache seeds the cache from npm's own and serves it offline.
func TestImportNPMCache(t *testing.T) {
	npm := fakeNPMDir{t: t, dir: t.TempDir()}
	const reg = "make-fetch-happen:request-cache:https://registry.npmjs.org/"
	packument := []byte(`{"name":"@anthropic-ai/claude-code"}`)
	tarball := []byte(strings.Repeat("tgz", 5000))
	npm.put(reg+"@anthropic-ai%2fclaude-code", packument, false)
	npm.put(reg+"@anthropic-ai/claude-code/-/claude-code-2.1.143.tgz", tarball, false)
	npm.put(reg+"left-pad", []byte(`{"name":"left-pad"}`), false)
	npm.index(reg+"left-pad", "", 0) // deleted by npm afterwards
	npm.put("make-fetch-happen:request-cache:https://other.example/left-pad", []byte(`{}`), false)
	npm.put(reg+"-/v1/search?text=x", []byte(`{}`), false)

	u, _ := url.Parse(DefaultUpstream)
	c := New(t.TempDir(), u, &http.Client{Transport: refuseTransport{t}})
	c.Offline = true
	n, err := c.ImportNPMCache(npm.dir)
	if err != nil || n != 2 {
		t.Fatalf("import: %d files, %v; want 2 and no error", n, err)
	}
	for target, want := range map[string][]byte{
		"/@anthropic-ai%2fclaude-code":                         packument,
		"/@anthropic-ai/claude-code/-/claude-code-2.1.143.tgz": tarball,
	} {
		if code, _, body := get(t, c, http.MethodGet, target); code != http.StatusOK || body != string(want) {
			t.Errorf("GET %s after import = %d %.40q", target, code, body)
		}
	}
	for _, target := range []string{"/left-pad"} {
		if code, _, _ := get(t, c, http.MethodGet, target); code != http.StatusNotFound {
			t.Errorf("GET %s (deleted in npm's cache) = %d; want 404", target, code)
		}
	}
	if n, err := c.ImportNPMCache(npm.dir); err != nil || n != 0 {
		t.Errorf("second import: %d files, %v; want 0 (all present)", n, err)
	}

	npm.put(reg+"bad-pkg", []byte(`{"name":"bad-pkg"}`), true)
	if _, err := c.ImportNPMCache(npm.dir); err == nil || !strings.Contains(err.Error(), "bad-pkg") {
		t.Errorf("corrupt content: %v; want an error naming bad-pkg", err)
	}
	if code, _, _ := get(t, c, http.MethodGet, "/bad-pkg"); code != http.StatusNotFound {
		t.Errorf("corrupt content was stored: GET = %d", code)
	}
}

// refuseTransport fails the test on any upstream request.
type refuseTransport struct{ t *testing.T }

func (r refuseTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r.t.Errorf("offline cache asked the upstream: %s", req.URL)
	return nil, http.ErrNotSupported
}
