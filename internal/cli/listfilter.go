package cli

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"

	"github.com/mngr-azure/mngr/internal/core"
)

// This file holds `mngr list`'s query: --include/--exclude CEL filters,
// the shorthand filters, --sort, --limit and --fields. Every step works on
// what one listing round already gathered, so none of it costs a cloud or
// SSH call.

// listFieldsHelp names the fields a filter, a sort key or --fields may use.
const listFieldsHelp = "fields: name, id, type, state, command, work_dir, branch, labels.KEY, project, " +
	"create_time (a timestamp), start_time, age and idle (durations, e.g. age > duration(\"1h\")), " +
	"idle_seconds, runtime_seconds, start_on_boot, host.id, host.name, host.provider, host.state, host.image, host.tags.KEY"

// listFieldNames are the top-level names of listFieldsHelp (labels and
// host take a key after a dot).
var listFieldNames = []string{
	"name", "id", "type", "state", "command", "work_dir", "branch", "labels", "project", "create_time", "start_time",
	"age", "idle", "idle_seconds", "runtime_seconds", "start_on_boot", "host",
}

// hostFieldNames are the keys of host.
var hostFieldNames = []string{"id", "name", "provider", "state", "image", "tags"}

// listEnv declares the fields for CEL. Fields that may be unknown (idle,
// idle_seconds, runtime_seconds, start_time) are dyn and null when
// unknown: a comparison with null is an evaluation error, which counts as
// "does not match".
func listEnv() (*cel.Env, error) {
	return cel.NewEnv(
		cel.Variable("name", cel.StringType),
		cel.Variable("id", cel.StringType),
		cel.Variable("type", cel.StringType),
		cel.Variable("state", cel.StringType),
		cel.Variable("command", cel.StringType),
		cel.Variable("work_dir", cel.StringType),
		cel.Variable("branch", cel.StringType),
		cel.Variable("labels", cel.MapType(cel.StringType, cel.StringType)),
		cel.Variable("project", cel.StringType),
		cel.Variable("create_time", cel.TimestampType),
		cel.Variable("start_time", cel.DynType),
		cel.Variable("age", cel.DurationType),
		cel.Variable("idle", cel.DynType),
		cel.Variable("idle_seconds", cel.DynType),
		cel.Variable("runtime_seconds", cel.DynType),
		cel.Variable("start_on_boot", cel.BoolType),
		cel.Variable("host", cel.MapType(cel.StringType, cel.DynType)),
	)
}

// listQuery is a compiled list query.
type listQuery struct {
	include, exclude []compiledExpr
	sortKeys         []sortKey
	// shorthands are the Go predicates of --running, --label, ….
	shorthands []func(agentRef, map[string]any) bool
	fields     []string
	limit      int
}

type compiledExpr struct {
	src string
	prg cel.Program
}

type sortKey struct {
	compiledExpr
	desc bool
}

// listQueryOptions are the flags a listQuery is built from.
type listQueryOptions struct {
	Include, Exclude []string
	Sort             string
	Fields           string
	Limit            int
	Running, Stopped bool
	Local, Remote    bool
	Project          string
	Labels           []string
	// currentProject names the project of the current directory, for
	// --project . (called only then).
	currentProject func() string
	// isLocal says whether an agent's provider runs its hosts on this
	// machine.
	isLocal func(agentRef) bool
}

// exprError is a CEL error in a flag's expression as one line: the flag,
// the expression, and each issue with its column, plus the fields.
func exprError(flag, src string, iss *cel.Issues) error {
	var parts []string
	for _, e := range iss.Errors() {
		msg := strings.ReplaceAll(e.Message, "\n", " ")
		if e.Location != nil && e.Location.Line() > 0 {
			parts = append(parts, fmt.Sprintf("column %d: %s", e.Location.Column()+1, msg))
		} else {
			parts = append(parts, msg)
		}
	}
	return core.WithHint(fmt.Errorf("%s %q: %s: %w", flag, src, strings.Join(parts, "; "), core.ErrInvalidInput),
		"write a CEL expression over the %s", listFieldsHelp)
}

