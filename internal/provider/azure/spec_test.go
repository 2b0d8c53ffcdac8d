package azure

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mngr-azure/mngr/internal/core"
	"github.com/mngr-azure/mngr/internal/vps"
)

func TestParseBuildArgs(t *testing.T) {
	cfg := DefaultConfig()
	tests := []struct {
		name     string
		args     []string
		want     vps.ProviderArgs
		wantRest []string
		wantErr  string
	}{
		{name: "defaults", args: nil, want: vps.ProviderArgs{Region: "westus", Size: "Standard_B2s"}},
		{name: "all", args: []string{"--azure-region=eastus", "--azure-vm-size=Standard_D2s_v5", "--azure-spot", "--git-depth=1", "-f", "Dockerfile", "."},
			want: vps.ProviderArgs{Region: "eastus", Size: "Standard_D2s_v5", Spot: true}, wantRest: []string{"--git-depth=1", "-f", "Dockerfile", "."}},
		{name: "empty values fall back", args: []string{"--azure-region=", "--azure-vm-size="}, want: vps.ProviderArgs{Region: "westus", Size: "Standard_B2s"}},
		{name: "spot with value", args: []string{"--azure-spot=true"}, wantErr: "takes no value"},
		{name: "unknown azure arg", args: []string{"--azure-zone=1"}, wantErr: "--azure-region=REGION, --azure-vm-size=SIZE, --azure-spot"},
		{name: "bad region", args: []string{"--azure-region=West US"}, wantErr: "region"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, rest, err := ParseBuildArgs(tt.args, cfg)
			if tt.wantErr != "" {
				if !errors.Is(err, core.ErrInvalidInput) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want ErrInvalidInput containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("args (-want +got)\n%s", d)
			}
			if d := cmp.Diff(tt.wantRest, rest); d != "" {
				t.Errorf("rest (-want +got)\n%s", d)
			}
		})
	}
}

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

func TestPowerStatus(t *testing.T) {
	tests := []struct {
		prov  string
		codes []string
		want  vps.InstanceStatus
	}{
		{"Succeeded", []string{"ProvisioningState/succeeded", "PowerState/running"}, vps.StatusActive},
		{"Succeeded", []string{"PowerState/deallocated"}, vps.StatusStopped},
		{"Succeeded", []string{"PowerState/stopped"}, vps.StatusStoppedBilling},
		{"Succeeded", []string{"PowerState/starting"}, vps.StatusPending},
		{"Creating", nil, vps.StatusPending},
		{"Succeeded", []string{"PowerState/deallocating"}, vps.StatusStopping},
		{"Succeeded", []string{"PowerState/stopping"}, vps.StatusStopping},
		{"Deleting", []string{"PowerState/running"}, vps.StatusDestroying},
		{"Failed", []string{"PowerState/running"}, vps.StatusFailed},
		{"Succeeded", nil, vps.StatusUnknown},
	}
	for _, tt := range tests {
		if got := powerStatus(tt.prov, tt.codes); got != tt.want {
			t.Errorf("powerStatus(%q, %v) = %s, want %s", tt.prov, tt.codes, got, tt.want)
		}
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

func TestNSGSpec(t *testing.T) {
	open := nsgSpec("westus", []string{"0.0.0.0/0"}, 2222, nil)
	var ports []string
	for _, r := range open.Properties.SecurityRules {
		p := r.Properties
		if *p.Protocol != "Tcp" || *p.Access != "Allow" || *p.Direction != "Inbound" || *p.SourceAddressPrefix != "0.0.0.0/0" {
			t.Errorf("rule %s: %+v", *r.Name, p)
		}
		ports = append(ports, *p.DestinationPortRange)
	}
	if d := cmp.Diff([]string{"22", "2222"}, ports); d != "" {
		t.Errorf("ports (-want +got)\n%s", d)
	}
	multi := nsgSpec("westus", []string{"203.0.113.4/32", "198.51.100.0/24"}, 2222, nil)
	if n := len(multi.Properties.SecurityRules[0].Properties.SourceAddressPrefixes); n != 2 {
		t.Errorf("want 2 source prefixes, got %d", n)
	}
	if n := len(nsgSpec("westus", []string{}, 2222, nil).Properties.SecurityRules); n != 0 {
		t.Errorf("empty CIDR list made %d rules, want 0", n)
	}
	if len(cidrWarnings(nil)) != 1 || len(cidrWarnings([]string{"0.0.0.0/0"})) != 1 || len(cidrWarnings([]string{"203.0.113.4/32"})) != 0 {
		t.Error("cidrWarnings: want a warning for [] and for 0.0.0.0/0 only")
	}
}

func TestRoleSpec(t *testing.T) {
	r := roleSpec("/subscriptions/s/resourceGroups/mngr")
	var actions []string
	for _, a := range r.Properties.Permissions[0].Actions {
		actions = append(actions, *a)
	}
	if d := cmp.Diff(roleActions, actions); d != "" {
		t.Errorf("actions (-want +got)\n%s", d)
	}
	if *r.Properties.AssignableScopes[0] != "/subscriptions/s/resourceGroups/mngr" || *r.Properties.RoleName != roleName {
		t.Errorf("role %+v", r.Properties)
	}
}
