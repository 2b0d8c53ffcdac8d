package openapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"sync"
	"unicode/utf8"
)

// Rule names the check a Finding failed.
type Rule string

// The rules a request can break.
const (
	RuleBody          Rule = "body"          // the body is missing, unexpected or not JSON
	RuleType          Rule = "type"          // wrong JSON type
	RuleRequired      Rule = "required"      // a required property is absent
	RuleReadOnly      Rule = "readOnly"      // a readOnly property was sent
	RuleUnknown       Rule = "unknown"       // a property the schema does not declare
	RuleEnum          Rule = "enum"          // a value outside a closed enum
	RulePattern       Rule = "pattern"       // a string not matching its pattern
	RuleLength        Rule = "length"        // minLength/maxLength or minItems/maxItems
	RuleRange         Rule = "range"         // minimum/maximum
	RuleMutability    Rule = "mutability"    // x-ms-mutability forbids this create or change
	RuleNotVendored   Rule = "notVendored"   // the value reaches a schema outside the extract
	RulePathParameter Rule = "pathParameter" // a path segment breaks its parameter's constraints
)

// Finding is one violation of the schema.
type Finding struct {
	// Path locates the value, e.g. properties.osProfile.adminUsername.
	Path string
	Rule Rule
	// Message says what is wrong, in ARM's voice.
	Message string
}

func (f Finding) String() string {
	if f.Path == "" {
		return fmt.Sprintf("%s: %s", f.Rule, f.Message)
	}
	return fmt.Sprintf("%s at %s: %s", f.Rule, f.Path, f.Message)
}

// Validate checks one request to the operation: the path's parameters and
// the body. existing is the stored resource for a PUT/PATCH that updates one
// (nil when it creates), so x-ms-mutability can tell create from update.
// Findings come back sorted by path.
func (o *Operation) Validate(urlPath string, body, existing []byte) []Finding {
	v := &validator{spec: o.spec}
	o.checkPath(v, urlPath)
	trimmed := bytes.TrimSpace(body)
	switch {
	case o.body == nil && len(trimmed) > 0:
		v.add("", RuleBody, "The operation %s takes no request body.", o.ID)
	case o.body == nil:
	case len(trimmed) == 0 && !o.bodyOK:
		v.add("", RuleBody, "The request body of %s is required.", o.ID)
	case len(trimmed) > 0:
		var val any
		dec := json.NewDecoder(bytes.NewReader(trimmed))
		dec.UseNumber()
		if err := dec.Decode(&val); err != nil {
			v.add("", RuleBody, "The request content was invalid and could not be deserialized: %v.", err)
			break
		}
		var old any
		if len(bytes.TrimSpace(existing)) > 0 {
			d := json.NewDecoder(bytes.NewReader(existing))
			d.UseNumber()
			if err := d.Decode(&old); err != nil {
				old = nil
			}
		}
		v.update = old != nil
		v.value(*o.body, val, "", old, old != nil)
	}
	sort.SliceStable(v.out, func(i, j int) bool { return v.out[i].Path < v.out[j].Path })
	return v.out
}

func (o *Operation) checkPath(v *validator, urlPath string) {
	vals, ok := o.match(splitPath(urlPath))
	if !ok {
		v.add("", RulePathParameter, "The path %s does not match the template %s of %s.", urlPath, o.Template, o.ID)
		return
	}
	names := make([]string, 0, len(vals))
	for n := range vals {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		if p, ok := o.params[name]; ok {
			v.stringRules(p.m, vals[name], name, RulePathParameter)
		}
	}
}

type validator struct {
	spec   *Spec
	update bool
	out    []Finding
}

func (v *validator) add(at string, r Rule, format string, a ...any) {
	v.out = append(v.out, Finding{Path: at, Rule: r, Message: fmt.Sprintf(format, a...)})
}

// object is a schema's merged object view: its own properties plus those of
// every allOf parent, as Swagger's allOf composes them.
type object struct {
	props    map[string]node
	required []string
	addl     *node // additionalProperties schema
	addlNone bool  // additionalProperties: false
	declared bool  // some properties/allOf/additionalProperties were declared
}

