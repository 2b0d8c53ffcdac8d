package config

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mngr-azure/mngr/internal/core"
)

// Source names the layer a value came from and where in it.
type Source struct {
	// Layer is "default", "user", "project", "local", "env" or "-S".
	Layer string `json:"source"`
	// Where is the settings file, the environment variable, or "-S"; empty
	// for a default.
	Where string `json:"origin,omitempty"`
	// raw is the text of an env or -S value, before it was read as JSON.
	raw string
}

// Layer names of Source.
const (
	LayerDefault = "default"
	LayerUser    = "user"
	LayerProject = "project"
	LayerLocal   = "local"
	LayerEnv     = "env"
	LayerFlag    = "-S"
)

// in is the place a message names: "in FILE", "in environment variable X",
// "in -S".
func (s Source) in() string {
	switch s.Layer {
	case LayerEnv:
		return "in environment variable " + s.Where
	case LayerFlag:
		return "in -S"
	case LayerDefault, "":
		return "(default)"
	}
	return "in " + s.Where
}

// layerSet marks the value `mngr config set` is about to write.
const layerSet = "set"

// fixHint is the next step for a bad value of key from s.
func (s Source) fixHint(key, example string) string {
	switch {
	case s.Layer == layerSet && example != "":
		return fmt.Sprintf("nothing was written; for example: mngr config set %s %s", key, example)
	case s.Layer == layerSet:
		return "nothing was written; docs/configuration.md lists the values of each key"
	case s.Layer == LayerEnv && example != "":
		return fmt.Sprintf("fix or unset %s, for example %s=%s", s.Where, s.Where, example)
	case s.Layer == LayerEnv:
		return fmt.Sprintf("fix or unset %s", s.Where)
	case s.Layer == LayerFlag && example != "":
		return fmt.Sprintf("fix the value, for example -S %s=%s", key, example)
	case s.Layer == LayerFlag:
		return fmt.Sprintf("fix the value of -S %s (docs/configuration.md lists the values of each key)", key)
	case example == "":
		return fmt.Sprintf("fix or remove %s in %s", key, s.Where)
	}
	scope := ""
	if s.Layer == LayerUser || s.Layer == LayerLocal {
		scope = " --scope " + s.Layer
	}
	return fmt.Sprintf("fix or remove %s in %s, for example: mngr config set %s %s%s", key, s.Where, key, example, scope)
}

// valueType is what a setting's value must be. check returns the value to
// keep (an env or -S text may become a string) or a "want …" phrase.
type valueType struct {
	want    string
	example string
	check   func(v any, src Source) (any, bool)
}

// badValue is the error for a value of the wrong type or range.
func badValue(key string, src Source, t valueType, v any) error {
	return core.WithHint(fmt.Errorf("%s %s: want %s, got %s: %w", key, src.in(), t.want, describe(v), core.ErrInvalidInput),
		"%s", src.fixHint(key, t.example))
}

// describe renders a value in a message the way the user wrote it.
func describe(v any) string {
	switch x := v.(type) {
	case string:
		return strconv.Quote(x)
	case map[string]any:
		return "a table"
	case nil:
		return "nothing"
	}
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(data)
}

// number reads a TOML or JSON number.
func number(v any) (float64, bool) {
	switch n := v.(type) {
	case int64:
		return float64(n), true
	case int:
		return float64(n), true
	case float64:
		return n, !math.IsNaN(n) && !math.IsInf(n, 0)
	}
	return 0, false
}

var (
	typeString = valueType{want: "a string", example: "text", check: func(v any, src Source) (any, bool) {
		if _, ok := v.(string); ok {
			return v, true
		}
		// -S prefix=42 means the text "42".
		if src.raw != "" {
			if _, isTable := v.(map[string]any); !isTable {
				return src.raw, true
			}
		}
		return nil, false
	}}
	typeBool = valueType{want: "true or false", example: "true", check: func(v any, _ Source) (any, bool) {
		_, ok := v.(bool)
		return v, ok
	}}
	typeStrings = valueType{want: `a list of strings, like ["a", "b"]`, example: `'["a"]'`, check: func(v any, _ Source) (any, bool) {
		list, ok := v.([]any)
		if !ok {
			return nil, false
		}
		for _, x := range list {
			if _, ok := x.(string); !ok {
				return nil, false
			}
		}
		return v, true
	}}
	typeNumber = valueType{want: "a number", example: "1", check: func(v any, _ Source) (any, bool) {
		_, ok := number(v)
		return v, ok
	}}
)

