package npmcache

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeRegistry is an upstream holding a few documents, counting requests
// per path (as sent: escaped).
type fakeRegistry struct {
	mu     sync.Mutex
	docs   map[string][]byte
	hits   map[string]int
	accept map[string]string
	down   atomic.Bool
	// gate, when set, holds every tarball answer until it is closed.
	gate chan struct{}
}

func newFakeRegistry(t *testing.T) (*fakeRegistry, *httptest.Server) {
	t.Helper()
	f := &fakeRegistry{
		docs: map[string][]byte{
			"/left-pad":                                            []byte(`{"name":"left-pad","versions":{"1.3.0":{}}}`),
			"/@anthropic-ai%2fclaude-code":                         []byte(`{"name":"@anthropic-ai/claude-code"}`),
			"/left-pad/-/left-pad-1.3.0.tgz":                       bytes.Repeat([]byte{0x1f, 0x8b, 7}, 100000),
			"/@anthropic-ai/claude-code/-/claude-code-2.1.143.tgz": []byte("claude tarball"),
		},
		hits:   map[string]int{},
		accept: map[string]string{},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.EscapedPath()
		f.mu.Lock()
		f.hits[p]++
		f.accept[p] = r.Header.Get("Accept")
		doc, ok := f.docs[p]
		gate := f.gate
		f.mu.Unlock()
		if f.down.Load() {
			http.Error(w, "boom", http.StatusServiceUnavailable)
			return
		}
		if !ok {
			http.NotFound(w, r)
			return
		}
		if gate != nil && strings.HasSuffix(p, ".tgz") {
			<-gate
		}
		_, _ = w.Write(doc)
	}))
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *fakeRegistry) count(p string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hits[p]
}

func newTestCache(t *testing.T, srv *httptest.Server) *Cache {
	t.Helper()
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return New(t.TempDir(), u, srv.Client())
}

