package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pelletier/go-toml/v2"

	"github.com/mngr-azure/mngr/internal/core"
)

// fuzzBlock is a stand-in provider config with toml tags, decoded strictly.
type fuzzBlock struct {
	Region string   `toml:"default_region"`
	Size   int      `toml:"size"`
	CIDRs  []string `toml:"allowed_ssh_cidrs"`
}

// FuzzLoadSettings loads arbitrary bytes as the user and the project
// settings file. Whatever the bytes, Load must not panic; a rejection must
// wrap core.ErrInvalidInput and name the file it came from; an accepted
// config must list both files, keep a string prefix from the files, and
// decode every provider block (strictly) without panicking, naming the file
// in any decode error.
func FuzzLoadSettings(f *testing.F) {
	f.Add([]byte("prefix = \"x-\"\n[providers.azure]\ndefault_region = \"westus\"\n"), []byte("[providers.azure]\nsize = 3\n"))
	f.Add([]byte("[providers.\"bad name\"]\n"), []byte(""))
	f.Add([]byte("providers = 3\n"), []byte("nope = 1\n"))
	f.Add([]byte("[agent_types.a]\ncommand = 5\n"), []byte("[agent_types.a]\nbogus = 1\n"))
	f.Add([]byte("\xef\xbb\xbfprefix = 'p'\n"), []byte("[providers.x]\nbackend = 'azure'\nsize = 'big'\n"))
	f.Add([]byte("[providers.a]\n[providers.a.b]\n"), []byte("prefix = \"\\u0000\"\n"))
	home := f.TempDir()
	repo := f.TempDir()
	if err := os.MkdirAll(filepath.Join(home, ".mngr"), 0o700); err != nil {
		f.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(repo, ".git"), 0o700); err != nil {
		f.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(repo, ".mngr"), 0o700); err != nil {
		f.Fatal(err)
	}
	userPath := filepath.Join(home, ".mngr", "settings.toml")
	projectPath := filepath.Join(repo, ".mngr", "settings.toml")
	f.Fuzz(func(t *testing.T, user, project []byte) {
		if err := os.WriteFile(userPath, user, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(projectPath, project, 0o600); err != nil {
			t.Fatal(err)
		}
		env := map[string]string{"HOME": home}
		c, err := Load(LoadOptions{
			WorkDir: repo,
			Getenv:  func(k string) string { return env[k] },
			Environ: func() []string { return nil },
		})
		if err != nil {
			if !errors.Is(err, core.ErrInvalidInput) {
				t.Fatalf("rejection does not wrap ErrInvalidInput: %v", err)
			}
			if msg := err.Error() + " " + core.HintOf(err); !strings.Contains(msg, userPath) && !strings.Contains(msg, projectPath) {
				t.Fatalf("rejection names neither settings file: %v", err)
			}
			return
		}
		if len(c.Files) != 2 || c.Files[0] != userPath || c.Files[1] != projectPath {
			t.Fatalf("Files = %v", c.Files)
		}
		var um map[string]any
		_ = toml.Unmarshal(user, &um)
		want := DefaultPrefix
		if s, ok := um["prefix"].(string); ok {
			want = s
		}
		// The project file is not trusted, so its prefix never applies.
		if c.Prefix != want {
			t.Fatalf("Prefix = %q, want %q", c.Prefix, want)
		}
		_ = c.Flatten()
		for _, name := range c.ProviderNames() {
			if err := core.ValidateName("provider", name); err != nil {
				t.Fatalf("accepted provider name %q: %v", name, err)
			}
			b, ok := c.Provider(name)
			if !ok {
				t.Fatalf("ProviderNames lists %q but Provider does not find it", name)
			}
			var blk fuzzBlock
			if err := b.Decode(&blk); err != nil {
				if !errors.Is(err, core.ErrInvalidInput) {
					t.Fatalf("decode error does not wrap ErrInvalidInput: %v", err)
				}
				if !strings.Contains(err.Error(), userPath) && !strings.Contains(err.Error(), projectPath) {
					t.Fatalf("decode error names no file: %v", err)
				}
			}
		}
	})
}