func (v *validator) merge(n node, into *object, depth int) error {
	if depth > 16 {
		return fmt.Errorf("allOf nesting too deep in %s", n.file)
	}
	if props, ok := n.m["properties"].(map[string]any); ok {
		into.declared = true
		for k, p := range props {
			if _, seen := into.props[k]; !seen {
				pm, _ := p.(map[string]any)
				into.props[k] = node{file: n.file, m: pm}
			}
		}
	}
	if req, ok := n.m["required"].([]any); ok {
		for _, r := range req {
			if s, ok := r.(string); ok {
				into.required = append(into.required, s)
			}
		}
	}
	switch a := n.m["additionalProperties"].(type) {
	case bool:
		into.declared = true
		into.addlNone = !a
	case map[string]any:
		into.declared = true
		into.addl = &node{file: n.file, m: a}
	}
	if all, ok := n.m["allOf"].([]any); ok {
		into.declared = true
		for _, p := range all {
			pm, _ := p.(map[string]any)
			parent, err := v.spec.deref(node{file: n.file, m: pm})
			if err != nil {
				return err
			}
			if err := v.merge(parent, into, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

// value checks val against the schema n. old is the stored value at the same
// place when the request updates an existing resource (hasOld).
func (v *validator) value(n node, val any, at string, old any, hasOld bool) {
	n, err := v.spec.deref(n)
	if err != nil {
		var nv errNotVendored
		if errors.As(err, &nv) {
			v.add(at, RuleNotVendored, "%v; extend the extract before sending this property.", err)
			return
		}
		v.add(at, RuleNotVendored, "%v", err)
		return
	}
	if val == nil {
		return // ARM treats null like an absent property.
	}
	// A definition marked readOnly (ProvisioningState, SystemData) is
	// read-only wherever it is used, array items included.
	if ro, _ := n.m["readOnly"].(bool); ro {
		v.add(at, RuleReadOnly, "The property '%s' is read-only and cannot be set in a request.", at)
		return
	}
	typ, _ := n.m["type"].(string)
	if typ == "" && (n.m["properties"] != nil || n.m["allOf"] != nil || n.m["additionalProperties"] != nil) {
		typ = "object"
	}
	if typ != "" && !typeMatches(typ, val) {
		v.add(at, RuleType, "The value must be of type %s, not %s.", typ, jsonType(val))
		return
	}
	v.enum(n.m, val, at)
	switch t := val.(type) {
	case string:
		v.stringRules(n.m, t, at, "")
	case json.Number:
		v.numberRules(n.m, t, at)
	case []any:
		v.arrayRules(n, t, at, old)
	case map[string]any:
		v.objectRules(n, t, at, old, hasOld)
	}
}

func (v *validator) objectRules(n node, val map[string]any, at string, old any, hasOld bool) {
	obj := &object{props: map[string]node{}}
	if err := v.merge(n, obj, 0); err != nil {
		v.add(at, RuleNotVendored, "%v", err)
		return
	}
	oldMap, _ := old.(map[string]any)
	for _, r := range obj.required {
		if x, ok := val[r]; !ok || x == nil {
			v.add(join(at, r), RuleRequired, "The property '%s' is required.", r)
		}
	}
	keys := make([]string, 0, len(val))
	for k := range val {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		x, kat := val[k], join(at, k)
		oldX, oldHas := lookupFold(oldMap, k)
		if p, ok := obj.props[k]; ok {
			if ro, _ := p.m["readOnly"].(bool); ro {
				v.add(kat, RuleReadOnly, "The property '%s' is read-only and cannot be set in a request.", kat)
				continue
			}
			v.mutability(p.m, x, kat, oldX, hasOld && oldHas)
			v.value(p, x, kat, oldX, hasOld && oldHas)
			continue
		}
		switch {
		case obj.addl != nil:
			v.value(*obj.addl, x, kat, oldX, hasOld && oldHas)
		case obj.addlNone:
			v.add(kat, RuleUnknown, "The property '%s' is not allowed (additionalProperties is false).", kat)
		case obj.declared:
			v.add(kat, RuleUnknown, "Could not find member '%s' on the schema of this request.", kat)
		}
	}
}

// mutability applies x-ms-mutability: a property without "create" may not be
// sent when creating; one without "update" may not change an existing value.
func (v *validator) mutability(m map[string]any, val any, at string, old any, hasOld bool) {
	list, ok := m["x-ms-mutability"].([]any)
	if !ok || val == nil {
		return
	}
	allowed := map[string]bool{}
	for _, x := range list {
		if s, ok := x.(string); ok {
			allowed[strings.ToLower(s)] = true
		}
	}
	switch {
	case !v.update && !allowed["create"]:
		v.add(at, RuleMutability, "The property '%s' cannot be set when the resource is created.", at)
	case v.update && !allowed["update"] && (!hasOld || !sameValue(old, val)):
		v.add(at, RuleMutability, "The property '%s' cannot be changed on an existing resource.", at)
	}
}

func (v *validator) arrayRules(n node, val []any, at string, old any) {
	if lim, ok := intOf(n.m["minItems"]); ok && len(val) < lim {
		v.add(at, RuleLength, "The array must have at least %d items, not %d.", lim, len(val))
	}
	if lim, ok := intOf(n.m["maxItems"]); ok && len(val) > lim {
		v.add(at, RuleLength, "The array must have at most %d items, not %d.", lim, len(val))
	}
	items, ok := n.m["items"].(map[string]any)
	if !ok {
		return
	}
	oldArr, _ := old.([]any)
	for i, x := range val {
		var ox any
		has := i < len(oldArr)
		if has {
			ox = oldArr[i]
		}
		v.value(node{file: n.file, m: items}, x, fmt.Sprintf("%s[%d]", at, i), ox, has)
	}
}

// enum enforces a closed enum, comparing case-insensitively as ARM does.
// An x-ms-enum with modelAsString: true is open (the SDK models it as an
// extensible string and ARM accepts values the api-version did not list), so
// it is not enforced.
func (v *validator) enum(m map[string]any, val any, at string) {
	values, ok := m["enum"].([]any)
	if !ok || len(values) == 0 {
		return
	}
	if xe, ok := m["x-ms-enum"].(map[string]any); ok {
		if open, _ := xe["modelAsString"].(bool); open {
			return
		}
	}
	s := fmt.Sprint(val)
	allowed := make([]string, 0, len(values))
	for _, e := range values {
		es := fmt.Sprint(e)
		if strings.EqualFold(es, s) {
			return
		}
		allowed = append(allowed, es)
	}
	v.add(at, RuleEnum, "The value '%s' is not valid; allowed values are '%s'.", s, strings.Join(allowed, "', '"))
}

func (v *validator) stringRules(m map[string]any, s, at string, r Rule) {
	lenRule, patRule := RuleLength, RulePattern
	if r != "" {
		lenRule, patRule = r, r
	}
	n := utf8.RuneCountInString(s)
	if lim, ok := intOf(m["minLength"]); ok && n < lim {
		v.add(at, lenRule, "The value must be at least %d characters long, not %d.", lim, n)
	}
	if lim, ok := intOf(m["maxLength"]); ok && n > lim {
		v.add(at, lenRule, "The value must be at most %d characters long, not %d.", lim, n)
	}
	if p, ok := m["pattern"].(string); ok {
		if re := compiled(p); re != nil && !re.MatchString(s) {
			v.add(at, patRule, "The value '%s' does not match the pattern '%s'.", s, p)
		}
	}
}

func (v *validator) numberRules(m map[string]any, num json.Number, at string) {
	f, err := num.Float64()
	if err != nil {
		v.add(at, RuleType, "The value %s is not a number.", num)
		return
	}
	if lim, ok := floatOf(m["minimum"]); ok {
		excl, _ := m["exclusiveMinimum"].(bool)
		if f < lim || (excl && f == lim) {
			v.add(at, RuleRange, "The value %s is below the minimum %v.", num, lim)
		}
	}
	if lim, ok := floatOf(m["maximum"]); ok {
		excl, _ := m["exclusiveMaximum"].(bool)
		if f > lim || (excl && f == lim) {
			v.add(at, RuleRange, "The value %s is above the maximum %v.", num, lim)
		}
	}
}

var (
	patMu    sync.Mutex
	patCache = map[string]*regexp.Regexp{}
)

// compiled returns the pattern as a Go regexp, or nil when RE2 cannot express
// it (lookarounds, backreferences): such a pattern is not checked.
func compiled(p string) *regexp.Regexp {
	patMu.Lock()
	defer patMu.Unlock()
	if re, ok := patCache[p]; ok {
		return re
	}
	re, err := regexp.Compile(p)
	if err != nil {
		re = nil
	}
	patCache[p] = re
	return re
}

func typeMatches(typ string, val any) bool {
	switch typ {
	case "object":
		_, ok := val.(map[string]any)
		return ok
	case "array":
		_, ok := val.([]any)
		return ok
	case "string":
		_, ok := val.(string)
		return ok
	case "boolean":
		_, ok := val.(bool)
		return ok
	case "number":
		_, ok := val.(json.Number)
		return ok
	case "integer":
		n, ok := val.(json.Number)
		if !ok {
			return false
		}
		f, err := n.Float64()
		return err == nil && f == math.Trunc(f)
	}
	return true
}

func jsonType(val any) string {
	switch val.(type) {
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case string:
		return "string"
	case bool:
		return "boolean"
	case json.Number:
		return "number"
	}
	return "null"
}

func intOf(x any) (int, bool) {
	f, ok := x.(float64)
	return int(f), ok
}

func floatOf(x any) (float64, bool) {
	f, ok := x.(float64)
	return f, ok
}

func join(at, k string) string {
	if at == "" {
		return k
	}
	return at + "." + k
}

// lookupFold finds key in m; ARM property names are case-insensitive.
func lookupFold(m map[string]any, key string) (any, bool) {
	if m == nil {
		return nil, false
	}
	if x, ok := m[key]; ok {
		return x, true
	}
	for k, x := range m {
		if strings.EqualFold(k, key) {
			return x, true
		}
	}
	return nil, false
}

// sameValue compares two decoded JSON values; strings compare
// case-insensitively (ARM normalises locations and names that way).
func sameValue(a, b any) bool {
	as, aok := a.(string)
	bs, bok := b.(string)
	if aok && bok {
		return strings.EqualFold(as, bs)
	}
	return reflect.DeepEqual(a, b)
}
