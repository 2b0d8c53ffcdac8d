// Package config loads mngr's layered settings: defaults, the user file, the
// project files at the git root, MNGR__A__B environment variables and -S
// overrides, and hands each [providers.NAME] block to its backend for strict
// decoding.
package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"

	"github.com/mngr-azure/mngr/internal/core"
)

// Default values of the top-level keys.
const (
	DefaultPrefix  = core.DefaultPrefix
	defaultHostDir = core.DefaultLocalHostDir
)

// topLevelKeys are the keys a settings file may hold at its top level.
var topLevelKeys = []string{
	"agent_ready_timeout", "agent_types", "claude_copy_credentials", "commands", "connect_command", "create_templates",
	"default_destroyed_host_persisted_seconds", "default_host_dir", "default_min_online_host_age_seconds",
	"enabled_backends", "headless", "is_nested_tmux_allowed", "message_confirm_timeout", "plugins", "prefix", "providers", "retry",
	"unset_vars",
}

// perKeyContainers merge key by key across layers instead of being replaced.
var perKeyContainers = map[string]bool{
	"providers": true, "agent_types": true, "plugins": true, "commands": true, "create_templates": true,
}

// commonProviderKeys are the per-instance keys every provider block may hold;
// they are not handed to the backend's decoder.
var commonProviderKeys = map[string]bool{
	"backend": true, "plugin": true, "is_enabled": true,
	"destroyed_host_persisted_seconds": true, "min_online_host_age_seconds": true,
}

// Scope names a settings file that `mngr config set` can write.
type Scope string

// Writable scopes.
const (
	ScopeUser    Scope = "user"
	ScopeProject Scope = "project"
	ScopeLocal   Scope = "local"
)

// LoadOptions says where to look for settings.
type LoadOptions struct {
	// WorkDir is where the git root search starts; "" means the current directory.
	WorkDir string
	// Overrides are -S values, "k.e.y=VALUE" (VALUE is JSON, else a string).
	Overrides []string
	// Getenv reads the environment; nil means os.Getenv.
	Getenv func(string) string
	// Environ lists the environment as K=V (for MNGR__A__B); nil means os.Environ.
	Environ func() []string
}

// AgentTypeSettings is one [agent_types.NAME] block.
type AgentTypeSettings struct {
	ParentType string   `json:"parent_type,omitempty"`
	Command    string   `json:"command,omitempty"`
	CLIArgs    []string `json:"cli_args,omitempty"`
}

// Config is the merged configuration.
type Config struct {
	// Prefix is the tmux session prefix (MNGR_PREFIX wins over the files).
	Prefix string
	// DefaultHostDir is the local mngr directory, "~" expanded (MNGR_HOST_DIR wins).
	DefaultHostDir string
	// EnabledBackends limits which backends are active; empty means all.
	EnabledBackends []string
	// AgentTypes are the [agent_types.NAME] blocks.
	AgentTypes map[string]AgentTypeSettings
	// IsNestedTmuxAllowed lets connect run inside tmux.
	IsNestedTmuxAllowed bool
	// ConnectCommand, when set, replaces the attach command of connect.
	ConnectCommand string
	// AgentReadyTimeout is how long to wait for an agent to be ready for a
	// message (agent_ready_timeout, in seconds; default 10).
	AgentReadyTimeout time.Duration
	// MessageConfirmTimeout bounds the wait for evidence that an agent took
	// a message (message_confirm_timeout, in seconds; default 90).
	MessageConfirmTimeout time.Duration
	// ClaudeCopyCredentials copies the user's claude login into remote
	// claude agents (claude_copy_credentials; default false).
	ClaudeCopyCredentials bool

	raw       map[string]any
	origins   map[string]string // "providers.NAME.KEY" or top-level key -> file (or "env", "-S")
	providers map[string]*providerBlock
	// Files lists the settings files that were read, lowest layer first.
	Files []string
	trust []FileTrust
}

// Layer is one settings file location.
type Layer struct {
	Scope Scope
	Path  string
}

