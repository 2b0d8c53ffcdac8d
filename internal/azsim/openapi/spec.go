// Package openapi checks ARM request bodies against the Azure REST API
// OpenAPI (Swagger 2.0) documents that the Go SDK modules were generated
// from. azsim refuses a body the documents reject, and the conformance test
// replays azsim's request log through the same checks, so neither mngr nor
// azsim can drift from the published contract unnoticed.
//
// The documents under specs/ are an extract of Azure/azure-rest-api-specs
// (MIT); specs/README.md names the source and what was left out.
package openapi

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
)

//go:embed specs
var specFS embed.FS

// node is one decoded JSON object of a document, with the file it came from,
// so a relative $ref inside it resolves against the right file.
type node struct {
	file string
	m    map[string]any
}

// Operation is one (method, path template, api-version) of a document.
type Operation struct {
	// ID is the document's operationId, e.g. VirtualMachines_CreateOrUpdate.
	ID string
	// Method is upper case: GET, PUT, PATCH, POST, DELETE.
	Method string
	// Template is the document's path, e.g. /subscriptions/{subscriptionId}/….
	Template string
	// APIVersion is the document's info.version.
	APIVersion string

	spec   *Spec
	segs   []string
	body   *node // the body parameter's schema; nil when the operation takes none
	bodyOK bool  // the body parameter is optional
	params map[string]node
	// multi names the path parameters with x-ms-skip-url-encoding: their
	// value keeps its slashes, so {scope} spans one or more segments
	// (/subscriptions/s/resourceGroups/g/providers/…/virtualMachines/vm),
	// or none when it leads the path: the tenant root, which the SDK sends
	// as an empty scope.
	multi map[string]bool
}

// Spec is a set of loaded documents.
type Spec struct {
	files map[string]map[string]any
	ops   []*Operation
}

// Load reads the embedded documents.
func Load() (*Spec, error) {
	sub, err := fs.Sub(specFS, "specs")
	if err != nil {
		return nil, fmt.Errorf("open embedded specs: %w", err)
	}
	return LoadFS(sub)
}

// LoadFS reads every *.json document of fsys (paths are relative to its root).
func LoadFS(fsys fs.FS) (*Spec, error) {
	s := &Spec{files: map[string]map[string]any{}}
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".json") {
			return err
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return fmt.Errorf("read %s: %w", p, err)
		}
		var doc map[string]any
		if err := json.Unmarshal(b, &doc); err != nil {
			return fmt.Errorf("parse %s: %w", p, err)
		}
		s.files[p] = doc
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load specs: %w", err)
	}
	names := make([]string, 0, len(s.files))
	for n := range s.files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := s.addOperations(n); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func (s *Spec) addOperations(file string) error {
	doc := s.files[file]
	info, _ := doc["info"].(map[string]any)
	version, _ := info["version"].(string)
	paths, _ := doc["paths"].(map[string]any)
	templates := make([]string, 0, len(paths))
	for t := range paths {
		templates = append(templates, t)
	}
	sort.Strings(templates)
	for _, t := range templates {
		item, _ := paths[t].(map[string]any)
		for _, method := range []string{"get", "put", "patch", "post", "delete", "head"} {
			raw, ok := item[method].(map[string]any)
			if !ok {
				continue
			}
			op := &Operation{Method: strings.ToUpper(method), Template: t, APIVersion: version, spec: s,
				segs: splitPath(t), params: map[string]node{}, multi: map[string]bool{}}
			op.ID, _ = raw["operationId"].(string)
			params, _ := raw["parameters"].([]any)
			for _, p := range params {
				pm, _ := p.(map[string]any)
				pn, err := s.deref(node{file: file, m: pm})
				if err != nil {
					return fmt.Errorf("%s %s %s: %w", file, method, t, err)
				}
				switch pn.m["in"] {
				case "body":
					sch, _ := pn.m["schema"].(map[string]any)
					op.body = &node{file: pn.file, m: sch}
					req, _ := pn.m["required"].(bool)
					op.bodyOK = !req
				case "path":
					name, _ := pn.m["name"].(string)
					op.params[name] = pn
					if skip, _ := pn.m["x-ms-skip-url-encoding"].(bool); skip {
						op.multi[name] = true
					}
				}
			}
			s.ops = append(s.ops, op)
		}
	}
	return nil
}

