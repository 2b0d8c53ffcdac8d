// Package config loads mngr's layered settings: defaults, the user file, the
// project files at the git root, MNGR__A__B environment variables and -S
// overrides, and hands each [providers.NAME] block to its backend for strict
// decoding.
package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
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
	// CommandFlags lists the flags [commands.VERB] blocks may set; nil
	// checks those blocks for shape only.
	CommandFlags CommandFlags
	// Replace gives the content of a settings file instead of the file on
	// disk, by path (config set checks a file before it writes it).
	Replace map[string]map[string]any
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

	raw map[string]any
	// origins says where each dotted key's value came from; a later trust
	// check of project files can read it.
	origins   map[string]Source
	flags     CommandFlags
	providers map[string]*providerBlock
	// Files lists the settings files that were read, lowest layer first.
	Files []string
	trust []FileTrust
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

// Load reads every layer, checks each value against the schema where it is
// read (naming the key and its file, variable or -S), and merges them.
func Load(opts LoadOptions) (*Config, error) {
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	c := &Config{raw: map[string]any{}, origins: map[string]Source{}, flags: opts.CommandFlags}
	user, project, local := Paths(opts.WorkDir, getenv)
	store, err := loadTrustStore(TrustStorePath(getenv))
	if err != nil {
		return nil, err
	}
	for i, l := range []Source{{Layer: LayerUser, Where: user}, {Layer: LayerProject, Where: project}, {Layer: LayerLocal, Where: local}} {
		path := l.Where
		if path == "" || (i > 0 && canonicalPath(path) == canonicalPath(user)) {
			continue
		}
		data, err := os.ReadFile(path) //nolint:gosec // G304: reading the settings files is the point.
		replaced, isReplaced := opts.Replace[path]
		if errors.Is(err, os.ErrNotExist) && !isReplaced {
			continue
		}
		if err != nil && !isReplaced {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
		var m map[string]any
		if isReplaced {
			m = replaced
		} else if m, err = parseSettings(path, data); err != nil {
			return nil, err
		}
		src := l
		sourceOf := func(string) Source { return src }
		if i > 0 {
			// Every value of a repository's file is checked, applied or not;
			// then only what an untrusted file may set is kept (trust.go).
			if err := checkLayer(m, sourceOf, c.flags); err != nil {
				return nil, err
			}
			m = c.screenLayer(path, data, m, store)
		}
		if err := c.addLayer(m, sourceOf); err != nil {
			return nil, err
		}
		c.Files = append(c.Files, l.Where)
	}
	environ := opts.Environ
	if environ == nil {
		environ = os.Environ
	}
	envLayer, envSources, err := envOverrides(environ())
	if err != nil {
		return nil, err
	}
	if err := c.addLayer(envLayer, sourceLookup(envSources, Source{Layer: LayerEnv, Where: "MNGR__…"})); err != nil {
		return nil, err
	}
	sLayer, sSources, err := flagOverrides(opts.Overrides)
	if err != nil {
		return nil, err
	}
	if err := c.addLayer(sLayer, sourceLookup(sSources, Source{Layer: LayerFlag, Where: "-S"})); err != nil {
		return nil, err
	}
	c.finish(getenv)
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

// envOverrides turns MNGR__A__B=VALUE variables into a layer, and says
// which variable set each dotted key.
func envOverrides(environ []string) (map[string]any, map[string]Source, error) {
	layer := map[string]any{}
	sources := map[string]Source{}
	for _, kv := range environ {
		name, val, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, "MNGR__") || val == "" {
			continue
		}
		parts := strings.Split(strings.ToLower(strings.TrimPrefix(name, "MNGR__")), "__")
		if err := setPath(layer, parts, parseValue(val)); err != nil {
			return nil, nil, fmt.Errorf("environment variable %s: %w", name, err)
		}
		sources[strings.Join(parts, ".")] = Source{Layer: LayerEnv, Where: name, raw: val}
	}
	return layer, sources, nil
}

// flagOverrides turns -S KEY=VALUE overrides into a layer.
func flagOverrides(overrides []string) (map[string]any, map[string]Source, error) {
	layer := map[string]any{}
	sources := map[string]Source{}
	for _, o := range overrides {
		key, val, ok := strings.Cut(o, "=")
		if !ok || key == "" {
			return nil, nil, core.WithHint(fmt.Errorf("invalid setting %q: %w", o, core.ErrInvalidInput),
				"write -S KEY=VALUE, for example -S prefix=my-")
		}
		if err := setPath(layer, strings.Split(key, "."), parseValue(val)); err != nil {
			return nil, nil, err
		}
		sources[key] = Source{Layer: LayerFlag, Where: "-S", raw: val}
	}
	return layer, sources, nil
}

// sourceLookup finds the source of a dotted key in an env or -S layer: the
// key's own entry, else the first entry below it (for a table), else def.
func sourceLookup(sources map[string]Source, def Source) func(string) Source {
	return func(key string) Source {
		if s, ok := sources[key]; ok {
			return s
		}
		for _, k := range sortedKeys(anyMap(sources)) {
			if strings.HasPrefix(k, key+".") {
				s := sources[k]
				s.raw = ""
				return s
			}
		}
		return def
	}
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

// addLayer checks a layer against the schema and merges it over the config,
// recording each value's source.
func (c *Config) addLayer(m map[string]any, src func(key string) Source) error {
	if err := checkLayer(m, src, c.flags); err != nil {
		return err
	}
	for _, k := range sortedKeys(m) {
		v := m[k]
		if !perKeyContainers[k] {
			// Replaced as a whole: forget the sources of the old value.
			for ok := range c.origins {
				if strings.HasPrefix(ok, k+".") {
					delete(c.origins, ok)
				}
			}
			c.raw[k] = v
			c.origins[k] = src(k)
			if sub, ok := v.(map[string]any); ok {
				for sk := range sub {
					c.origins[k+"."+sk] = src(k + "." + sk)
				}
			}
			continue
		}
		sub := v.(map[string]any) // checkLayer made sure
		dst, _ := c.raw[k].(map[string]any)
		if dst == nil {
			dst = map[string]any{}
			c.raw[k] = dst
		}
		for name, block := range sub {
			bm := block.(map[string]any)
			existing, _ := dst[name].(map[string]any)
			if existing == nil {
				existing = map[string]any{}
				dst[name] = existing
				c.origins[k+"."+name] = src(k + "." + name)
			}
			for bk, bv := range bm {
				existing[bk] = bv
				c.origins[k+"."+name+"."+bk] = src(k + "." + name + "." + bk)
			}
		}
	}
	return nil
}

// finish fills the typed fields from the merged raw map, whose values
// checkLayer has already checked.
func (c *Config) finish(getenv func(string) string) {
	c.Prefix = DefaultPrefix
	if s, ok := c.raw["prefix"].(string); ok {
		c.Prefix = s
	}
	if p := getenv("MNGR_PREFIX"); p != "" {
		c.Prefix = p
		c.origins["prefix"] = Source{Layer: LayerEnv, Where: "MNGR_PREFIX"}
	}
	hostDir := defaultHostDir
	if s, ok := c.raw["default_host_dir"].(string); ok && s != "" {
		hostDir = s
	}
	if d := getenv("MNGR_HOST_DIR"); d != "" {
		hostDir = d
		c.origins["default_host_dir"] = Source{Layer: LayerEnv, Where: "MNGR_HOST_DIR"}
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
	if secs, ok := number(c.raw["agent_ready_timeout"]); ok {
		c.AgentReadyTimeout = time.Duration(secs * float64(time.Second))
	}
	c.MessageConfirmTimeout = core.DefaultMessageConfirmTimeout
	// The schema checked the range where the value was read (schema.go).
	if secs, ok := number(c.raw["message_confirm_timeout"]); ok {
		c.MessageConfirmTimeout = time.Duration(secs * float64(time.Second))
	}
	if b, ok := c.raw["claude_copy_credentials"].(bool); ok {
		c.ClaudeCopyCredentials = b
	}
	c.AgentTypes = map[string]AgentTypeSettings{}
	if types, ok := c.raw["agent_types"].(map[string]any); ok {
		for name, v := range types {
			var t AgentTypeSettings
			m, _ := v.(map[string]any)
			if cli, ok := m["cli_args"].([]any); ok {
				for _, a := range cli {
					t.CLIArgs = append(t.CLIArgs, fmt.Sprint(a))
				}
			}
			t.Command, _ = m["command"].(string)
			t.ParentType, _ = m["parent_type"].(string)
			c.AgentTypes[name] = t
		}
	}
	c.providers = map[string]*providerBlock{}
	if provs, ok := c.raw["providers"].(map[string]any); ok {
		for name, v := range provs {
			c.providers[name] = &providerBlock{name: name, keys: v.(map[string]any), origins: c.origins}
		}
	}
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

// Get returns the effective value at a dotted key: the merged value, else
// the key's default; ok is false when neither exists.
func (c *Config) Get(key string) (any, bool) {
	switch key {
	case "prefix":
		return c.Prefix, true
	case "default_host_dir":
		return c.DefaultHostDir, true
	}
	var cur any = c.raw
	for _, p := range strings.Split(key, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			cur = nil
			break
		}
		if cur, ok = m[p]; !ok {
			cur = nil
			break
		}
	}
	if cur != nil {
		return cur, true
	}
	if spec, ok := scalarKeys[key]; ok && spec.def != nil {
		return spec.def, true
	}
	return nil, false
}

// Setting is one effective setting and where its value came from.
type Setting struct {
	Key   string `json:"key"`
	Value any    `json:"value"`
	Source
}

// LayerUnset is the Source.Layer of a known key that has no value and no
// default.
const LayerUnset = "unset"

// LayerMixed is the Source.Layer of a table whose keys come from more than
// one layer.
const LayerMixed = "mixed"

// Lookup returns the effective setting KEY: its value and source, a
// default, or LayerUnset for a known key without either. A key the schema
// does not know is ErrInvalidInput with a hint.
func (c *Config) Lookup(key string) (Setting, error) {
	if !c.known(key) {
		return Setting{}, core.WithHint(fmt.Errorf("no setting named %q: %w", key, core.ErrInvalidInput),
			"run 'mngr config list' to see the settings, or see docs/configuration.md")
	}
	var below []Setting
	for _, s := range c.Settings() {
		if s.Key == key {
			return s, nil
		}
		if strings.HasPrefix(s.Key, key+".") {
			below = append(below, s)
		}
	}
	if len(below) > 0 {
		// A table: the effective values under it, and their source when
		// they share one.
		table := map[string]any{}
		src := below[0].Source
		for _, s := range below {
			_ = setPath(table, strings.Split(strings.TrimPrefix(s.Key, key+"."), "."), s.Value)
			if s.Layer != src.Layer || s.Where != src.Where {
				src = Source{Layer: LayerMixed}
			}
		}
		return Setting{Key: key, Value: table, Source: src}, nil
	}
	v, ok := c.Get(key)
	if !ok {
		return Setting{Key: key, Source: Source{Layer: LayerUnset}}, nil
	}
	// A table: its merged value; its keys list their own sources.
	return Setting{Key: key, Value: v, Source: c.sourceOf(key)}, nil
}

// known reports whether key names a setting (or a table of settings) the
// schema allows.
func (c *Config) known(key string) bool {
	if _, ok := scalarKeys[key]; ok {
		return true
	}
	parts := strings.Split(key, ".")
	if !contains(topLevelKeys, parts[0]) {
		return false
	}
	if _, ok := c.Get(key); ok {
		return true
	}
	switch parts[0] {
	case "retry":
		return len(parts) == 1
	case "agent_types":
		return len(parts) < 3 || (len(parts) == 3 && agentTypeKeys[parts[2]].check != nil)
	case "commands":
		if c.flags == nil || len(parts) == 1 {
			return len(parts) <= 3
		}
		if _, ok := c.flags[parts[1]]; !ok {
			return false
		}
		if len(parts) == 2 {
			return true
		}
		_, ok := c.flags.lookupFlag(parts[1], parts[2])
		return ok && len(parts) == 3
	case "providers":
		// A backend's own keys are checked by the backend when it reads
		// its block; here any key of a block may be asked for.
		return len(parts) <= 3
	}
	return len(parts) == 1 || parts[0] == "plugins" || parts[0] == "create_templates"
}

// sourceOf is where the value of key came from (a default when not set).
func (c *Config) sourceOf(key string) Source {
	if s, ok := c.origins[key]; ok {
		return Source{Layer: s.Layer, Where: s.Where}
	}
	return Source{Layer: LayerDefault}
}

// Settings lists every effective setting, sorted by key: each known key
// with a value or a default, and every value set in a table.
func (c *Config) Settings() []Setting {
	vals := map[string]any{}
	for k, spec := range scalarKeys {
		if spec.def != nil {
			vals[k] = spec.def
		}
	}
	for k, v := range flattenLeaves(c.raw) {
		vals[k] = v
	}
	vals["prefix"] = c.Prefix
	vals["default_host_dir"] = c.DefaultHostDir
	out := make([]Setting, 0, len(vals))
	for _, k := range sortedKeys(vals) {
		out = append(out, Setting{Key: k, Value: vals[k], Source: c.sourceOf(k)})
	}
	return out
}

// Flatten returns every effective setting as dotted key → value.
func (c *Config) Flatten() map[string]any {
	out := map[string]any{}
	for _, s := range c.Settings() {
		out[s.Key] = s.Value
	}
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
	// Locate names a key of the block and where it was set, and the next
	// step to fix its value, for a backend's own check of the value.
	Locate(key string) (what, hint string)
}

type providerBlock struct {
	name    string
	keys    map[string]any
	origins map[string]Source
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

func (b *providerBlock) Locate(key string) (string, string) {
	full := "providers." + b.name + "." + key
	src, ok := b.origins[full]
	if !ok {
		return full + " (default)", fmt.Sprintf("set %s to a valid value (see docs/configuration.md)", full)
	}
	return full + " " + src.in(), src.fixHint(full, "")
}

// Decode fills v (a pointer to a struct with toml tags) from the block's
// backend-specific keys, strictly: an unknown key or a value of the wrong
// type is ErrInvalidInput naming the key and its file, in mngr's words.
func (b *providerBlock) Decode(v any) error {
	section := "providers." + b.name
	specific := map[string]any{}
	for k, val := range b.keys {
		if _, common := commonProviderTypes[k]; !common {
			specific[k] = val
		}
	}
	fields := tomlFields(v)
	valid := make([]string, 0, len(fields))
	for k := range fields {
		valid = append(valid, k)
	}
	sort.Strings(valid)
	for _, k := range sortedKeys(specific) {
		key := section + "." + k
		src := b.origins[key]
		ft, ok := fields[k]
		if !ok {
			return unknownKey(key, src, strings.Join(valid, ", "), removeHint(key, src))
		}
		t := fieldType(ft)
		nv, ok := t.check(specific[k], src)
		if !ok {
			return badValue(key, src, t, specific[k])
		}
		specific[k] = nv
	}
	data, err := toml.Marshal(specific)
	if err != nil {
		return fmt.Errorf("encode [%s]: %w", section, err)
	}
	dec := toml.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		// The checks above make this unreachable; keep Go's type names out
		// of the message all the same.
		return core.WithHint(fmt.Errorf("cannot read [%s]: %w", section, core.ErrInvalidInput),
			"check the value types in [%s] against docs/configuration.md", section)
	}
	return nil
}

// tomlFields maps the toml keys of the struct v points to to their types.
func tomlFields(v any) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	t := reflect.TypeOf(v)
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct {
		return out
	}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name := f.Name
		if tv, ok := f.Tag.Lookup("toml"); ok {
			n, _, _ := strings.Cut(tv, ",")
			if n == "-" {
				continue
			}
			if n != "" {
				name = n
			}
		}
		out[name] = f.Type
	}
	return out
}

// fieldType is the valueType a backend struct field of type t accepts.
func fieldType(t reflect.Type) valueType {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return typeString
	case reflect.Bool:
		return typeBool
	case reflect.Int8, reflect.Uint8:
		return typeWhole(math.MinInt8, math.MaxInt8)
	case reflect.Int16, reflect.Uint16:
		return typeWhole(math.MinInt16, math.MaxInt16)
	case reflect.Int, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint32, reflect.Uint64:
		return typeWhole(math.MinInt32, math.MaxInt32)
	case reflect.Float32, reflect.Float64:
		return typeNumber
	case reflect.Slice:
		if t.Elem().Kind() == reflect.String {
			return typeStrings
		}
	}
	return valueType{want: "a value", check: func(v any, _ Source) (any, bool) { return v, true }}
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

// CommandDefaults is the [commands.VERB] table: flag name (as written in
// the file) → value, already checked against the verb's flags. Nil when the
// verb has no table.
func (c *Config) CommandDefaults(verb string) map[string]any {
	return c.table("commands", verb)
}

// Template is the merged [create_templates.NAME] table (user, then
// project, then local, key by key); ok is false when no applied file
// defines it.
func (c *Config) Template(name string) (map[string]any, bool) {
	t := c.table("create_templates", name)
	return t, t != nil
}

// TemplateNames lists the defined templates, sorted.
func (c *Config) TemplateNames() []string {
	m, _ := c.raw["create_templates"].(map[string]any)
	return sortedKeys(m)
}

// IgnoredTemplateFile names the untrusted project or local file that
// defines template name, which mngr did not apply; "" when there is none.
func (c *Config) IgnoredTemplateFile(name string) string {
	for _, ft := range c.trust {
		for _, k := range ft.Ignored {
			if strings.HasPrefix(k, "create_templates."+name+".") || k == "create_templates."+name {
				return ft.Path
			}
		}
	}
	return ""
}

// SourceOf says where the effective value of a dotted key came from, as a
// message would name it ("in FILE", "in -S", "(default)").
func (c *Config) SourceOf(key string) string {
	return c.sourceOf(key).in()
}

// table is the [CONTAINER.NAME] block of the merged settings, copied.
func (c *Config) table(container, name string) map[string]any {
	m, _ := c.raw[container].(map[string]any)
	block, ok := m[name].(map[string]any)
	if !ok {
		return nil
	}
	out := make(map[string]any, len(block))
	for k, v := range block {
		out[k] = v
	}
	return out
}

// MinOnlineHostAge is how long a running host without agents of provider
// instance name must have been quiet before gc destroys it: the block's
// min_online_host_age_seconds, else default_min_online_host_age_seconds,
// else core.DefaultMinOnlineHostAge.
func (c *Config) MinOnlineHostAge(name string) time.Duration {
	if b, ok := c.providers[name]; ok {
		if secs, ok := number(b.keys["min_online_host_age_seconds"]); ok {
			return time.Duration(secs * float64(time.Second))
		}
	}
	if secs, ok := number(c.raw["default_min_online_host_age_seconds"]); ok {
		return time.Duration(secs * float64(time.Second))
	}
	return core.DefaultMinOnlineHostAge
}