// Paths returns the user, project and local settings file paths. The project
// and local paths are empty outside a git repository.
func Paths(workDir string, getenv func(string) string) (user, project, local string) {
	if getenv == nil {
		getenv = os.Getenv
	}
	user = userSettingsPath(getenv)
	if root := gitRoot(workDir); root != "" {
		project = filepath.Join(root, ".mngr", "settings.toml")
		local = filepath.Join(root, ".mngr", "settings.local.toml")
	}
	return user, project, local
}

// userSettingsPath is $MNGR_CONFIG_HOME/settings.toml when that is set (tests
// use it), else $HOME/.mngr/settings.toml.
func userSettingsPath(getenv func(string) string) string {
	if d := getenv("MNGR_CONFIG_HOME"); d != "" {
		return filepath.Join(d, "settings.toml")
	}
	home := getenv("HOME")
	if home == "" {
		home, _ = os.UserHomeDir()
	}
	return filepath.Join(home, ".mngr", "settings.toml")
}

// gitRoot walks up from dir to the first directory holding .git; "" if none.
func gitRoot(dir string) string {
	if dir == "" {
		var err error
		if dir, err = os.Getwd(); err != nil {
			return ""
		}
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return ""
	}
	for i := 0; i < 256; i++ {
		if _, err := os.Stat(filepath.Join(dir, ".git")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
	return ""
}

// Load reads every layer and merges them.
func Load(opts LoadOptions) (*Config, error) {
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	c := &Config{raw: map[string]any{}, origins: map[string]string{}}
	user, project, local := Paths(opts.WorkDir, getenv)
	store, err := loadTrustStore(TrustStorePath(getenv))
	if err != nil {
		return nil, err
	}
	for i, path := range []string{user, project, local} {
		if path == "" || (i > 0 && canonicalPath(path) == canonicalPath(user)) {
			continue
		}
		data, err := os.ReadFile(path) //nolint:gosec // G304: reading the settings files is the point.
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
		m, err := parseSettings(path, data)
		if err != nil {
			return nil, err
		}
		if i > 0 {
			// A repository's files are untrusted; see trust.go.
			m = c.screenLayer(path, data, m, store)
		}
		if err := c.mergeLayer(m, path); err != nil {
			return nil, err
		}
		c.Files = append(c.Files, path)
	}
	environ := opts.Environ
	if environ == nil {
		environ = os.Environ
	}
	envLayer, err := envOverrides(environ())
	if err != nil {
		return nil, err
	}
	if err := c.mergeLayer(envLayer, "environment (MNGR__…)"); err != nil {
		return nil, err
	}
	sLayer := map[string]any{}
	for _, o := range opts.Overrides {
		key, val, ok := strings.Cut(o, "=")
		if !ok || key == "" {
			return nil, core.WithHint(fmt.Errorf("invalid setting %q: %w", o, core.ErrInvalidInput),
				"write -S KEY=VALUE, for example -S prefix=my-")
		}
		if err := setPath(sLayer, strings.Split(key, "."), parseValue(val)); err != nil {
			return nil, err
		}
	}
	if err := c.mergeLayer(sLayer, "-S"); err != nil {
		return nil, err
	}
	if err := c.finish(getenv); err != nil {
		return nil, err
	}
	return c, nil
}

// readFile parses one TOML settings file.
func readFile(path string) (map[string]any, error) {
	data, err := os.ReadFile(path) //nolint:gosec // G304: reading the user's own settings file is the point.
	if err != nil {
		return nil, err
	}
	return parseSettings(path, data)
}

// parseSettings parses the TOML content of the settings file at path.
func parseSettings(path string, data []byte) (map[string]any, error) {
	m := map[string]any{}
	if err := toml.Unmarshal(data, &m); err != nil {
		msg := err.Error()
		var de *toml.DecodeError
		if errors.As(err, &de) {
			row, col := de.Position()
			msg = fmt.Sprintf("line %d column %d: %s", row, col, de.Error())
		}
		return nil, core.WithHint(fmt.Errorf("parse %s: %s: %w", path, msg, core.ErrInvalidInput),
			"fix the TOML syntax in %s (or move the file away)", path)
	}
	return m, nil
}

// envOverrides turns MNGR__A__B=VALUE variables into a layer.
func envOverrides(environ []string) (map[string]any, error) {
	layer := map[string]any{}
	for _, kv := range environ {
		name, val, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, "MNGR__") || val == "" {
			continue
		}
		parts := strings.Split(strings.ToLower(strings.TrimPrefix(name, "MNGR__")), "__")
		if err := setPath(layer, parts, parseValue(val)); err != nil {
			return nil, fmt.Errorf("environment variable %s: %w", name, err)
		}
	}
	return layer, nil
}

// parseValue reads s as JSON, falling back to the plain string.
func parseValue(s string) any {
	var v any
	if err := json.Unmarshal([]byte(s), &v); err == nil {
		if f, ok := v.(float64); ok && f == float64(int64(f)) {
			return int64(f)
		}
		return v
	}
	return s
}

// setPath sets m[a][b]…=v, creating tables on the way.
func setPath(m map[string]any, path []string, v any) error {
	for i, p := range path {
		if p == "" {
			return core.WithHint(fmt.Errorf("invalid key %q: %w", strings.Join(path, "."), core.ErrInvalidInput),
				"keys are dot-separated names, for example commands.create.type")
		}
		if i == len(path)-1 {
			m[p] = v
			return nil
		}
		next, ok := m[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[p] = next
		}
		m = next
	}
	return nil
}

// mergeLayer checks a layer's top-level keys and merges it over the config.
func (c *Config) mergeLayer(m map[string]any, source string) error {
	keys := sortedKeys(m)
	for _, k := range keys {
		if !contains(topLevelKeys, k) {
			return core.WithHint(
				fmt.Errorf("unknown key %q in %s: valid keys are %s: %w", k, source, strings.Join(topLevelKeys, ", "), core.ErrInvalidInput),
				"remove or rename %q in %s", k, source)
		}
	}
	for _, k := range keys {
		v := m[k]
		if !perKeyContainers[k] {
			c.raw[k] = v
			c.origins[k] = source
			continue
		}
		sub, ok := v.(map[string]any)
		if !ok {
			return core.WithHint(fmt.Errorf("key %q in %s must be a table: %w", k, source, core.ErrInvalidInput),
				"write it as [%s.NAME] sections", k)
		}
		dst, _ := c.raw[k].(map[string]any)
		if dst == nil {
			dst = map[string]any{}
			c.raw[k] = dst
		}
		for name, block := range sub {
			bm, ok := block.(map[string]any)
			if !ok {
				return core.WithHint(fmt.Errorf("key %q in %s must be a table: %w", k+"."+name, source, core.ErrInvalidInput),
					"write it as a [%s.%s] section", k, name)
			}
			existing, _ := dst[name].(map[string]any)
			if existing == nil {
				existing = map[string]any{}
				dst[name] = existing
				c.origins[k+"."+name] = source
			}
			for bk, bv := range bm {
				existing[bk] = bv
				c.origins[k+"."+name+"."+bk] = source
			}
		}
	}
	return nil
}

// finish fills the typed fields from the merged raw map.
func (c *Config) finish(getenv func(string) string) error {
	c.Prefix = DefaultPrefix
	if s, ok := c.raw["prefix"].(string); ok {
		c.Prefix = s
	}
	if p := getenv("MNGR_PREFIX"); p != "" {
		c.Prefix = p
	}
	hostDir := defaultHostDir
	if s, ok := c.raw["default_host_dir"].(string); ok && s != "" {
		hostDir = s
	}
	if d := getenv("MNGR_HOST_DIR"); d != "" {
		hostDir = d
	}
	c.DefaultHostDir = expandHome(hostDir, getenv)
	if v, ok := c.raw["enabled_backends"].([]any); ok {
		for _, b := range v {
			c.EnabledBackends = append(c.EnabledBackends, fmt.Sprint(b))
		}
	}
	if b, ok := c.raw["is_nested_tmux_allowed"].(bool); ok {
		c.IsNestedTmuxAllowed = b
	}
	if s, ok := c.raw["connect_command"].(string); ok {
		c.ConnectCommand = s
	}
	c.AgentReadyTimeout = core.DefaultAgentReadyTimeout
	if v, ok := c.raw["agent_ready_timeout"]; ok {
		var secs float64
		switch n := v.(type) {
		case int64:
			secs = float64(n)
		case float64:
			secs = n
		}
		if secs <= 0 || secs > 86400 {
			return core.WithHint(fmt.Errorf("agent_ready_timeout in %s must be a number of seconds between 0 and 86400, not %v: %w", c.origins["agent_ready_timeout"], v, core.ErrInvalidInput),
				"set it in seconds, for example: mngr config set agent_ready_timeout 30")
		}
		c.AgentReadyTimeout = time.Duration(secs * float64(time.Second))
	}
	c.MessageConfirmTimeout = core.DefaultMessageConfirmTimeout
	if v, ok := c.raw["message_confirm_timeout"]; ok {
		var secs float64
		switch n := v.(type) {
		case int64:
			secs = float64(n)
		case float64:
			secs = n
		}
		if secs <= 0 || secs > 86400 {
			return core.WithHint(fmt.Errorf("message_confirm_timeout in %s must be a number of seconds between 0 and 86400, not %v: %w", c.origins["message_confirm_timeout"], v, core.ErrInvalidInput),
				"set it in seconds, for example: mngr config set message_confirm_timeout 120")
		}
		c.MessageConfirmTimeout = time.Duration(secs * float64(time.Second))
	}
	if b, ok := c.raw["claude_copy_credentials"].(bool); ok {
		c.ClaudeCopyCredentials = b
	}
	c.AgentTypes = map[string]AgentTypeSettings{}
	if types, ok := c.raw["agent_types"].(map[string]any); ok {
		for name, v := range types {
			var t AgentTypeSettings
			if err := decodeStrict(v.(map[string]any), &t, "agent_types."+name, c.origins); err != nil {
				return err
			}
			c.AgentTypes[name] = t
		}
	}
	c.providers = map[string]*providerBlock{}
	if provs, ok := c.raw["providers"].(map[string]any); ok {
		for name, v := range provs {
			if err := core.ValidateName("provider", name); err != nil {
				return fmt.Errorf("[providers.%s] in %s: %w", name, c.origins["providers."+name], err)
			}
			c.providers[name] = &providerBlock{name: name, keys: v.(map[string]any), origins: c.origins}
		}
	}
	return nil
}

// decodeStrict decodes m into v (a struct with json tags) and names the file
// of any unknown key.
func decodeStrict(m map[string]any, v any, section string, origins map[string]string) error {
	valid := fieldNames(v, "json")
	for _, k := range sortedKeys(m) {
		if !contains(valid, k) {
			file := origins[section+"."+k]
			return core.WithHint(
				fmt.Errorf("unknown key %q in [%s] (file %s): valid keys are %s: %w", k, section, file, strings.Join(valid, ", "), core.ErrInvalidInput),
				"remove or rename %q in %s", k, file)
		}
	}
	data, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode [%s]: %w", section, err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		file := origins[section]
		if file == "" {
			file = "your settings"
		}
		return core.WithHint(fmt.Errorf("decode [%s] (file %s): %s: %w", section, file, err.Error(), core.ErrInvalidInput),
			"check the value types in [%s] in %s", section, file)
	}
	return nil
}

