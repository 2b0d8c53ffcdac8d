package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/pelletier/go-toml/v2"

	"github.com/mngr-azure/mngr/internal/core"
)

// ScopePath returns the settings file a scope writes to.
func ScopePath(scope Scope, workDir string, getenv func(string) string) (string, error) {
	user, project, local := Paths(workDir, getenv)
	var path string
	switch scope {
	case ScopeUser:
		path = user
	case ScopeProject:
		path = project
	case ScopeLocal:
		path = local
	default:
		return "", core.WithHint(fmt.Errorf("unknown scope %q: %w", scope, core.ErrInvalidInput),
			"use --scope user, project or local")
	}
	if path == "" {
		return "", core.WithHint(fmt.Errorf("scope %q needs a git repository: %w", scope, core.ErrInvalidInput),
			"run inside a git repository, or use --scope user")
	}
	return path, nil
}

// SetOptions are the checks of SetValue beyond the schema.
type SetOptions struct {
	// CommandFlags, when not nil, says which [commands.VERB] keys exist.
	CommandFlags CommandFlags
	// Verify, when set, sees the whole file as it would be written, after
	// the schema check; an error refuses the write.
	Verify func(file map[string]any) error
}

// ParseValue reads a command-line value as JSON, falling back to the string.
func ParseValue(s string) any { return parseValue(s) }

// SetValue writes key=VALUE into the settings file at path, keeping its
// other keys; the file and its directory are created if needed. text is
// read as JSON, else as a string (a string setting keeps the text as it
// is). The value is checked against the schema first, and a bad value is
// ErrInvalidInput naming the key and the file, with nothing written.
// It returns the value written.
func SetValue(path, key, text string, opts SetOptions) (any, error) {
	flags := opts.CommandFlags
	var written any
	err := edit(path, key, func(m map[string]any, parts []string) error {
		if err := setPath(m, parts, parseValue(text)); err != nil {
			return err
		}
		// Check the whole file as it would be, so a bad write never lands.
		src := func(k string) Source {
			s := Source{Layer: LayerUser, Where: path}
			if k == key {
				s.Layer, s.raw = layerSet, text
			}
			return s
		}
		if err := checkLayer(m, src, flags); err != nil {
			return err
		}
		if opts.Verify != nil {
			if err := opts.Verify(m); err != nil {
				return err
			}
		}
		written, _ = lookupPath(m, parts)
		return nil
	})
	return written, err
}

// UnsetValue removes key from the settings file at path; it reports
// ErrNotFound when the key is not there. The rest of the file is not
// checked, so unset can remove a bad value.
func UnsetValue(path, key string) error {
	return edit(path, key, func(m map[string]any, parts []string) error {
		if !unsetPath(m, parts) {
			return fmt.Errorf("key %q in %s: %w", key, path, core.ErrNotFound)
		}
		return nil
	})
}

func edit(path, key string, change func(m map[string]any, parts []string) error) error {
	parts := strings.Split(key, ".")
	if key == "" || !contains(topLevelKeys, parts[0]) {
		return core.WithHint(fmt.Errorf("unknown key %q: valid top-level keys are %s: %w", key, strings.Join(topLevelKeys, ", "), core.ErrInvalidInput),
			"check the key name, for example commands.create.type; 'mngr config list' shows the settings")
	}
	m, err := readFile(path)
	if errors.Is(err, os.ErrNotExist) {
		m, err = map[string]any{}, nil
	}
	if err != nil {
		return err
	}
	if err := change(m, parts); err != nil {
		return err
	}
	data, err := toml.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("create settings dir: %w", err)
	}
	if err := core.WriteFileAtomic(path, data, 0o600); err != nil {
		return fmt.Errorf("save settings: %w", err)
	}
	return nil
}

// lookupPath returns m[a][b]….
func lookupPath(m map[string]any, parts []string) (any, bool) {
	var cur any = m
	for _, p := range parts {
		t, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = t[p]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// unsetPath deletes m[a][b]… and prunes tables left empty; false if absent.
func unsetPath(m map[string]any, parts []string) bool {
	if len(parts) == 1 {
		if _, ok := m[parts[0]]; !ok {
			return false
		}
		delete(m, parts[0])
		return true
	}
	next, ok := m[parts[0]].(map[string]any)
	if !ok || !unsetPath(next, parts[1:]) {
		return false
	}
	if len(next) == 0 {
		delete(m, parts[0])
	}
	return true
}