// Operations lists every operation of the loaded documents.
func (s *Spec) Operations() []*Operation { return s.ops }

// Find returns the operation serving method on urlPath at apiVersion, if the
// documents describe one. Literal segments compare case-insensitively, as
// ARM does; the template with the most literal segments wins.
func (s *Spec) Find(method, urlPath, apiVersion string) (*Operation, bool) {
	segs := splitPath(urlPath)
	var best *Operation
	bestLit := -1
	for _, op := range s.ops {
		if op.Method != strings.ToUpper(method) || op.APIVersion != apiVersion {
			continue
		}
		if _, ok := op.match(segs); !ok {
			continue
		}
		if lit := op.literals(); lit > bestLit {
			best, bestLit = op, lit
		}
	}
	return best, best != nil
}

// literals counts the template's literal segments.
func (o *Operation) literals() int {
	n := 0
	for _, t := range o.segs {
		if !isParam(t) {
			n++
		}
	}
	return n
}

// match binds the template to the path's segments and returns each path
// parameter's value. A multi-segment parameter takes the shortest run of
// segments after which the rest of the template matches: at least one,
// or none for a leading one (an empty scope).
func (o *Operation) match(segs []string) (map[string]string, bool) {
	vals := map[string]string{}
	var walk func(ti, si int) bool
	walk = func(ti, si int) bool {
		if ti == len(o.segs) {
			return si == len(segs)
		}
		t := o.segs[ti]
		name := strings.Trim(t, "{}")
		if isParam(t) && o.multi[name] {
			first := si + 1
			if ti == 0 {
				first = si
			}
			for end := first; end <= len(segs); end++ {
				vals[name] = strings.Join(segs[si:end], "/")
				if walk(ti+1, end) {
					return true
				}
			}
			delete(vals, name)
			return false
		}
		if si == len(segs) {
			return false
		}
		if !isParam(t) {
			return strings.EqualFold(t, segs[si]) && walk(ti+1, si+1)
		}
		vals[name] = segs[si]
		return walk(ti+1, si+1)
	}
	if !walk(0, 0) {
		return nil, false
	}
	return vals, true
}

// HasBody reports whether the operation takes a request body.
func (o *Operation) HasBody() bool { return o.body != nil }

func isParam(seg string) bool { return strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") }

func splitPath(p string) []string {
	var out []string
	for _, s := range strings.Split(p, "/") {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// deref follows $ref chains (across files) until a node without $ref.
func (s *Spec) deref(n node) (node, error) {
	for range 32 {
		ref, ok := n.m["$ref"].(string)
		if !ok {
			return n, nil
		}
		target, err := s.resolve(n.file, ref)
		if err != nil {
			return node{}, err
		}
		n = target
	}
	return node{}, fmt.Errorf("$ref chain too long at %s", n.file)
}

// errNotVendored marks a $ref whose target is outside the vendored extract.
type errNotVendored struct{ ref string }

func (e errNotVendored) Error() string {
	return fmt.Sprintf("schema %s is not in the vendored specs", e.ref)
}

// resolve finds the node a $ref names, relative to the file holding it.
func (s *Spec) resolve(from, ref string) (node, error) {
	filePart, frag, _ := strings.Cut(ref, "#")
	file := from
	if filePart != "" {
		file = path.Clean(path.Join(path.Dir(from), filePart))
	}
	doc, ok := s.files[file]
	if !ok {
		return node{}, errNotVendored{ref: ref}
	}
	var cur any = doc
	for _, tok := range strings.Split(strings.TrimPrefix(frag, "/"), "/") {
		if tok == "" {
			continue
		}
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return node{}, errNotVendored{ref: ref}
		}
		if cur, ok = m[tok]; !ok {
			return node{}, errNotVendored{ref: ref}
		}
	}
	m, ok := cur.(map[string]any)
	if !ok {
		return node{}, fmt.Errorf("$ref %s in %s is not an object", ref, from)
	}
	return node{file: file, m: m}, nil
}