// get asks h for target (a raw request path, escapes kept).
func get(t *testing.T, h http.Handler, method, target string) (int, string, string) {
	t.Helper()
	req := httptest.NewRequest(method, "http://127.0.0.1:4873"+target, nil)
	req.Header.Set("Accept", "application/vnd.npm.install-v1+json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code, rec.Header().Get("Content-Type"), rec.Body.String()
}

// TestServesAndCaches fetches scoped and unscoped packuments and tarballs
// once, then answers from the cache.
func TestServesAndCaches(t *testing.T) {
	reg, srv := newFakeRegistry(t)
	c := newTestCache(t, srv)
	for _, tc := range []struct {
		target, upstream, contentType string
	}{
		{"/left-pad", "/left-pad", "application/json"},
		{"/@anthropic-ai%2fclaude-code", "/@anthropic-ai%2fclaude-code", "application/json"},
		{"/@anthropic-ai%2Fclaude-code", "/@anthropic-ai%2fclaude-code", "application/json"},
		{"/@anthropic-ai/claude-code", "/@anthropic-ai%2fclaude-code", "application/json"},
		{"/left-pad/-/left-pad-1.3.0.tgz", "/left-pad/-/left-pad-1.3.0.tgz", "application/octet-stream"},
		{"/@anthropic-ai/claude-code/-/claude-code-2.1.143.tgz", "/@anthropic-ai/claude-code/-/claude-code-2.1.143.tgz", "application/octet-stream"},
	} {
		for range 2 {
			code, ct, body := get(t, c, http.MethodGet, tc.target)
			if code != http.StatusOK || ct != tc.contentType || body != string(reg.docs[tc.upstream]) {
				t.Fatalf("GET %s = %d %q %.40q; want 200 %q and the upstream's document", tc.target, code, ct, body, tc.contentType)
			}
		}
		if n := reg.count(tc.upstream); n != 1 {
			t.Errorf("upstream %s fetched %d times; want 1", tc.upstream, n)
		}
	}
	if got := reg.accept["/left-pad"]; got != "application/json" {
		t.Errorf("packument fetched with Accept %q; want application/json", got)
	}
	code, _, body := get(t, c, http.MethodHead, "/left-pad/-/left-pad-1.3.0.tgz")
	if code != http.StatusOK || body != "" {
		t.Errorf("HEAD tarball = %d %q; want 200 and no body", code, body)
	}
}

// TestStalePackument fetches a packument again once it is older than
// MaxAge, and serves the old copy while the upstream is down.
func TestStalePackument(t *testing.T) {
	reg, srv := newFakeRegistry(t)
	c := newTestCache(t, srv)
	now := time.Now()
	c.now = func() time.Time { return now }
	if code, _, _ := get(t, c, http.MethodGet, "/left-pad"); code != http.StatusOK {
		t.Fatalf("first GET = %d", code)
	}
	now = now.Add(DefaultMaxAge - time.Second)
	get(t, c, http.MethodGet, "/left-pad")
	if n := reg.count("/left-pad"); n != 1 {
		t.Fatalf("fresh packument fetched %d times; want 1", n)
	}
	now = now.Add(2 * time.Second)
	reg.mu.Lock()
	reg.docs["/left-pad"] = []byte(`{"name":"left-pad","versions":{"1.3.0":{},"1.4.0":{}}}`)
	reg.mu.Unlock()
	if _, _, body := get(t, c, http.MethodGet, "/left-pad"); !strings.Contains(body, "1.4.0") {
		t.Fatalf("stale packument not refetched: %s", body)
	}
	if n := reg.count("/left-pad"); n != 2 {
		t.Fatalf("stale packument fetched %d times in all; want 2", n)
	}

	reg.down.Store(true)
	now = now.Add(time.Hour)
	if code, _, body := get(t, c, http.MethodGet, "/left-pad"); code != http.StatusOK || !strings.Contains(body, "1.4.0") {
		t.Errorf("upstream down, cached copy: %d %s; want 200 and the last document", code, body)
	}
	code, ct, body := get(t, c, http.MethodGet, "/@anthropic-ai%2fclaude-code")
	if code != http.StatusBadGateway || !strings.HasPrefix(ct, "text/plain") ||
		!strings.Contains(body, "@anthropic-ai/claude-code") || !strings.Contains(body, "503") || strings.Count(body, "\n") != 1 {
		t.Errorf("upstream down, nothing cached: %d %q %q; want 502 with one line naming the package and the cause", code, ct, body)
	}
	if code, _, _ := get(t, c, http.MethodGet, "/left-pad/-/left-pad-1.3.0.tgz"); code != http.StatusBadGateway {
		t.Errorf("upstream down, tarball not cached: %d; want 502", code)
	}
}

// TestUpstreamNotFound answers 404 and stores nothing.
func TestUpstreamNotFound(t *testing.T) {
	reg, srv := newFakeRegistry(t)
	c := newTestCache(t, srv)
	for _, target := range []string{"/no-such-pkg", "/@scope%2fnone", "/left-pad/-/left-pad-9.9.9.tgz"} {
		for range 2 {
			if code, _, body := get(t, c, http.MethodGet, target); code != http.StatusNotFound || !strings.Contains(body, "not found upstream") {
				t.Errorf("GET %s = %d %q; want 404", target, code, body)
			}
		}
	}
	if n := reg.count("/no-such-pkg"); n != 2 {
		t.Errorf("a 404 was cached: upstream asked %d times; want 2", n)
	}
	var files []string
	_ = filepath.WalkDir(c.dir, func(p string, d os.DirEntry, _ error) error {
		if d != nil && !d.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	if len(files) != 0 {
		t.Errorf("cache dir holds %v after only 404s", files)
	}
}

// TestRefusedPaths answers 404 or 405 without asking the upstream.
func TestRefusedPaths(t *testing.T) {
	reg, srv := newFakeRegistry(t)
	c := newTestCache(t, srv)
	for _, target := range []string{
		"/", "/..", "/%2e%2e", "/%2e%2e/etc/passwd", "/../etc/passwd", "/left-pad/../../x",
		"/.hidden", "/_private", "/Left-Pad", "/left%20pad", "/@scope", "/@/pkg", "/@.x/pkg",
		"/@scope/pkg/extra", "/left-pad/-/", "/left-pad/-/left-pad-1.0.0.tar", "/left-pad/-/other-1.0.0.tgz",
		"/left-pad/-/left-pad-..%2f..%2fx.tgz", "/left-pad/-/left-pad-1.0.0.tgz/x", "/left-pad/x/left-pad-1.0.0.tgz",
		"/-/v1/search", "/-/npm/v1/security/advisories/bulk", "/" + strings.Repeat("a", 215),
		"/@" + strings.Repeat("s", 100) + "%2f" + strings.Repeat("p", 114),
	} {
		code, _, body := get(t, c, http.MethodGet, target)
		if code != http.StatusNotFound || strings.Count(body, "\n") != 1 {
			t.Errorf("GET %s = %d %q; want 404 with one line", target, code, body)
		}
	}
	if code, _, _ := get(t, c, http.MethodGet, "/"+strings.Repeat("a", 214)); code != http.StatusNotFound {
		t.Errorf("a 214-character name: %d; want the upstream's 404", code)
	}
	if code, _, _ := get(t, c, http.MethodPost, "/left-pad"); code != http.StatusMethodNotAllowed {
		t.Errorf("POST = %d; want 405", code)
	}
	reg.mu.Lock()
	defer reg.mu.Unlock()
	for p, n := range reg.hits {
		if p != "/"+strings.Repeat("a", 214) {
			t.Errorf("a refused path reached the upstream: %s (%d)", p, n)
		}
	}
}

// TestConcurrentTarball fetches one missing tarball once for many clients.
func TestConcurrentTarball(t *testing.T) {
	reg, srv := newFakeRegistry(t)
	gate := make(chan struct{})
	reg.gate = gate
	c := newTestCache(t, srv)
	const target = "/left-pad/-/left-pad-1.3.0.tgz"
	const clients = 8
	var wg sync.WaitGroup
	bodies := make([]string, clients)
	codes := make([]int, clients)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i], _, bodies[i] = get(t, c, http.MethodGet, target)
		}()
	}
	deadline := time.Now().Add(5 * time.Second)
	for reg.count(target) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // let the other clients queue behind the first fetch
	close(gate)
	wg.Wait()
	for i := range clients {
		if codes[i] != http.StatusOK || bodies[i] != string(reg.docs[target]) {
			t.Errorf("client %d: %d, %d bytes; want 200 and the tarball", i, codes[i], len(bodies[i]))
		}
	}
	if n := reg.count(target); n != 1 {
		t.Errorf("upstream fetched %d times; want 1", n)
	}
}

