package azure

import (
	"errors"
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
