// Package npmcache is a pull-through cache of an npm registry, which azsim
// serves inside every simulated VM (at http://127.0.0.1:4873/ there), so
// that an `npm install` in a VM reaches npm's packages through this
// machine, as apt reaches Debian's through apt-cacher-ng.
//
// It is written here, small, because Debian packages no npm registry proxy
// (verdaccio is not in Debian) and azsim needs only two kinds of read:
//
//   - packuments, GET /NAME and /@SCOPE/NAME (npm sends /@SCOPE%2fNAME):
//     fetched from the upstream with Accept: application/json (the full
//     document, whatever the client asked for; npm reads it as well as the
//     abbreviated one), kept for MaxAge, then fetched again; when the
//     upstream fails, a cached copy is served however old it is;
//   - tarballs, GET /NAME/-/FILE.tgz and /@SCOPE/NAME/-/FILE.tgz: immutable,
//     fetched once into a temporary file, synced and renamed into place, so
//     two azsims may share one cache dir, and kept forever.
//
// Documents are served byte for byte as the upstream sent them. npm's
// default replace-registry-host (npmjs) makes npm fetch tarballs whose URL
// names registry.npmjs.org from its configured registry, so with the
// default upstream every tarball comes through this cache. With another
// upstream the packuments' tarball URLs still name that upstream, and npm
// fetches tarballs from it directly (set replace-registry-host=always in
// npm to route them here too).
package npmcache

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sync/singleflight"
)

// DefaultUpstream is npm's public registry.
const DefaultUpstream = "https://registry.npmjs.org"

// DefaultMaxAge is how long a cached packument is served before it is
// fetched again.
const DefaultMaxAge = 10 * time.Minute

// maxNameLen is npm's limit on a package name, scope included.
const maxNameLen = 214

// fetchTimeout bounds one upstream fetch (a tarball of a few hundred MB
// included); it is not tied to the client that asked, since others may be
// waiting for the same file.
const fetchTimeout = 20 * time.Minute

// Cache is an http.Handler serving an npm registry's packuments and
// tarballs from Dir, fetching what is missing from Upstream.
type Cache struct {
	// Offline serves only what Dir holds: a miss is 404. Set it before the
	// first request.
	Offline bool
	// MaxAge is how long a cached packument is fresh; DefaultMaxAge when 0.
	// Set it before the first request.
	MaxAge time.Duration

	dir      string
	upstream *url.URL
	client   *http.Client
	now      func() time.Time
	fetches  singleflight.Group
}

// New returns a cache that keeps its files in dir and fetches from
// upstream (DefaultUpstream when nil) with client (http.DefaultClient when
// nil).
func New(dir string, upstream *url.URL, client *http.Client) *Cache {
	if upstream == nil {
		upstream, _ = url.Parse(DefaultUpstream)
	}
	if client == nil {
		client = http.DefaultClient
	}
	u := *upstream
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""
	return &Cache{dir: dir, upstream: &u, client: client, now: time.Now}
}

// ParseUpstream checks a registry URL given by a user: http or https,
// with a host, and no query or fragment.
func ParseUpstream(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("npm upstream %q: %w", raw, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("npm upstream %q: want http(s)://HOST[/PATH]", raw)
	}
	return u, nil
}

// request is one accepted path: a packument (file == "") or a tarball.
type request struct {
	name string // "pkg" or "@scope/pkg"
	file string // "pkg-1.0.0.tgz"
}

// errNotFound is the upstream's 404, or a miss when offline.
var errNotFound = errors.New("not found")

// ServeHTTP answers GET and HEAD for packuments and tarballs.
func (c *Cache) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		textError(w, http.StatusMethodNotAllowed, "azsim's npm cache answers GET and HEAD only")
		return
	}
	req, ok := parsePath(r.URL.Path)
	if !ok {
		textError(w, http.StatusNotFound, fmt.Sprintf("azsim's npm cache serves /NAME and /NAME/-/FILE.tgz only, not %q", r.URL.Path))
		return
	}
	var path, contentType string
	var err error
	if req.file == "" {
		path, err = c.packument(req.name)
		contentType = "application/json"
	} else {
		path, err = c.tarball(req)
		contentType = "application/octet-stream"
	}
	switch {
	case errors.Is(err, errNotFound) && c.Offline:
		textError(w, http.StatusNotFound, fmt.Sprintf("%s: not in azsim's npm cache %s", req, c.dir))
		return
	case errors.Is(err, errNotFound):
		textError(w, http.StatusNotFound, fmt.Sprintf("%s: not found upstream", req))
		return
	case err != nil:
		textError(w, http.StatusBadGateway, fmt.Sprintf("%s: %v", req, err))
		return
	}
	f, err := os.Open(path) //nolint:gosec // path is built from a checked name under dir
	if err != nil {
		textError(w, http.StatusInternalServerError, fmt.Sprintf("%s: open cached copy: %v", req, err))
		return
	}
	defer func() { _ = f.Close() }()
	st, err := f.Stat()
	if err != nil {
		textError(w, http.StatusInternalServerError, fmt.Sprintf("%s: stat cached copy: %v", req, err))
		return
	}
	w.Header().Set("Content-Type", contentType)
	http.ServeContent(w, r, "", st.ModTime(), f)
}

func (r request) String() string {
	if r.file == "" {
		return r.name
	}
	return r.name + "/-/" + r.file
}

func textError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = io.WriteString(w, strings.ReplaceAll(msg, "\n", " ")+"\n") //nolint:gosec // text/plain with nosniff: no markup is rendered
}

