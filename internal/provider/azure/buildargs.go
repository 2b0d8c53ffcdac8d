package azure

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/mngr-azure/mngr/internal/core"
	"github.com/mngr-azure/mngr/internal/vps"
)

var validBuildArgs = []string{"--azure-region=REGION", "--azure-vm-size=SIZE", "--azure-spot", "--azure-image=baked|stock|ID"}

// maxFailoverChoices bounds each comma list, so a create tries at most
// maxFailoverChoices² (region, size) pairs.
const maxFailoverChoices = 8

// ParseBuildArgs claims --azure-region=, --azure-vm-size= and --azure-spot and
// returns every other arg (including --git-depth=N) for the host layer.
// Region and size take comma lists (failover candidates, tried in order);
// with more than one value, ProviderArgs.Regions / Sizes hold the list and
// Region / Size its first entry.
func ParseBuildArgs(args []string, cfg Config) (vps.ProviderArgs, []string, error) {
	pa := vps.ProviderArgs{Region: cfg.DefaultRegion, Size: cfg.DefaultVMSize}
	var rest []string
	sizeArg := ""
	for _, a := range args {
		switch {
		case strings.HasPrefix(a, "--azure-region="):
			list, err := parseChoiceList(a, "--azure-region=", regionRE(), "an Azure region name (lowercase letters and digits, like eastus)", strings.ToLower)
			if err != nil {
				return pa, nil, err
			}
			if len(list) > 0 {
				pa.Region, pa.Regions = list[0], multi(list)
			}
		case strings.HasPrefix(a, "--azure-vm-size="):
			list, err := parseChoiceList(a, "--azure-vm-size=", vmSizeRE(), "a VM size name (like Standard_D2s_v5)", nil)
			if err != nil {
				return pa, nil, err
			}
			if len(list) > 0 {
				pa.Size, pa.Sizes, sizeArg = list[0], multi(list), a
			}
		case strings.HasPrefix(a, "--azure-image="):
			v := strings.TrimPrefix(a, "--azure-image=")
			if err := checkImageChoice(v); err != nil || v == "" {
				return pa, nil, fmt.Errorf("build arg %q: the value must be baked, stock or a gallery image (version) id: %w", a, core.ErrInvalidInput)
			}
			if pa.Extra == nil {
				pa.Extra = map[string]string{}
			}
			pa.Extra[extraImage] = v
		case a == "--azure-spot":
			pa.Spot = true
		case strings.HasPrefix(a, "--azure-spot="):
			return pa, nil, fmt.Errorf("build arg %q: --azure-spot takes no value: %w", a, core.ErrInvalidInput)
		case strings.HasPrefix(a, "--azure-"):
			return pa, nil, fmt.Errorf("unknown build arg %q: valid Azure build args are %s (region and size take comma lists tried in order): %w", a, strings.Join(validBuildArgs, ", "), core.ErrInvalidInput)
		default:
			rest = append(rest, a)
		}
	}
	if pa.Spot {
		if err := spotSizes(&pa, sizeArg, cfg); err != nil {
			return pa, nil, err
		}
	}
	return pa, rest, nil
}

// spotSizes applies Azure's Spot size rule to a Spot create's sizes: a
// size given with --azure-vm-size that Azure does not sell as Spot is
// refused here, before any ARM call; with no size given and a
// default_vm_size that cannot be Spot, the create uses defaultSpotSize
// (recorded in pa.Extra so progress and --dry-run say so).
func spotSizes(pa *vps.ProviderArgs, sizeArg string, cfg Config) error {
	if sizeArg == "" {
		if !spotCapable(pa.Size) {
			pa.Size = defaultSpotSize
			if pa.Extra == nil {
				pa.Extra = map[string]string{}
			}
			pa.Extra[extraSpotDefault] = defaultSpotSize
		}
		return nil
	}
	sizes := pa.Sizes
	if len(sizes) == 0 {
		sizes = []string{pa.Size}
	}
	var bad []string
	for _, s := range sizes {
		if !spotCapable(s) {
			bad = append(bad, s)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	return core.WithHint(fmt.Errorf("build arg %q with --azure-spot: %s cannot be Spot (%s): %w", sizeArg, strings.Join(bad, ", "), spotRule, core.ErrInvalidInput),
		"pick a size Azure sells as Spot, e.g. -b --azure-vm-size=%s or -b --azure-vm-size=%s, or drop -b --azure-spot", spotSizeExamples[0], spotSizeExamples[1])
}

// parseChoiceList splits the value of a comma-list build arg, validating
// each entry. An empty value means "use the block's default" (nil list);
// an empty entry, a bad entry, a duplicate or too many entries is an error.
// Region names compare case-insensitively (fold lowercases them), VM sizes exactly.
func parseChoiceList(arg, prefix string, re *regexp.Regexp, what string, fold func(string) string) ([]string, error) {
	v := strings.TrimPrefix(arg, prefix)
	if v == "" {
		return nil, nil
	}
	parts := strings.Split(v, ",")
	if len(parts) > maxFailoverChoices {
		return nil, fmt.Errorf("build arg %q: %d values, at most %d are allowed: %w", arg, len(parts), maxFailoverChoices, core.ErrInvalidInput)
	}
	seen := map[string]bool{}
	out := make([]string, 0, len(parts))
	for i, p := range parts {
		p = strings.TrimSpace(p)
		if p == "" {
			return nil, fmt.Errorf("build arg %q: value %d of the comma list is empty: %w", arg, i+1, core.ErrInvalidInput)
		}
		key := p
		if fold != nil {
			key = fold(p)
		}
		if !re.MatchString(key) {
			return nil, fmt.Errorf("build arg %q: %q is not %s: %w", arg, p, what, core.ErrInvalidInput)
		}
		if seen[strings.ToLower(key)] {
			return nil, fmt.Errorf("build arg %q: %q is listed twice: %w", arg, p, core.ErrInvalidInput)
		}
		seen[strings.ToLower(key)] = true
		out = append(out, key)
	}
	return out, nil
}

// multi returns list when it holds more than one value, else nil, so a
// single value keeps ProviderArgs exactly as before failover lists existed.
func multi(list []string) []string {
	if len(list) < 2 {
		return nil
	}
	return list
}

// ParseBuildArgs claims the Azure build args.
func (c *Client) ParseBuildArgs(args []string) (vps.ProviderArgs, []string, error) {
	return ParseBuildArgs(args, c.cfg)
}
