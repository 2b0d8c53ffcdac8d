package azure

import (
	"fmt"
	"net/netip"
	"sort"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v9"

	"github.com/mngr-azure/mngr/internal/core"
)

// CIDRSource says where the allowed SSH sources prepare is given came from:
// it decides whether prepare may widen the rules of an NSG that exists.
type CIDRSource int

const (
	// CIDRsFromSettings is the block's allowed_ssh_cidrs. Narrowing an
	// existing NSG's rules follows it; widening them is confirmed on a
	// terminal or refused.
	CIDRsFromSettings CIDRSource = iota
	// CIDRsDefault is for when neither the block nor a flag names any; an existing
	// NSG keeps the sources its rules allow.
	CIDRsDefault
	// CIDRsFromFlag is --allowed-ssh-cidr on the command line, the user's
	// explicit word: the rules follow it, wider or narrower.
	CIDRsFromFlag
)

// mngrRuleSources returns the sources mngr's rules of nsg allow (sorted,
// without repeats) and whether the NSG has any of mngr's rules.
func mngrRuleSources(nsg armnetwork.SecurityGroup) ([]string, bool) {
	if nsg.Properties == nil {
		return nil, false
	}
	seen := map[string]bool{}
	found := false
	for _, r := range nsg.Properties.SecurityRules {
		if r == nil || r.Properties == nil || !mngrRuleNames[deref(r.Name)] {
			continue
		}
		found = true
		if p := r.Properties.SourceAddressPrefix; p != nil {
			seen[*p] = true
		}
		for _, p := range r.Properties.SourceAddressPrefixes {
			if p != nil {
				seen[*p] = true
			}
		}
	}
	out := make([]string, 0, len(seen))
	for s := range seen {
		out = append(out, s)
	}
	sort.Strings(out)
	return out, found
}

// widens reports whether want allows a source that none of have covers.
func widens(have, want []string) bool {
	for _, w := range want {
		if !covered(w, have) {
			return true
		}
	}
	return false
}

// covered reports whether the source prefix w lies within one of have.
func covered(w string, have []string) bool {
	wp, werr := netip.ParsePrefix(w)
	for _, h := range have {
		if h == w {
			return true
		}
		hp, herr := netip.ParsePrefix(h)
		if werr == nil && herr == nil && hp.Addr().Is4() == wp.Addr().Is4() && hp.Bits() <= wp.Bits() && hp.Contains(wp.Addr()) {
			return true
		}
	}
	return false
}

// sshSources decides the sources mngr's rules of an existing NSG allow
// after prepare: have are the ones they allow now (hasRules says the NSG
// has mngr's rules at all), want the ones prepare was given, from src.
// Prepare never widens the rules unless told: a default keeps them, and a
// settings value that widens them needs confirm (a question on a
// terminal, nil otherwise) or is refused. kept says the rules stayed as
// they were although want differs.
func sshSources(nsgName string, have []string, hasRules bool, want []string, src CIDRSource, confirm func(from, to []string) bool) (sources []string, kept bool, err error) {
	switch {
	case src == CIDRsDefault:
		if !hasRules {
			have = nil
		}
		return have, !sameSources(have, want), nil
	case src == CIDRsFromFlag || !widens(have, want):
		return want, false, nil
	case confirm != nil && confirm(have, want):
		return want, false, nil
	}
	return nil, false, core.WithHint(fmt.Errorf("allowed_ssh_cidrs (%s) would widen who may connect to mngr's VMs: network security group %s allows %s now: %w",
		describeCIDRs(want), nsgName, describeCIDRs(have), core.ErrInvalidInput),
		"to widen it, name the ranges on the command line: mngr azure prepare %s; or set allowed_ssh_cidrs to what the NSG allows", cidrFlags(want))
}

func sameSources(a, b []string) bool {
	x := append([]string{}, a...)
	y := append([]string{}, b...)
	sort.Strings(x)
	sort.Strings(y)
	return fmt.Sprint(x) == fmt.Sprint(y)
}

// cidrFlags spells cidrs as --allowed-ssh-cidr flags.
func cidrFlags(cidrs []string) string {
	s := ""
	for i, c := range cidrs {
		if i > 0 {
			s += " "
		}
		s += "--allowed-ssh-cidr " + c
	}
	return s
}