// packument returns the path of a fresh enough copy of name's document.
func (c *Cache) packument(name string) (string, error) {
	path := c.path(request{name: name})
	st, statErr := os.Stat(path)
	if c.Offline {
		if statErr != nil {
			return "", errNotFound
		}
		return path, nil
	}
	maxAge := c.MaxAge
	if maxAge <= 0 {
		maxAge = DefaultMaxAge
	}
	if statErr == nil && c.now().Sub(st.ModTime()) < maxAge {
		return path, nil
	}
	_, err, _ := c.fetches.Do(path, func() (any, error) {
		return nil, c.fetch(c.upstreamURL(escapeName(name)), "application/json", path)
	})
	switch {
	case err == nil, errors.Is(err, errNotFound):
		return path, err
	case statErr == nil:
		// The upstream failed; an old copy is better than none.
		return path, nil
	}
	return "", err
}

// tarball returns the path of req's tarball, fetching it once if missing.
func (c *Cache) tarball(req request) (string, error) {
	path := c.path(req)
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	if c.Offline {
		return "", errNotFound
	}
	_, err, _ := c.fetches.Do(path, func() (any, error) {
		// Another azsim sharing the dir may have fetched it meanwhile.
		if _, err := os.Stat(path); err == nil {
			return nil, nil
		}
		return nil, c.fetch(c.upstreamURL(req.name+"/-/"+req.file), "", path)
	})
	if err != nil {
		return "", err
	}
	return path, nil
}

// path is where the cache keeps req's file under dir.
func (c *Cache) path(req request) string {
	if req.file == "" {
		return filepath.Join(c.dir, "packuments", filepath.FromSlash(req.name)+".json")
	}
	return filepath.Join(c.dir, "tarballs", filepath.FromSlash(req.name), req.file)
}

// upstreamURL joins an already escaped registry path to the upstream.
func (c *Cache) upstreamURL(rel string) string {
	return c.upstream.String() + "/" + rel
}

// escapeName spells a name as npm does in a packument URL (@scope%2fpkg).
func escapeName(name string) string {
	return strings.Replace(name, "/", "%2f", 1)
}

// fetch downloads u into path (see store).
func (c *Cache) fetch(u, accept, path string) error {
	ctx, cancel := context.WithTimeout(context.Background(), fetchTimeout)
	defer cancel()
	// u is the configured upstream plus a checked package path.
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil) //nolint:gosec // the upstream is azsim's own setting
	if err != nil {
		return fmt.Errorf("fetch %s: %w", u, err)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := c.client.Do(req) //nolint:gosec // as above: the configured upstream only
	if err != nil {
		return fmt.Errorf("fetch from upstream: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return errNotFound
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("upstream %s answered %s", c.upstream.Host, resp.Status)
	}
	return store(path, resp.Body, resp.ContentLength, nil)
}

// store writes r into path through a temporary file in path's directory,
// synced, then renamed, so that readers see a whole file or none. size,
// when not negative, is the length r must have; check, when set, vets the
// whole file before it is renamed.
func store(path string, r io.Reader, size int64, check func() error) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return fmt.Errorf("create cache dir: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".fetch-*")
	if err != nil {
		return fmt.Errorf("create cache file: %w", err)
	}
	done := false
	defer func() {
		if !done {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	n, err := io.Copy(tmp, r)
	if err != nil {
		return fmt.Errorf("copy into the cache: %w", err)
	}
	if size >= 0 && n != size {
		return fmt.Errorf("got %d of %d bytes", n, size)
	}
	if check != nil {
		if err := check(); err != nil {
			return err
		}
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("sync cache file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("close cache file: %w", err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil { //nolint:gosec // public packages, readable by the other azsims sharing the dir
		return fmt.Errorf("chmod cache file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("store cache file: %w", err)
	}
	done = true
	return nil
}

// parsePath accepts /NAME, /@SCOPE/NAME, /NAME/-/FILE.tgz and
// /@SCOPE/NAME/-/FILE.tgz (p is already unescaped, so /@scope%2fname
// arrives as /@scope/name).
func parsePath(p string) (request, bool) {
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	var req request
	switch {
	case len(parts) >= 2 && strings.HasPrefix(parts[0], "@"):
		req.name = parts[0] + "/" + parts[1]
		if !validPart(parts[0][1:]) || !validPart(parts[1]) {
			return request{}, false
		}
		parts = parts[2:]
	case len(parts) >= 1:
		req.name = parts[0]
		if !validPart(parts[0]) {
			return request{}, false
		}
		parts = parts[1:]
	}
	if len(req.name) > maxNameLen {
		return request{}, false
	}
	switch {
	case len(parts) == 0:
		return req, true
	case len(parts) == 2 && parts[0] == "-" && validTarball(req.name, parts[1]):
		req.file = parts[1]
		return req, true
	}
	return request{}, false
}

// validPart holds npm's rules for a name or scope: lower case, URL-safe,
// not starting with "." or "_".
func validPart(s string) bool {
	if s == "" || s[0] == '.' || s[0] == '_' || strings.Contains(s, "..") {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '.', r == '_', r == '~':
		default:
			return false
		}
	}
	return true
}

// validTarball accepts NAME-VERSION.tgz for name's last part, with a
// version of letters, digits, ".", "-" and "+".
func validTarball(name, file string) bool {
	base := name[strings.LastIndex(name, "/")+1:]
	version, ok := strings.CutPrefix(file, base+"-")
	if !ok {
		return false
	}
	version, ok = strings.CutSuffix(version, ".tgz")
	if !ok || version == "" || len(file) > 255 || strings.Contains(version, "..") || version[0] == '.' {
		return false
	}
	for _, r := range version {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '.', r == '+':
		default:
			return false
		}
	}
	return true
}
