package config

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/mngr-azure/mngr/internal/provider/azure"
	"github.com/mngr-azure/mngr/internal/provider/local"
)

// configDocPath is docs/configuration.md, relative to this package.
const configDocPath = "../../docs/configuration.md"

// docSections splits a markdown page into its sections, keyed by heading
// text (without the leading #s); a section runs to the next heading of any level.
func docSections(t *testing.T, text string) map[string]string {
	t.Helper()
	out := map[string]string{}
	current := ""
	var b strings.Builder
	inFence := false
	flush := func() {
		out[current] += b.String()
		b.Reset()
	}
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "```") {
			inFence = !inFence
		}
		if !inFence && strings.HasPrefix(line, "#") {
			flush()
			current = strings.TrimSpace(strings.TrimLeft(line, "#"))
			continue
		}
		b.WriteString(line + "\n")
	}
	flush()
	return out
}

func readConfigDoc(t *testing.T) (string, map[string]string) {
	t.Helper()
	data, err := os.ReadFile(configDocPath)
	if err != nil {
		t.Fatalf("read %s: %v", configDocPath, err)
	}
	return string(data), docSections(t, string(data))
}

func section(t *testing.T, secs map[string]string, heading string) string {
	t.Helper()
	s, ok := secs[heading]
	if !ok {
		t.Fatalf("docs/configuration.md has no section %q", heading)
	}
	return s
}

// tableRows returns the table rows of a section keyed by their first cell's
// `code` key, each as its trimmed cells.
func tableRows(text string) map[string][]string {
	rows := map[string][]string{}
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		key := strings.Trim(cells[0], "`")
		rows[key] = cells
	}
	return rows
}

// TestConfigDocNamesEveryKey fails when a key the code accepts is missing
// from the section of docs/configuration.md that documents its table. The
// key lists come from the code: the top-level and common provider key
// tables, and the struct tags the strict decoders use.
func TestConfigDocNamesEveryKey(t *testing.T) {
	_, secs := readConfigDoc(t)
	cases := []struct {
		heading string
		keys    []string
	}{
		{"Top-level keys", topLevelKeys},
		{"Every provider block", sortedKeys(anyMap(commonProviderTypes))},
		{"Agent types", fieldNames(AgentTypeSettings{}, "json")},
		{"Local provider block", fieldNames(local.Config{}, "toml")},
		{"Azure provider block", fieldNames(azure.Config{}, "toml")},
	}
	for _, c := range cases {
		t.Run(c.heading, func(t *testing.T) {
			if len(c.keys) == 0 {
				t.Fatalf("the code lists no keys for %q; the reflection over its table broke", c.heading)
			}
			rows := tableRows(section(t, secs, c.heading))
			for _, k := range c.keys {
				if _, ok := rows[k]; !ok {
					t.Errorf("key %q is accepted by the code but has no table row in section %q of docs/configuration.md", k, c.heading)
				}
			}
		})
	}
}

// TestConfigDocBackendTablesHaveNoExtraKeys fails when a backend table
// documents a key its decoder would reject.
func TestConfigDocBackendTablesHaveNoExtraKeys(t *testing.T) {
	_, secs := readConfigDoc(t)
	for heading, v := range map[string]any{"Local provider block": local.Config{}, "Azure provider block": azure.Config{}} {
		valid := map[string]bool{}
		for _, k := range fieldNames(v, "toml") {
			valid[k] = true
		}
		for k := range tableRows(section(t, secs, heading)) {
			if !valid[k] {
				t.Errorf("section %q documents %q, which the decoder rejects as an unknown key", heading, k)
			}
		}
	}
}

// docDefault renders a default value the way the doc's tables write it; ""
// means the zero value, which the doc calls "unset".
func docDefault(v reflect.Value) string {
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return ""
		}
		v = v.Elem()
	}
	switch v.Kind() {
	case reflect.String:
		return v.String()
	case reflect.Int, reflect.Int32, reflect.Int64:
		if v.Int() == 0 {
			return ""
		}
		return strconv.FormatInt(v.Int(), 10)
	case reflect.Bool:
		return strconv.FormatBool(v.Bool())
	case reflect.Slice:
		parts := make([]string, v.Len())
		for i := range parts {
			parts[i] = strconv.Quote(v.Index(i).String())
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	return fmt.Sprint(v.Interface())
}

// TestConfigDocAzureDefaults compares the default column of the Azure table
// with azure.DefaultConfig().
func TestConfigDocAzureDefaults(t *testing.T) {
	_, secs := readConfigDoc(t)
	rows := tableRows(section(t, secs, "Azure provider block"))
	def := reflect.ValueOf(azure.DefaultConfig())
	typ := def.Type()
	for i := 0; i < typ.NumField(); i++ {
		key, _, _ := strings.Cut(typ.Field(i).Tag.Get("toml"), ",")
		row, ok := rows[key]
		if !ok || len(row) < 3 {
			continue // TestConfigDocNamesEveryKey reports the missing row
		}
		cell := row[2]
		want := docDefault(def.Field(i))
		if want == "" {
			if !strings.HasPrefix(cell, "unset") {
				t.Errorf("%s: the code has no default, the doc says %q (want it to start with \"unset\")", key, cell)
			}
			continue
		}
		if !strings.Contains(cell, "`"+want+"`") {
			t.Errorf("%s: the code's default is %s, the doc's default cell is %q", key, want, cell)
		}
	}
}

// sourceFiles lists the non-test Go files of mngr itself (not azsim).
func sourceFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	for _, root := range []string{"../../internal", "../../cmd/mngr"} {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && d.Name() == "azsim" {
				return filepath.SkipDir
			}
			if !d.IsDir() && strings.HasSuffix(p, ".go") && !strings.HasSuffix(p, "_test.go") {
				files = append(files, p)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("walk %s: %v", root, err)
		}
	}
	if len(files) == 0 {
		t.Fatal("found no Go source files")
	}
	return files
}