// typeWhole is a whole number from min to max.
func typeWhole(lo, hi int64) valueType {
	want := fmt.Sprintf("a whole number from %d to %d", lo, hi)
	example := strconv.FormatInt(max(lo, 0), 10)
	if lo <= math.MinInt32 && hi >= math.MaxInt32 {
		want, example = "a whole number", ""
	}
	return valueType{want: want, example: example, check: func(v any, _ Source) (any, bool) {
		n, ok := number(v)
		if !ok || n != math.Trunc(n) || n < float64(lo) || n > float64(hi) {
			return nil, false
		}
		return int64(n), true
	}}
}

// typeSeconds is a number of seconds, more than 0 (or at least 0) and at
// most max.
func typeSeconds(zeroOK bool, max float64) valueType {
	limit := strconv.FormatFloat(max, 'f', -1, 64)
	want := "a number of seconds more than 0 and at most " + limit
	if zeroOK {
		want = "a number of seconds from 0 to " + limit
	}
	return valueType{want: want, example: "30", check: func(v any, _ Source) (any, bool) {
		n, ok := number(v)
		if !ok || n < 0 || (n == 0 && !zeroOK) || n > max {
			return nil, false
		}
		return v, true
	}}
}

// typeDuration is a duration string ("5s") or a number of seconds, from 0
// to max.
func typeDuration(max time.Duration) valueType {
	return valueType{want: fmt.Sprintf(`a duration such as "5s" (or a number of seconds) from 0 to %s`, shortDuration(max)), example: "5s",
		check: func(v any, _ Source) (any, bool) {
			d, ok := ParseDuration(v)
			return v, ok && d >= 0 && d <= max
		}}
}

// ParseDuration reads a duration setting: a Go duration string ("5s",
// "1m30s") or a number of seconds.
func ParseDuration(v any) (time.Duration, bool) {
	if n, ok := number(v); ok {
		return time.Duration(n * float64(time.Second)), true
	}
	s, ok := v.(string)
	if !ok {
		return 0, false
	}
	d, err := time.ParseDuration(strings.TrimSpace(s))
	return d, err == nil
}

func shortDuration(d time.Duration) string {
	s := d.String()
	s = strings.TrimSuffix(s, "0s")
	return strings.TrimSuffix(s, "0m")
}

// keySpec is one known setting: its type and, when it has one, its default.
type keySpec struct {
	t   valueType
	def any
}

// Defaults of the retry keys (read by mngr connect).
const (
	DefaultConnectRetryTimes = 3
	DefaultConnectRetryDelay = 5 * time.Second
	// MaxConnectRetryTimes and MaxConnectRetryDelay bound the retry keys.
	MaxConnectRetryTimes = 100
	MaxConnectRetryDelay = time.Hour
	// MaxAgentReadyTimeout bounds agent_ready_timeout, in seconds.
	MaxAgentReadyTimeout = 86400
)

// scalarKeys are the settings that hold one value (dotted for the keys of
// the retry table).
var scalarKeys = map[string]keySpec{
	"prefix":                  {t: typeString, def: DefaultPrefix},
	"default_host_dir":        {t: typeString, def: defaultHostDir},
	"enabled_backends":        {t: typeStrings, def: []any{}},
	"is_nested_tmux_allowed":  {t: typeBool, def: false},
	"connect_command":         {t: typeString},
	"unset_vars":              {t: typeStrings},
	"headless":                {t: typeBool},
	"agent_ready_timeout":     {t: typeSeconds(false, MaxAgentReadyTimeout), def: int64(core.DefaultAgentReadyTimeout / time.Second)},
	"message_confirm_timeout": {t: typeSeconds(false, MaxAgentReadyTimeout), def: int64(core.DefaultMessageConfirmTimeout / time.Second)},
	"claude_copy_credentials": {t: typeBool, def: false},
	"default_destroyed_host_persisted_seconds": {t: typeSeconds(true, math.MaxInt32)},
	"default_min_online_host_age_seconds":      {t: typeSeconds(true, math.MaxInt32)},
	"retry.connect_retry_times":                {t: typeWhole(0, MaxConnectRetryTimes), def: int64(DefaultConnectRetryTimes)},
	"retry.connect_retry_delay":                {t: typeDuration(MaxConnectRetryDelay), def: DefaultConnectRetryDelay.String()},
}

