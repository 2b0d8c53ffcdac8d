package config

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"

	"github.com/mngr-azure/mngr/internal/core"
)

// A repository's own settings files (<git root>/.mngr/settings.toml and
// settings.local.toml) come with the code the user cloned, so mngr reads
// them as untrusted until the user trusts one exact content of one file
// with `mngr config trust`. From an untrusted file mngr takes only the keys
// below: none of them can send a credential anywhere, run a command, or make
// mngr read or write state outside its own directories. Every other key in
// such a file is ignored, and mngr says so on stderr.
//
// Never on this list: [providers.*] (endpoints, authority hosts,
// subscription, tenant and client ids, host_dir), [agent_types.*] (command,
// cli_args), default_host_dir, prefix, connect_command, unset_vars, plugins,
// create_templates, enabled_backends, and any key mngr does not read yet.
var untrustedAllowed = map[string]bool{
	"commands.create.type":      true,
	"commands.create.transfer":  true,
	"agent_ready_timeout":       true,
	"retry.connect_retry_times": true,
	"retry.connect_retry_delay": true,
	"is_nested_tmux_allowed":    true,
}

// UntrustedAllowedKeys lists, sorted, the keys mngr applies from a project
// or local settings file the user has not trusted.
func UntrustedAllowedKeys() []string {
	return sortedKeys(anyMap(untrustedAllowed))
}

// FileTrust says what mngr did with one project or local settings file.
type FileTrust struct {
	// Path is the file.
	Path string
	// Trusted is true when the user trusted this exact content.
	Trusted bool
	// Changed is true when the user trusted the file, but its content has
	// changed since.
	Changed bool
	// Ignored are the keys mngr did not apply because the file is not
	// trusted, sorted.
	Ignored []string
}

// Trust lists, for each project or local file that was read, whether it was
// trusted and which keys were ignored.
func (c *Config) Trust() []FileTrust { return c.trust }

// TrustNotice is the text mngr prints on stderr about the untrusted files it
// read: which file, which keys it ignored and why, and how to trust it. It
// is "" when nothing was ignored.
func (c *Config) TrustNotice() string {
	var b strings.Builder
	for _, ft := range c.trust {
		if ft.Trusted || len(ft.Ignored) == 0 {
			continue
		}
		why := "it is not trusted"
		if ft.Changed {
			why = "it changed after you trusted it"
		}
		keys := make([]string, len(ft.Ignored))
		for i, k := range ft.Ignored {
			keys[i] = core.Printable(k)
		}
		fmt.Fprintf(&b, "mngr: ignored %s from %s because %s: %s\n",
			plural(len(keys), "setting"), core.Printable(ft.Path), why, strings.Join(keys, ", "))
		fmt.Fprintf(&b, "  a repository's settings may set only %s until you trust the file;\n", strings.Join(UntrustedAllowedKeys(), ", "))
		fmt.Fprintf(&b, "  other keys can send credentials, run commands or move state. Read the file, then: mngr config trust %s\n",
			core.ShellQuote(ft.Path))
	}
	return b.String()
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// screenLayer returns the part of a project or local file's settings mngr
// applies: all of it when the user trusted this content, else only the
// allowed keys. Unknown top-level keys are kept so that addLayer still
// reports them. The verdict is recorded for TrustNotice.
func (c *Config) screenLayer(path string, data []byte, m map[string]any, store *trustStore) map[string]any {
	ft := FileTrust{Path: path}
	sum := contentHash(data)
	if rec, ok := store.find(path); ok {
		if rec.SHA256 == sum {
			ft.Trusted = true
			c.trust = append(c.trust, ft)
			return m
		}
		ft.Changed = true
	}
	kept := map[string]any{}
	for _, k := range sortedKeys(m) {
		if !contains(topLevelKeys, k) {
			kept[k] = m[k]
		}
	}
	for key, v := range flattenLeaves(m) {
		top, _, _ := strings.Cut(key, ".")
		if !contains(topLevelKeys, top) {
			continue
		}
		if untrustedAllowed[key] {
			_ = setPath(kept, strings.Split(key, "."), v)
			continue
		}
		ft.Ignored = append(ft.Ignored, key)
	}
	sort.Strings(ft.Ignored)
	c.trust = append(c.trust, ft)
	return kept
}

// flattenLeaves maps every non-table value of m to its dotted key; an empty
// table is a leaf too (so that it is reported, not silently dropped).
func flattenLeaves(m map[string]any) map[string]any {
	out := map[string]any{}
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for k, v := range m {
			if sub, ok := v.(map[string]any); ok && len(sub) > 0 {
				walk(prefix+k+".", sub)
				continue
			}
			out[prefix+k] = v
		}
	}
	walk("", m)
	return out
}