func compileExpr(env *cel.Env, flag, src string, wantBool bool) (compiledExpr, error) {
	if strings.TrimSpace(src) == "" {
		return compiledExpr{}, core.WithHint(fmt.Errorf("%s: empty expression: %w", flag, core.ErrInvalidInput),
			"write a CEL expression, for example %s 'state == \"RUNNING\"'", flag)
	}
	ast, iss := env.Compile(src)
	if iss != nil && iss.Err() != nil {
		return compiledExpr{}, exprError(flag, src, iss)
	}
	if wantBool && ast.OutputType() != cel.BoolType && ast.OutputType() != cel.DynType {
		return compiledExpr{}, core.WithHint(fmt.Errorf("%s %q is a %s, not true or false: %w", flag, src, ast.OutputType(), core.ErrInvalidInput),
			"compare it with something, for example %s 'labels.team == \"a\"'", flag)
	}
	prg, err := env.Program(ast)
	if err != nil {
		return compiledExpr{}, fmt.Errorf("%s %q: %w", flag, src, err)
	}
	return compiledExpr{src: src, prg: prg}, nil
}

// splitTopLevel splits s at commas outside quotes, parentheses and brackets.
func splitTopLevel(s string) []string {
	var out []string
	depth, start := 0, 0
	var quote rune
	for i, c := range s {
		switch {
		case quote != 0:
			if c == quote && (i == 0 || s[i-1] != '\\') {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '(' || c == '[' || c == '{':
			depth++
		case c == ')' || c == ']' || c == '}':
			depth--
		case c == ',' && depth == 0:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// newListQuery checks and compiles every flag of the query; any bad input
// is an ErrInvalidInput (exit 2) naming the flag.
func newListQuery(o listQueryOptions) (*listQuery, error) {
	env, err := listEnv()
	if err != nil {
		return nil, fmt.Errorf("set up list filters: %w", err)
	}
	q := &listQuery{limit: o.Limit}
	for _, src := range o.Include {
		c, err := compileExpr(env, "--include", src, true)
		if err != nil {
			return nil, err
		}
		q.include = append(q.include, c)
	}
	for _, src := range o.Exclude {
		c, err := compileExpr(env, "--exclude", src, true)
		if err != nil {
			return nil, err
		}
		q.exclude = append(q.exclude, c)
	}
	sortSpec := o.Sort
	if strings.TrimSpace(sortSpec) == "" {
		sortSpec = "create_time"
	}
	for _, part := range splitTopLevel(sortSpec) {
		part = strings.TrimSpace(part)
		desc := false
		if f := strings.Fields(part); len(f) > 1 {
			switch strings.ToLower(f[len(f)-1]) {
			case "asc":
				part = strings.TrimSpace(part[:strings.LastIndex(part, f[len(f)-1])])
			case "desc":
				desc = true
				part = strings.TrimSpace(part[:strings.LastIndex(part, f[len(f)-1])])
			}
		}
		c, err := compileExpr(env, "--sort", part, false)
		if err != nil {
			return nil, err
		}
		q.sortKeys = append(q.sortKeys, sortKey{compiledExpr: c, desc: desc})
	}
	if o.Limit < 0 {
		return nil, core.WithHint(fmt.Errorf("--limit %d: must be 0 (no limit) or more: %w", o.Limit, core.ErrInvalidInput), "for example --limit 10")
	}
	if o.Fields != "" {
		for _, f := range strings.Split(o.Fields, ",") {
			f = strings.TrimSpace(f)
			if err := checkFieldName(f); err != nil {
				return nil, err
			}
			q.fields = append(q.fields, f)
		}
	}
	if o.Running && o.Stopped {
		return nil, core.WithHint(fmt.Errorf("--running and --stopped exclude each other: %w", core.ErrInvalidInput), "give one of them")
	}
	if o.Local && o.Remote {
		return nil, core.WithHint(fmt.Errorf("--local and --remote exclude each other: %w", core.ErrInvalidInput), "give one of them")
	}
	if o.Running {
		q.shorthands = append(q.shorthands, func(r agentRef, _ map[string]any) bool { return r.State.Running() })
	}
	if o.Stopped {
		q.shorthands = append(q.shorthands, func(r agentRef, _ map[string]any) bool { return !r.State.Running() })
	}
	if o.Local || o.Remote {
		want := o.Local
		q.shorthands = append(q.shorthands, func(r agentRef, _ map[string]any) bool { return o.isLocal(r) == want })
	}
	if o.Project != "" {
		p := o.Project
		if p == "." {
			if p = o.currentProject(); p == "" {
				return nil, core.WithHint(fmt.Errorf("--project .: the current directory names no project: %w", core.ErrInvalidInput),
					"run it inside a project folder, or name the project: --project NAME")
			}
		}
		q.shorthands = append(q.shorthands, func(r agentRef, _ map[string]any) bool { return r.Record.Labels["project"] == p })
	}
	labels, err := parseKV(o.Labels, "--label")
	if err != nil {
		return nil, err
	}
	for k, v := range labels {
		q.shorthands = append(q.shorthands, func(r agentRef, _ map[string]any) bool {
			got, ok := r.Record.Labels[k]
			return ok && got == v
		})
	}
	return q, nil
}

// checkFieldName accepts a field of listFieldsHelp (labels.KEY and
// host.KEY, host.tags.KEY included).
func checkFieldName(f string) error {
	head, rest, dotted := strings.Cut(f, ".")
	ok := containsStr(listFieldNames, head)
	switch {
	case !ok:
	case head == "labels":
		ok = dotted && rest != ""
	case head == "host":
		sub, key, subDotted := strings.Cut(rest, ".")
		ok = dotted && containsStr(hostFieldNames, sub) && (sub == "tags") == subDotted && (!subDotted || key != "")
	default:
		ok = !dotted
	}
	if !ok {
		return core.WithHint(fmt.Errorf("--fields: unknown field %q: %w", f, core.ErrInvalidInput),
			"use a comma-separated list of the %s", listFieldsHelp)
	}
	return nil
}

// agentVars are one agent's fields as CEL and --fields see them.
func agentVars(r agentRef, d agentDetails, now time.Time) map[string]any {
	branch := ""
	if d.Branch != nil {
		branch = *d.Branch
	}
	v := map[string]any{
		"name": d.Name, "id": string(d.ID), "type": d.Type, "state": string(d.State), "command": d.Command,
		"work_dir": d.WorkDir, "branch": branch, "labels": d.Labels, "project": d.Labels["project"],
		"create_time": d.CreateTime, "age": now.Sub(d.CreateTime).Truncate(time.Second),
		"start_time": nil, "idle": nil, "idle_seconds": nil, "runtime_seconds": nil, "start_on_boot": d.StartOnBoot,
	}
	if d.StartTime != nil {
		v["start_time"] = *d.StartTime
	}
	if d.RuntimeSeconds != nil {
		v["runtime_seconds"] = *d.RuntimeSeconds
	}
	if r.LastActivity != nil {
		idle := max(now.Sub(*r.LastActivity), 0).Truncate(time.Second)
		v["idle"] = idle
		v["idle_seconds"] = idle.Seconds()
	}
	image := ""
	if d.Host.Image != nil {
		image = *d.Host.Image
	}
	v["host"] = map[string]any{
		"id": string(d.Host.ID), "name": d.Host.Name, "provider": d.Host.ProviderName, "state": string(d.Host.State),
		"image": image, "tags": d.Host.Tags,
	}
	return v
}

// matches applies the shorthands, then every --include (all must hold)
// and every --exclude (none may). An expression that cannot be evaluated
// for an agent (a label it lacks, an unknown idle time) does not match it.
func (q *listQuery) matches(r agentRef, vars map[string]any) bool {
	for _, s := range q.shorthands {
		if !s(r, vars) {
			return false
		}
	}
	for _, c := range q.include {
		if !evalBool(c, vars) {
			return false
		}
	}
	for _, c := range q.exclude {
		if evalBool(c, vars) {
			return false
		}
	}
	return true
}

func evalBool(c compiledExpr, vars map[string]any) bool {
	out, _, err := c.prg.Eval(vars)
	if err != nil {
		return false
	}
	b, ok := out.Value().(bool)
	return ok && b
}

// listedAgent is one agent that passed the filters, with its fields.
type listedAgent struct {
	ref     agentRef
	details agentDetails
	vars    map[string]any
	keys    []ref.Val
}

// apply filters, sorts and limits agents.
func (q *listQuery) apply(refs []agentRef, now time.Time) []listedAgent {
	var out []listedAgent
	for _, r := range refs {
		d := toDetails(r, now)
		if r.LastActivity != nil {
			idle := max(now.Sub(*r.LastActivity), 0).Seconds()
			d.IdleSeconds = &idle
		}
		vars := agentVars(r, d, now)
		if !q.matches(r, vars) {
			continue
		}
		la := listedAgent{ref: r, details: d, vars: vars}
		for _, k := range q.sortKeys {
			val, _, err := k.prg.Eval(vars)
			if err != nil {
				val = nil
			}
			la.keys = append(la.keys, val)
		}
		out = append(out, la)
	}
	sort.SliceStable(out, func(i, j int) bool {
		for n, k := range q.sortKeys {
			a, b := out[i].keys[n], out[j].keys[n]
			if ma, mb := missingVal(a), missingVal(b); ma || mb {
				if ma == mb {
					continue
				}
				return mb // a value before a missing one, whichever the direction
			}
			c := compareVals(a, b)
			if c == 0 {
				continue
			}
			if k.desc {
				return c > 0
			}
			return c < 0
		}
		return false
	})
	if q.limit > 0 && len(out) > q.limit {
		out = out[:q.limit]
	}
	return out
}

// missingVal says a sort value is missing (nil, null or an error): it
// sorts after every value, whichever the direction.
func missingVal(v ref.Val) bool {
	return v == nil || v.Type() == types.NullType || types.IsError(v) || types.IsUnknown(v)
}

// compareVals orders two sort values: numbers as numbers, timestamps,
// durations and strings in their own order.
func compareVals(a, b ref.Val) int {
	if ca, ok := a.(traits.Comparer); ok {
		if c, ok := ca.Compare(b).(types.Int); ok {
			return int(c)
		}
	}
	// Different kinds (a string and a number): by their text.
	return strings.Compare(fmt.Sprint(a.Value()), fmt.Sprint(b.Value()))
}

// fieldValue is the value of field f for JSON: timestamps as RFC 3339
// text, durations as seconds, unknown values as null.
func fieldValue(vars map[string]any, f string) any {
	var cur any = vars
	for _, part := range splitFieldPath(f) {
		switch m := cur.(type) {
		case map[string]any:
			cur = m[part]
		case map[string]string:
			s, ok := m[part]
			if !ok {
				return nil
			}
			cur = s
		default:
			return nil
		}
	}
	switch v := cur.(type) {
	case time.Time:
		return v.UTC().Format(time.RFC3339)
	case time.Duration:
		return v.Seconds()
	}
	return cur
}

// splitFieldPath splits host.tags.KEY into host, tags, KEY (a label or tag
// key may itself hold dots).
func splitFieldPath(f string) []string {
	head, rest, ok := strings.Cut(f, ".")
	if !ok {
		return []string{head}
	}
	if head == "host" {
		if sub, key, ok := strings.Cut(rest, "."); ok {
			return []string{head, sub, key}
		}
	}
	return []string{head, rest}
}

// fieldText is a field's value in a table cell.
func fieldText(vars map[string]any, f string) string {
	switch v := fieldValue(vars, f).(type) {
	case nil:
		return "-"
	case float64:
		if _, isDur := vars[strings.SplitN(f, ".", 2)[0]].(time.Duration); isDur {
			return (time.Duration(v) * time.Second).String()
		}
		return strconv.FormatFloat(v, 'f', -1, 64)
	case map[string]string:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var parts []string
		for _, k := range keys {
			parts = append(parts, k+"="+v[k])
		}
		return strings.Join(parts, ",")
	default:
		return fmt.Sprint(v)
	}
}

// fieldsObject is one agent with only the fields asked for, keyed by
// their names (as given: "host.name", "labels.team").
func fieldsObject(vars map[string]any, fields []string) map[string]any {
	out := make(map[string]any, len(fields))
	for _, f := range fields {
		out[f] = fieldValue(vars, f)
	}
	return out
}

// printFieldsTable prints the agents with the asked-for columns.
func printFieldsTable(w io.Writer, agents []listedAgent, fields []string) error {
	if len(agents) == 0 {
		_, err := fmt.Fprintln(w, "No agents found")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	heads := make([]string, len(fields))
	for i, f := range fields {
		heads[i] = strings.ToUpper(f)
	}
	logf(tw, "%s\n", strings.Join(heads, "\t"))
	for _, a := range agents {
		cells := make([]string, len(fields))
		for i, f := range fields {
			cells[i] = core.Printable(fieldText(a.vars, f))
		}
		logf(tw, "%s\n", strings.Join(cells, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	return nil
}