// agentTypeKeys are the keys of an [agent_types.NAME] block.
var agentTypeKeys = map[string]valueType{
	"command": typeString, "cli_args": typeStrings, "parent_type": typeString,
}

// commonProviderTypes are the types of the keys every provider block may
// hold; they are not handed to the backend's decoder.
var commonProviderTypes = map[string]valueType{
	"backend": typeString, "plugin": typeString, "is_enabled": typeBool,
	"destroyed_host_persisted_seconds": typeSeconds(true, math.MaxInt32),
	"min_online_host_age_seconds":      typeSeconds(true, math.MaxInt32),
}

// CommandFlags describes the commands whose flags [commands.VERB] may set:
// verb → flag name → the flag's type as pflag names it ("string", "bool",
// "int", "stringArray", "duration", …). The cli fills it from its command
// tree; nil means commands.* blocks are checked for shape only.
type CommandFlags map[string]map[string]string

// flagType is the valueType a [commands.VERB] key must have for a flag of
// pflag type name.
func flagType(name string) valueType {
	switch name {
	case "string":
		return typeString
	case "bool":
		return typeBool
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64", "count":
		return typeWhole(math.MinInt32, math.MaxInt32)
	case "float32", "float64":
		return typeNumber
	case "stringArray", "stringSlice":
		return typeStrings
	case "duration":
		return typeDuration(math.MaxInt64)
	}
	return typeString
}

// lookupFlag finds the flag a [commands.VERB] key names: the flag's own
// name, or the name with '_' for '-' (remove_created_branch).
func (cf CommandFlags) lookupFlag(verb, key string) (string, bool) {
	flags := cf[verb]
	if t, ok := flags[key]; ok {
		return t, true
	}
	t, ok := flags[strings.ReplaceAll(key, "_", "-")]
	return t, ok
}

// keyNames lists a map's keys, sorted, as one comma-separated string.
func keyNames[V any](m map[string]V) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return strings.Join(keys, ", ")
}

func unknownKey(key string, src Source, valid, hint string) error {
	msg := fmt.Sprintf("unknown key %s %s", key, src.in())
	if valid != "" {
		msg += ": valid keys are " + valid
	}
	return core.WithHint(fmt.Errorf("%s: %w", msg, core.ErrInvalidInput), "%s", hint)
}

func removeHint(key string, src Source) string {
	switch src.Layer {
	case layerSet:
		return "nothing was written; check the key name ('mngr config list' shows the settings)"
	case LayerEnv:
		return "unset " + src.Where
	case LayerFlag:
		return "drop -S " + key + " (see docs/configuration.md for the keys)"
	}
	return fmt.Sprintf("remove or rename %s in %s", key, src.Where)
}