func contentHash(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// TrustRecord is one trusted settings file: its absolute path and the
// sha256 of the content the user trusted.
type TrustRecord struct {
	Path      string `toml:"path"`
	SHA256    string `toml:"sha256"`
	TrustedAt string `toml:"trusted_at"`
}

// trustStore is the user's trusted.toml.
type trustStore struct {
	Trusted []TrustRecord `toml:"trusted"`
}

func (s *trustStore) find(path string) (TrustRecord, bool) {
	if s == nil {
		return TrustRecord{}, false
	}
	key := canonicalPath(path)
	for _, r := range s.Trusted {
		if r.Path == key {
			return r, true
		}
	}
	return TrustRecord{}, false
}

// TrustStorePath is where mngr keeps the trusted files: trusted.toml next to
// the user settings file (~/.mngr/trusted.toml, or $MNGR_CONFIG_HOME/trusted.toml).
// It is a file of its own so that `mngr config set --scope user` never
// rewrites it, and a project file can never name it.
func TrustStorePath(getenv func(string) string) string {
	if getenv == nil {
		getenv = os.Getenv
	}
	return filepath.Join(filepath.Dir(userSettingsPath(getenv)), "trusted.toml")
}

func loadTrustStore(path string) (*trustStore, error) {
	data, err := os.ReadFile(path) //nolint:gosec // G304: the user's own trust file.
	if errors.Is(err, os.ErrNotExist) {
		return &trustStore{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	s := &trustStore{}
	if err := toml.Unmarshal(data, s); err != nil {
		return nil, core.WithHint(fmt.Errorf("parse %s: %s: %w", path, err.Error(), core.ErrInvalidInput),
			"fix or remove %s, then trust your project files again with 'mngr config trust'", path)
	}
	return s, nil
}

func (s *trustStore) save(path string) error {
	data, err := toml.Marshal(s)
	if err != nil {
		return fmt.Errorf("encode %s: %w", path, err)
	}
	header := "# Settings files trusted with 'mngr config trust': mngr applies every key of such a\n" +
		"# file only while its content still has this sha256. Edit with 'mngr config trust|untrust'.\n"
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("create %s: %w", filepath.Dir(path), err)
	}
	// The one atomic writer of ~/.mngr: no temp file left on a full disk,
	// none shared by two writers.
	return core.WriteFileAtomic(path, append([]byte(header), data...), 0o600)
}

// canonicalPath is the absolute path with symbolic links resolved when the
// file exists, so one file has one record.
func canonicalPath(p string) string {
	abs, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		return real
	}
	return abs
}

// TrustFile records the current content of the settings file at path as
// trusted, replacing an older record of the same file.
func TrustFile(path string, getenv func(string) string) (TrustRecord, error) {
	path = canonicalPath(path)
	data, err := os.ReadFile(path) //nolint:gosec // G304: the file the user asked to trust.
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return TrustRecord{}, core.WithHint(fmt.Errorf("settings file %s: %w", path, core.ErrNotFound),
				"run 'mngr config path' to see the project and local files")
		}
		return TrustRecord{}, fmt.Errorf("read %s: %w", path, err)
	}
	storePath := TrustStorePath(getenv)
	store, err := loadTrustStore(storePath)
	if err != nil {
		return TrustRecord{}, err
	}
	rec := TrustRecord{Path: path, SHA256: contentHash(data), TrustedAt: time.Now().UTC().Format(time.RFC3339)}
	kept := store.Trusted[:0]
	for _, r := range store.Trusted {
		if r.Path != path {
			kept = append(kept, r)
		}
	}
	store.Trusted = append(kept, rec)
	return rec, store.save(storePath)
}

// UntrustFile removes the record of the settings file at path; it reports
// ErrNotFound when the file was not trusted.
func UntrustFile(path string, getenv func(string) string) (string, error) {
	path = canonicalPath(path)
	storePath := TrustStorePath(getenv)
	store, err := loadTrustStore(storePath)
	if err != nil {
		return path, err
	}
	kept := store.Trusted[:0]
	found := false
	for _, r := range store.Trusted {
		if r.Path == path {
			found = true
			continue
		}
		kept = append(kept, r)
	}
	if !found {
		return path, core.WithHint(fmt.Errorf("%s is not trusted: %w", path, core.ErrNotFound),
			"nothing to do; 'mngr config trust' lists nothing for this file")
	}
	store.Trusted = kept
	return path, store.save(storePath)
}

// IsTrusted reports whether the settings file at path is trusted with its
// current content.
func IsTrusted(path string, getenv func(string) string) (bool, error) {
	store, err := loadTrustStore(TrustStorePath(getenv))
	if err != nil {
		return false, err
	}
	rec, ok := store.find(path)
	if !ok {
		return false, nil
	}
	data, err := os.ReadFile(canonicalPath(path))
	if err != nil {
		return false, nil //nolint:nilerr // a file that cannot be read is not trusted.
	}
	return rec.SHA256 == contentHash(data), nil
}

// ProjectFiles lists the project and local settings files of the git
// repository around workDir that exist.
func ProjectFiles(workDir string, getenv func(string) string) []string {
	_, project, local := Paths(workDir, getenv)
	var out []string
	for _, p := range []string{project, local} {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err == nil {
			out = append(out, p)
		}
	}
	return out
}