// TestOffline serves what is cached and answers 404 for the rest, never
// asking the upstream.
func TestOffline(t *testing.T) {
	reg, srv := newFakeRegistry(t)
	c := newTestCache(t, srv)
	get(t, c, http.MethodGet, "/left-pad")
	get(t, c, http.MethodGet, "/left-pad/-/left-pad-1.3.0.tgz")
	c.Offline = true
	now := time.Now().Add(24 * time.Hour)
	c.now = func() time.Time { return now }
	for _, target := range []string{"/left-pad", "/left-pad/-/left-pad-1.3.0.tgz"} {
		if code, _, _ := get(t, c, http.MethodGet, target); code != http.StatusOK {
			t.Errorf("offline cached GET %s = %d; want 200", target, code)
		}
	}
	for _, target := range []string{"/@anthropic-ai%2fclaude-code", "/@anthropic-ai/claude-code/-/claude-code-2.1.143.tgz"} {
		code, _, body := get(t, c, http.MethodGet, target)
		if code != http.StatusNotFound || !strings.Contains(body, "not in azsim's npm cache "+c.dir) {
			t.Errorf("offline miss %s = %d %q; want 404 naming the cache dir", target, code, body)
		}
	}
	if n := reg.count("/left-pad") + reg.count("/@anthropic-ai%2fclaude-code"); n != 1 {
		t.Errorf("offline cache asked the upstream: %d packument fetches; want 1 (before going offline)", n)
	}
}

// TestTruncatedTarball stores nothing when the upstream cuts a tarball short.
func TestTruncatedTarball(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Length", "1000")
		_, _ = io.WriteString(w, "short")
	}))
	t.Cleanup(srv.Close)
	c := newTestCache(t, srv)
	if code, _, _ := get(t, c, http.MethodGet, "/left-pad/-/left-pad-1.3.0.tgz"); code != http.StatusBadGateway {
		t.Errorf("truncated tarball: %d; want 502", code)
	}
	if _, err := os.Stat(filepath.Join(c.dir, "tarballs", "left-pad", "left-pad-1.3.0.tgz")); err == nil {
		t.Error("a truncated tarball was stored")
	}
}

// TestParseUpstream accepts http(s) registry URLs only.
func TestParseUpstream(t *testing.T) {
	for raw, ok := range map[string]bool{
		"https://registry.npmjs.org":      true,
		"http://127.0.0.1:8080/npm/":      true,
		"ftp://registry.npmjs.org":        false,
		"registry.npmjs.org":              false,
		"https://u:p@registry.npmjs.org":  false,
		"https://registry.npmjs.org/?x=1": false,
	} {
		if _, err := ParseUpstream(raw); (err == nil) != ok {
			t.Errorf("ParseUpstream(%q) error %v; want ok=%v", raw, err, ok)
		}
	}
}
