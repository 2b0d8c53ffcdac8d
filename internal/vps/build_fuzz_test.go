package vps

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/mngr-azure/mngr/internal/core"
)

// FuzzParseBuildPlan splits fuzzed text into docker build args (an arg
// ending in "/ctx" counts as an existing local directory) and checks
// parseBuildPlan: a bad --git-depth is rejected wrapping ErrInvalidInput
// with a hint; otherwise GitDepth is the last positive --git-depth, Context
// is the last existing non-flag arg, and Args are the remaining args in
// order, so plan.Args plus Context is a permutation of the input minus the
// depth flags.
func FuzzParseBuildPlan(f *testing.F) {
	for _, s := range []string{
		"--git-depth=1\x00-t\x00img\x00./ctx",
		"--git-depth=0",
		"--git-depth=-3\x00.",
		"--git-depth=99999999999999999999",
		"--git-depth=\x00a/ctx\x00b/ctx",
		"-f\x00Dockerfile\x00--build-arg\x00X=$(id)\x00dir/ctx",
		"-/ctx\x00--git-depth=2\x00--git-depth=3",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, joined string) {
		args := strings.Split(joined, "\x00")
		exists := func(p string) bool { return strings.HasSuffix(p, "/ctx") }
		plan, err := parseBuildPlan(args, exists)
		depth, badDepth := 0, ""
		var rest []string
		for _, a := range args {
			if v, ok := strings.CutPrefix(a, "--git-depth="); ok {
				n, perr := strconv.Atoi(v)
				if perr != nil || n <= 0 {
					if badDepth == "" {
						badDepth = a
					}
				} else if badDepth == "" {
					depth = n
				}
				continue
			}
			rest = append(rest, a)
		}
		if badDepth != "" {
			if err == nil || !errors.Is(err, core.ErrInvalidInput) || core.HintOf(err) == "" {
				t.Fatalf("bad %q: err = %v", badDepth, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("parseBuildPlan(%q) = %v", args, err)
		}
		if plan.GitDepth != depth {
			t.Fatalf("GitDepth = %d, want %d", plan.GitDepth, depth)
		}
		ctx := -1
		for i, a := range rest {
			if !strings.HasPrefix(a, "-") && exists(a) {
				ctx = i
			}
		}
		wantCtx := ""
		var wantArgs []string
		for i, a := range rest {
			if i == ctx {
				wantCtx = a
				continue
			}
			wantArgs = append(wantArgs, a)
		}
		if plan.Context != wantCtx || len(plan.Args) != len(wantArgs) || strings.Join(plan.Args, "\x00") != strings.Join(wantArgs, "\x00") {
			t.Fatalf("plan = %+v, want context %q args %q", plan, wantCtx, wantArgs)
		}
		for _, a := range plan.Args {
			if strings.HasPrefix(a, "--git-depth=") {
				t.Fatalf("depth flag left in docker args: %q", plan.Args)
			}
		}
	})
}