// checkLayer checks every key and value of one layer against the schema,
// normalizing values in place (an env or -S text for a string key stays
// text). src gives each dotted key's source.
func checkLayer(m map[string]any, src func(key string) Source, flags CommandFlags) error {
	for _, k := range sortedKeys(m) {
		s := src(k)
		if !contains(topLevelKeys, k) {
			return core.WithHint(
				fmt.Errorf("unknown key %q %s: valid keys are %s: %w", k, s.in(), strings.Join(topLevelKeys, ", "), core.ErrInvalidInput),
				"%s", removeHint(k, s))
		}
		v := m[k]
		if spec, ok := scalarKeys[k]; ok {
			nv, ok := spec.t.check(v, s)
			if !ok {
				return badValue(k, s, spec.t, v)
			}
			m[k] = nv
			continue
		}
		table, ok := v.(map[string]any)
		if !ok {
			return core.WithHint(fmt.Errorf("%s %s must be a table, got %s: %w", k, s.in(), describe(v), core.ErrInvalidInput),
				"write it as [%s] sections (see docs/configuration.md)", k)
		}
		if k == "retry" {
			for _, rk := range sortedKeys(table) {
				key := "retry." + rk
				spec, ok := scalarKeys[key]
				if !ok {
					return unknownKey(key, src(key), "connect_retry_delay, connect_retry_times", removeHint(key, src(key)))
				}
				nv, ok := spec.t.check(table[rk], src(key))
				if !ok {
					return badValue(key, src(key), spec.t, table[rk])
				}
				table[rk] = nv
			}
			continue
		}
		for _, name := range sortedKeys(table) {
			section := k + "." + name
			block, ok := table[name].(map[string]any)
			if !ok {
				return core.WithHint(fmt.Errorf("%s %s must be a table, got %s: %w", section, src(section).in(), describe(table[name]), core.ErrInvalidInput),
					"write it as a [%s] section", section)
			}
			if err := checkBlock(k, name, block, src, flags); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkBlock checks one [CONTAINER.NAME] block.
func checkBlock(container, name string, block map[string]any, src func(key string) Source, flags CommandFlags) error {
	section := container + "." + name
	var types map[string]valueType
	switch container {
	case "agent_types":
		types = agentTypeKeys
	case "providers":
		if err := core.ValidateName("provider", name); err != nil {
			return fmt.Errorf("[%s] %s: %w", section, src(section).in(), err)
		}
		types = commonProviderTypes
	case "commands":
		if flags == nil {
			return nil
		}
		if _, ok := flags[name]; !ok {
			s := src(section)
			return core.WithHint(fmt.Errorf("unknown command %q in [%s] %s: %w", name, section, s.in(), core.ErrInvalidInput),
				"[commands.VERB] sets flag defaults of a mngr command; valid verbs are %s", keyNames(flags))
		}
	case "create_templates":
		if err := core.ValidateName("template", name); err != nil {
			return fmt.Errorf("[%s] %s: %w", section, src(section).in(), err)
		}
		if flags == nil {
			return nil
		}
	default: // plugins: accepted as they are
		return nil
	}
	for _, bk := range sortedKeys(block) {
		key := section + "." + bk
		s := src(key)
		var t valueType
		switch container {
		case "commands":
			ft, ok := flags.lookupFlag(name, bk)
			if _, sub := flags[name+" "+bk]; !ok && sub {
				return unknownKey(key, s, "",
					fmt.Sprintf("%s; for the flags of mngr %s %s write a table [commands.\"%s %s\"]", removeHint(key, s), name, bk, name, bk))
			}
			if !ok {
				return unknownKey(key, s, "",
					fmt.Sprintf("%s; mngr %s has no flag --%s (its flags: %s)", removeHint(key, s), name, strings.ReplaceAll(bk, "_", "-"), keyNames(flags[name])))
			}
			t = flagType(ft)
		case "create_templates":
			ft, ok := flags.lookupFlag("create", bk)
			if !ok || bk == "template" {
				return unknownKey(key, s, "",
					fmt.Sprintf("%s; a template sets flags of mngr create, which has no flag --%s (its flags: %s)",
						removeHint(key, s), strings.ReplaceAll(bk, "_", "-"), keyNames(templateFlags(flags))))
			}
			t = flagType(ft)
		case "providers":
			var ok bool
			if t, ok = types[bk]; !ok {
				continue // the backend's own key: its decoder checks it
			}
		default:
			var ok bool
			if t, ok = types[bk]; !ok {
				return unknownKey(key, s, keyNames(types), removeHint(key, s))
			}
		}
		nv, ok := t.check(block[bk], s)
		if !ok {
			return badValue(key, s, t, block[bk])
		}
		block[bk] = nv
	}
	return nil
}

// templateFlags are the create flags a [create_templates.NAME] table may
// set: all of them but --template itself.
func templateFlags(flags CommandFlags) map[string]string {
	out := map[string]string{}
	for k, v := range flags["create"] {
		if k != "template" {
			out[k] = v
		}
	}
	return out
}
