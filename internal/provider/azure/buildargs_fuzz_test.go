package azure

import (
	"errors"
	"strings"
	"testing"

	"github.com/mngr-azure/mngr/internal/core"
)

// FuzzParseBuildArgs splits fuzzed text into build args and checks
// ParseBuildArgs: a rejection wraps core.ErrInvalidInput and quotes an
// --azure- arg; an acceptance yields a region and size that pass the
// config's own validation, keeps every non-Azure arg in order, and claims
// every --azure- arg.
func FuzzParseBuildArgs(f *testing.F) {
	for _, s := range []string{
		"--azure-region=eastus\x00--azure-vm-size=Standard_D2s_v5\x00--git-depth=1\x00.",
		"--azure-spot\x00-t\x00img",
		"--azure-spot=true",
		"--azure-region=West US",
		"--azure-region=\x00--azure-vm-size=",
		"--azure-bogus=1\x00--azure-region=eastus\n",
		"--azure-vm-size=Standard_B2s;rm -rf /",
		"--azure-vm-size=Standard_B2s\x00--azure-spot",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, joined string) {
		args := strings.Split(joined, "\x00")
		cfg := DefaultConfig()
		pa, rest, err := ParseBuildArgs(args, cfg)
		if err != nil {
			if !errors.Is(err, core.ErrInvalidInput) {
				t.Fatalf("rejection does not wrap ErrInvalidInput: %v", err)
			}
			if !strings.Contains(err.Error(), "--azure-") {
				t.Fatalf("rejection does not quote the arg: %v", err)
			}
			return
		}
		c := cfg
		c.DefaultRegion, c.DefaultVMSize = pa.Region, pa.Size
		if verr := c.Validate(); verr != nil {
			t.Fatalf("accepted region %q / size %q fail validation: %v", pa.Region, pa.Size, verr)
		}
		var want []string
		spot := false
		for _, a := range args {
			if a == "--azure-spot" {
				spot = true
			}
			if !strings.HasPrefix(a, "--azure-") {
				want = append(want, a)
			}
		}
		if pa.Spot != spot {
			t.Fatalf("Spot = %v, want %v", pa.Spot, spot)
		}
		if spot {
			for _, s := range append([]string{pa.Size}, pa.Sizes...) {
				if !spotCapable(s) {
					t.Fatalf("accepted Spot on %s, which Azure does not sell as Spot", s)
				}
			}
		}
		if strings.Join(rest, "\x00") != strings.Join(want, "\x00") || len(rest) != len(want) {
			t.Fatalf("rest = %q, want %q", rest, want)
		}
	})
}