// Provider returns the block [providers.NAME]; ok=false when absent.
func (c *Config) Provider(name string) (ProviderBlock, bool) {
	b, ok := c.providers[name]
	if !ok {
		return nil, false
	}
	return b, true
}

// ProviderNames lists the configured provider blocks, sorted.
func (c *Config) ProviderNames() []string {
	return sortedKeys(anyMap(c.providers))
}

// CreateType is commands.create.type, or "" when unset.
func (c *Config) CreateType() string {
	v, _ := c.Get("commands.create.type")
	s, _ := v.(string)
	return s
}

// Get returns the merged value at a dotted key.
func (c *Config) Get(key string) (any, bool) {
	var cur any = c.raw
	for _, p := range strings.Split(key, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[p]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// Flatten returns every leaf of the merged config as dotted key → value.
func (c *Config) Flatten() map[string]any {
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
	walk("", c.raw)
	out["prefix"] = c.Prefix
	out["default_host_dir"] = c.DefaultHostDir
	return out
}

// ProviderBlock is one [providers.NAME] block.
type ProviderBlock interface {
	core.Settings
	// Backend is the backend key, defaulting to the block's name.
	Backend() string
	// Enabled is false only when is_enabled = false.
	Enabled() bool
	// Name is the provider instance name.
	Name() string
}

type providerBlock struct {
	name    string
	keys    map[string]any
	origins map[string]string
}

var _ ProviderBlock = (*providerBlock)(nil)

func (b *providerBlock) Name() string { return b.name }

func (b *providerBlock) Backend() string {
	if s, ok := b.keys["backend"].(string); ok && s != "" {
		return s
	}
	return b.name
}

func (b *providerBlock) Enabled() bool {
	e, ok := b.keys["is_enabled"].(bool)
	return !ok || e
}

// Decode fills v from the block's backend-specific keys, strictly.
func (b *providerBlock) Decode(v any) error {
	section := "providers." + b.name
	specific := map[string]any{}
	for k, val := range b.keys {
		if !commonProviderKeys[k] {
			specific[k] = val
		}
	}
	valid := fieldNames(v, "toml")
	for _, k := range sortedKeys(specific) {
		if !contains(valid, k) {
			file := b.origins[section+"."+k]
			return core.WithHint(
				fmt.Errorf("unknown key %q in [%s] (file %s): valid keys are %s: %w", k, section, file, strings.Join(valid, ", "), core.ErrInvalidInput),
				"remove or rename %q in [%s] of %s", k, section, file)
		}
	}
	data, err := toml.Marshal(specific)
	if err != nil {
		return fmt.Errorf("encode [%s]: %w", section, err)
	}
	dec := toml.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		files := map[string]bool{}
		for k := range specific {
			files[b.origins[section+"."+k]] = true
		}
		return core.WithHint(fmt.Errorf("decode [%s] (file %s): %s: %w", section, strings.Join(sortedKeys(anyMap(files)), ", "), err.Error(), core.ErrInvalidInput),
			"check the keys and value types in [%s]", section)
	}
	return nil
}

// EmptySettings is the settings of a default provider instance with no block:
// Decode leaves v untouched.
type EmptySettings struct{}

// Decode leaves v's defaults in place.
func (EmptySettings) Decode(any) error { return nil }

// fieldNames lists the keys a struct accepts, from the given tag.
func fieldNames(v any, tag string) []string {
	t := reflect.TypeOf(v)
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct {
		return nil
	}
	var names []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name := f.Name
		if tv, ok := f.Tag.Lookup(tag); ok {
			n, _, _ := strings.Cut(tv, ",")
			if n == "-" {
				continue
			}
			if n != "" {
				name = n
			}
		}
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

func expandHome(p string, getenv func(string) string) string {
	if p == "~" || strings.HasPrefix(p, "~/") {
		home := getenv("HOME")
		if home == "" {
			home, _ = os.UserHomeDir()
		}
		return filepath.Join(home, strings.TrimPrefix(p, "~"))
	}
	return p
}

func anyMap[V any](m map[string]V) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// CommandDefault is the string default commands.COMMAND.KEY sets for a
// flag, or "" when unset.
func (c *Config) CommandDefault(command, key string) string {
	v, _ := c.Get("commands." + command + "." + key)
	s, _ := v.(string)
	return s
}
