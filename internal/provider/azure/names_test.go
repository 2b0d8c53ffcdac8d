package azure

import (
	"regexp"
	"strings"
	"testing"

	"github.com/mngr-azure/mngr/internal/core"
)

var vmNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}[a-z0-9]$`)

func TestVMName(t *testing.T) {
	id := core.HostID("host-0123456789abcdef0123456789abcdef")
	for _, in := range []string{"my-agent", "My_Agent.v2", "---", "", strings.Repeat("x", 200), "a.b-", "日本語"} {
		got := vmName(in, id)
		if !vmNameRE.MatchString(got) || len(got) > 64 || !strings.HasSuffix(got, "-01234567") {
			t.Errorf("vmName(%q) = %q: not a valid unique Azure VM name", in, got)
		}
	}
	if got := vmName("my-agent", id); got != "mngr-my-agent-01234567" {
		t.Errorf("vmName = %q", got)
	}
}

func TestDeterministicGUID(t *testing.T) {
	a, b := deterministicGUID("sub", roleName), deterministicGUID("sub", roleName)
	if a != b || a == deterministicGUID("sub2", roleName) {
		t.Fatalf("GUID not deterministic per input: %s %s", a, b)
	}
	if !uuidRE().MatchString(a) {
		t.Fatalf("%q is not a GUID", a)
	}
}
