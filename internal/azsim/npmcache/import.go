package npmcache

import (
	"bufio"
	"bytes"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// cacacheKeyPrefix starts the index key of every response npm's HTTP
// cache (make-fetch-happen) keeps; the request URL follows.
const cacacheKeyPrefix = "make-fetch-happen:request-cache:"

// cacacheEntry is one line of an index-v5 bucket: a tab after the line's
// hash, then this JSON. A null integrity deletes the key.
type cacacheEntry struct {
	Key       string `json:"key"`
	Integrity string `json:"integrity"`
	Size      int64  `json:"size"`
}

// ImportNPMCache copies into the cache the packuments and tarballs of this
// cache's upstream that npm's own cache holds (npmDir: the _cacache
// directory, ~/.npm/_cacache by default), checking each file's sha512, so
// that an Offline cache can serve what this machine's npm has installed
// without asking the registry. Files the cache holds already are kept.
// It returns how many files it added.
func (c *Cache) ImportNPMCache(npmDir string) (int, error) {
	entries := map[string]cacacheEntry{}
	index := filepath.Join(npmDir, "index-v5")
	err := filepath.WalkDir(index, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		return readCacacheBucket(p, entries)
	})
	if err != nil {
		return 0, fmt.Errorf("read npm cache index %s: %w", index, err)
	}
	prefix := cacacheKeyPrefix + c.upstream.String() + "/"
	added := 0
	for key, e := range entries {
		rel, ok := strings.CutPrefix(key, prefix)
		if !ok || e.Integrity == "" {
			continue
		}
		p, err := url.PathUnescape(rel)
		if err != nil {
			continue
		}
		req, ok := parsePath("/" + p)
		if !ok {
			continue
		}
		dst := c.path(req)
		if _, err := os.Stat(dst); err == nil {
			continue
		}
		if err := importContent(npmDir, e, dst); err != nil {
			return added, fmt.Errorf("import %s from npm's cache: %w", req, err)
		}
		added++
	}
	return added, nil
}

// readCacacheBucket adds a bucket's entries to entries, later lines
// replacing earlier ones; a line that does not parse (a torn append) is
// skipped, as npm skips it.
func readCacacheBucket(path string, entries map[string]cacacheEntry) error {
	f, err := os.Open(path) //nolint:gosec // a file of npm's cache dir, which the caller names
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		_, js, ok := bytes.Cut(sc.Bytes(), []byte("\t"))
		if !ok {
			continue
		}
		var e cacacheEntry
		if json.Unmarshal(js, &e) != nil || !strings.HasPrefix(e.Key, cacacheKeyPrefix) {
			continue
		}
		if e.Integrity == "" {
			delete(entries, e.Key)
			continue
		}
		entries[e.Key] = e
	}
	return sc.Err()
}

// importContent copies the content an entry names (its sha512 integrity)
// to dst, refusing it unless its size and hash match.
func importContent(npmDir string, e cacacheEntry, dst string) error {
	var sum []byte
	for _, h := range strings.Fields(e.Integrity) {
		if b64, ok := strings.CutPrefix(h, "sha512-"); ok {
			if s, err := base64.StdEncoding.DecodeString(strings.SplitN(b64, "?", 2)[0]); err == nil && len(s) == sha512.Size {
				sum = s
				break
			}
		}
	}
	if sum == nil {
		return fmt.Errorf("integrity %q: no sha512", e.Integrity)
	}
	h := hex.EncodeToString(sum)
	src := filepath.Join(npmDir, "content-v2", "sha512", h[:2], h[2:4], h[4:])
	f, err := os.Open(src) //nolint:gosec // inside npm's cache dir, named by a checked hash
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }()
	hash := sha512.New()
	size := e.Size
	if size <= 0 {
		size = -1 // not recorded: the hash alone decides
	}
	return store(dst, io.TeeReader(f, hash), size, func() error {
		if !bytes.Equal(hash.Sum(nil), sum) {
			return errors.New("content does not match its sha512")
		}
		return nil
	})
}