// stringCalls returns the string-literal first arguments of calls to a
// function or method whose name is in names, across mngr's sources.
func stringCalls(t *testing.T, names map[string]bool) map[string]string {
	t.Helper()
	found := map[string]string{}
	fset := token.NewFileSet()
	for _, path := range sourceFiles(t) {
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			t.Fatalf("parse %s: %v", path, err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) == 0 {
				return true
			}
			var name string
			switch fn := call.Fun.(type) {
			case *ast.Ident:
				name = fn.Name
			case *ast.SelectorExpr:
				name = fn.Sel.Name
			}
			lit, ok := call.Args[0].(*ast.BasicLit)
			if !names[name] || !ok || lit.Kind != token.STRING {
				return true
			}
			if s, err := strconv.Unquote(lit.Value); err == nil {
				found[s] = fset.Position(lit.Pos()).String()
			}
			return true
		})
	}
	return found
}

// TestConfigDocNamesEveryEnvVar fails when mngr's code reads an environment
// variable that the doc's environment table does not name.
func TestConfigDocNamesEveryEnvVar(t *testing.T) {
	_, secs := readConfigDoc(t)
	env := section(t, secs, "Environment variables")
	vars := stringCalls(t, map[string]bool{"Getenv": true, "getenv": true, "LookupEnv": true})
	if len(vars) < 3 {
		t.Fatalf("found only %d getenv calls; the source scan broke: %v", len(vars), vars)
	}
	names := make([]string, 0, len(vars))
	for v := range vars {
		names = append(names, v)
	}
	sort.Strings(names)
	for _, v := range names {
		if !strings.Contains(env, "`"+v+"`") {
			t.Errorf("%s reads $%s, but the \"Environment variables\" section of docs/configuration.md does not name it", vars[v], v)
		}
	}
}

// TestConfigDocNamesEveryDottedKey fails when code reads a dotted setting
// (cfg.Get("a.b.c")) that the doc does not name in full.
func TestConfigDocNamesEveryDottedKey(t *testing.T) {
	doc, _ := readConfigDoc(t)
	keys := stringCalls(t, map[string]bool{"Get": true})
	n := 0
	for k, pos := range keys {
		first, _, dotted := strings.Cut(k, ".")
		if !dotted || !contains(topLevelKeys, first) {
			continue
		}
		n++
		if !strings.Contains(doc, "`"+k+"`") {
			t.Errorf("%s reads the setting %q, but docs/configuration.md does not name it", pos, k)
		}
	}
	if n == 0 {
		t.Fatal("found no dotted settings read with Get; the source scan broke")
	}
}

// anchorOf returns the GitHub anchor of a markdown heading.
func anchorOf(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		case r == ' ':
			b.WriteRune('-')
		}
	}
	return b.String()
}

// TestUserDocLinksResolve fails when a relative link in the user guides
// names a missing file or a heading that does not exist.
func TestUserDocLinksResolve(t *testing.T) {
	pages := []string{"configuration.md", "getting-started-azure.md", "getting-started-azsim.md", "troubleshooting.md", "security.md"}
	anchors := func(t *testing.T, page string) map[string]bool {
		data, err := os.ReadFile(filepath.Join("../../docs", page))
		if err != nil {
			t.Fatalf("read docs/%s: %v", page, err)
		}
		out := map[string]bool{}
		for h := range docSections(t, string(data)) {
			out[anchorOf(h)] = true
		}
		return out
	}
	for _, page := range pages {
		data, err := os.ReadFile(filepath.Join("../../docs", page))
		if err != nil {
			t.Fatalf("read docs/%s: %v", page, err)
		}
		text := string(data)
		for i := 0; i < len(text); i++ {
			j := strings.Index(text[i:], "](")
			if j < 0 {
				break
			}
			start := i + j + 2
			end := strings.IndexByte(text[start:], ')')
			if end < 0 {
				break
			}
			target := text[start : start+end]
			i = start + end
			if strings.Contains(target, "://") || strings.ContainsAny(target, " `") {
				continue
			}
			file, anchor, _ := strings.Cut(target, "#")
			if file == "" {
				file = page
			}
			if _, err := os.Stat(filepath.Join("../../docs", file)); err != nil {
				t.Errorf("docs/%s links to %q: %v", page, target, err)
				continue
			}
			if anchor != "" && strings.HasSuffix(file, ".md") && !anchors(t, file)[anchor] {
				t.Errorf("docs/%s links to %q, but docs/%s has no heading with anchor %q", page, target, file, anchor)
			}
		}
	}
}
