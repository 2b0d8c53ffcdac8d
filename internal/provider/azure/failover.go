package azure

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mngr-azure/mngr/internal/core"
	"github.com/mngr-azure/mngr/internal/vps"
)

// candidate is one (region, size) pair a create may try.
type candidate struct {
	region, size string
}

// skip says why a candidate is not tried; kind is the core sentinel the
// reason falls under.
type skip struct {
	reason string
	kind   error
	// hint is the next step when every candidate is skipped ("" for none).
	hint string
}

// attempt records how one candidate went.
type attempt struct {
	candidate
	skipped bool
	reason  string
	err     error
	hint    string
}

// candidates lists the (region, size) pairs of the build args in the order
// a create tries them: region by region, and within a region size by size,
// so a create prefers the first region with any size that fits.
func candidates(pa vps.ProviderArgs, cfg Config) []candidate {
	regions := pa.Regions
	if len(regions) == 0 {
		regions = []string{firstOr(pa.Region, cfg.DefaultRegion)}
	}
	sizes := pa.Sizes
	if len(sizes) == 0 {
		sizes = []string{firstOr(pa.Size, cfg.DefaultVMSize)}
	}
	out := make([]candidate, 0, len(regions)*len(sizes))
	for _, r := range regions {
		for _, s := range sizes {
			out = append(out, candidate{region: r, size: s})
		}
	}
	return out
}

func firstOr(v, def string) string {
	if v != "" {
		return v
	}
	return def
}

// failoverable reports the errors after which the next candidate may
// succeed: no capacity, no quota, or a size that cannot boot the image.
func failoverable(err error) bool {
	return errors.Is(err, core.ErrCapacity) || errors.Is(err, core.ErrQuotaExceeded) || errors.Is(err, errCannotBootImage)
}

// CreateInstance creates the public IP, NIC and VM of a host. With several
// regions or sizes in the build args it tries each (region, size) pair in
// order and moves on only when Azure reports no capacity or no quota,
// removing the failed attempt's NIC and public IP first (a NIC Azure still
// reserves for the failed VM is left for `mngr gc`). Each attempt uses its
// own NIC and public IP names, so a reserved NIC never blocks the next one.
func (c *Client) CreateInstance(ctx context.Context, req vps.CreateInstanceRequest) (vps.Instance, error) {
	prog := core.ProgressFrom(ctx)
	cands := candidates(req.ProviderArgs, c.cfg)
	failover := len(cands) > 1
	name := vmName(req.HostName, req.HostID)
	tags := c.baseTags(req)
	if note := spotDefaultNote(req.ProviderArgs, c.cfg); note != "" {
		core.Note(ctx, note)
	}
	skips, err := c.skipReasons(ctx, cands, req.ProviderArgs.Spot)
	if err != nil {
		return vps.Instance{}, err
	}
	if sk, ok := skips[cands[0]]; ok && !failover {
		return vps.Instance{}, skipError(name, cands[0], sk)
	}
	identityID := ""
	if req.ProviderArgs.Extra[extraBuilder] == "" {
		// An image builder gets no identity: it never stops itself, and
		// the package scripts it runs (mngr azure bake --agent-type) get no
		// token to reach for.
		identityID = c.vmIdentity(ctx)
	}
	attempts := make([]attempt, 0, len(cands))
	tried := 0
	for i, cand := range cands {
		if sk, ok := skips[cand]; ok {
			prog.Warn(fmt.Sprintf("skipping %s in %s: %s", cand.size, cand.region, sk.reason))
			attempts = append(attempts, attempt{candidate: cand, skipped: true, reason: sk.reason, err: sk.kind, hint: sk.hint})
			continue
		}
		tried++
		netBase := name
		if tried > 1 {
			netBase = fmt.Sprintf("%s-%d", name, tried)
		}
		core.Note(ctx, estimatePrice(cand.size, cand.region, req.ProviderArgs.Spot).String())
		endAttempt := func(error) {}
		if failover {
			endAttempt = prog.Step(fmt.Sprintf("attempt %d of %d: %s in %s", i+1, len(cands), cand.size, cand.region))
		}
		spec := c.vmSpec(req, name, netBase, cand.region, cand.size, tags)
		spec.IdentityID = identityID
		inst, err := c.createAttempt(ctx, req.HostID, spec)
		endAttempt(err)
		if err == nil {
			return inst, nil
		}
		if !failover || !failoverable(err) {
			return vps.Instance{}, err
		}
		attempts = append(attempts, attempt{candidate: cand, reason: strings.TrimPrefix(err.Error(), "create vm "+name+": "), err: err})
		if i < len(cands)-1 {
			prog.Warn(fmt.Sprintf("%s in %s failed (%s); trying the next candidate", cand.size, cand.region, attemptCause(err)))
		}
	}
	return vps.Instance{}, allFailed(name, attempts)
}

// skipError is the error of a create whose only candidate the read-only
// checks ruled out: the reason in one line, with its own next step.
func skipError(name string, cd candidate, sk skip) error {
	err := fmt.Errorf("create vm %s: %s: %w", name, sk.reason, sk.kind)
	switch {
	case sk.hint != "":
		return core.WithHint(err, "%s", sk.hint)
	case errors.Is(sk.kind, core.ErrQuotaExceeded):
		return core.WithHint(err, "check usage with `az vm list-usage --location %s -o table` and request more in the Azure portal (Subscriptions → Usage + quotas), or pick another size or region (-b --azure-vm-size=SIZE1,SIZE2, -b --azure-region=REGION)", cd.region)
	}
	return core.WithHint(err, "pick another size with -b --azure-vm-size=SIZE or another region with -b --azure-region=REGION, or give several (-b --azure-vm-size=SIZE1,SIZE2)")
}

// attemptCause is the short category of a failover error.
func attemptCause(err error) string {
	if errors.Is(err, core.ErrQuotaExceeded) {
		return "quota exceeded"
	}
	if errors.Is(err, errCannotBootImage) {
		return "the size cannot boot the image's generation"
	}
	return "no capacity"
}

// allFailed is the error of a create whose every candidate failed or was
// skipped: it lists each attempt with its reason and wraps the last one's
// category (core.ErrCapacity, core.ErrQuotaExceeded or core.ErrUnavailable).
func allFailed(name string, attempts []attempt) error {
	var b strings.Builder
	kind := core.ErrCapacity
	var lastErr error
	regions := []string{}
	for i, a := range attempts {
		verb := "failed"
		if a.skipped {
			verb = "skipped"
		}
		fmt.Fprintf(&b, "\n  %d. %s in %s %s: %s", i+1, a.size, a.region, verb, a.reason)
		if !a.skipped {
			lastErr = a.err
		}
		if !containsFold(regions, a.region) {
			regions = append(regions, a.region)
		}
	}
	// The category is the last real attempt's, or with none the last skip's.
	for _, a := range attempts {
		if a.skipped && lastErr != nil {
			continue
		}
		for _, k := range []error{core.ErrQuotaExceeded, core.ErrCapacity, core.ErrUnavailable, core.ErrInvalidInput} {
			if errors.Is(a.err, k) {
				kind = k
				break
			}
		}
	}
	err := fmt.Errorf("create vm %s: no (region, size) candidate worked (%d tried or skipped):%s\n: %w", name, len(attempts), b.String(), kind)
	hint := fmt.Sprintf("add more candidates, e.g. -b --azure-vm-size=SIZE1,SIZE2 or -b --azure-region=REGION1,REGION2; "+
		"check quota with `az vm list-usage --location %s -o table` and request more in the Azure portal (Subscriptions → Usage + quotas)", regions[0])
	if h := core.HintOf(lastErr); h != "" {
		hint += "; last attempt: " + h
	}
	if lastErr == nil {
		// Every candidate was skipped: the last skip's own next step first.
		for i := len(attempts) - 1; i >= 0; i-- {
			if attempts[i].hint != "" {
				hint = attempts[i].hint + "; or " + hint
				break
			}
		}
	}
	return core.WithHint(err, "%s", hint)
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// deleteFailedVM removes a VM whose create Azure accepted and then failed
// (AllocationFailed, OSProvisioningTimedOut, or an interrupted create: Azure keeps such a VM in the
// Failed state, holding its NIC, OS disk and static public IP, which bill
// until deleted). Deleting it cascades those; the next failover attempt's
// VM of the same name starts clean and the host id stays unambiguous.
//
// A VM still being provisioned refuses deletes (OperationNotAllowed): the
// delete is tried again until it is taken or ctx ends, so an interrupted
// create does not leave its VM behind.
func (c *Client) deleteFailedVM(ctx context.Context, name string) bool {
	for {
		_, err := awaitLRO(ctx, c, "deleting failed VM "+name, c.deleteVMBegin(ctx, name), goneIsDone)
		if err == nil {
			return true
		}
		if errorCode(err) == "OperationNotAllowed" && ctx.Err() == nil {
			select {
			case <-ctx.Done():
			case <-time.After(max(c.pollEvery, time.Second)):
			}
			continue
		}
		core.ProgressFrom(ctx).Warn(fmt.Sprintf("could not delete the failed VM %s (`mngr gc` will remove it): %v", name, err))
		return false
	}
}

// skipReasons says which candidates cannot succeed, from read-only calls
// only: regions the prepared network is not in (when the candidates span
// several regions), sizes whose SKU cannot boot the image's generation (one
// SKU list per region), and, with capacity_precheck, sizes the region's SKU
// list restricts or the region's vCPU quota cannot fit.
func (c *Client) skipReasons(ctx context.Context, cands []candidate, spot bool) (map[candidate]skip, error) {
	skips := map[candidate]skip{}
	var regions []string
	for _, cd := range cands {
		if !containsFold(regions, cd.region) {
			regions = append(regions, cd.region)
		}
	}
	if len(regions) > 1 {
		netRegion, err := c.networkRegion(ctx)
		if err != nil {
			return nil, err
		}
		if netRegion != "" {
			for _, cd := range cands {
				if !strings.EqualFold(normRegion(cd.region), netRegion) {
					skips[cd] = skip{kind: core.ErrUnavailable, reason: fmt.Sprintf(
						"the network %s that `mngr azure prepare` made is in %s, and a NIC must be in its vnet's region; "+
							"to use %s, add a provider block with default_region = %q and its own resource_group, run `mngr azure prepare --provider NAME` and create with --provider NAME",
						c.cfg.VnetName, netRegion, cd.region, cd.region)}
				}
			}
		}
	}
	if gen := c.cfg.imageGeneration(); c.cfg.CapacityPrecheck || gen != "" {
		c.precheck(ctx, cands, spot, gen, skips)
	}
	return skips, nil
}

// networkRegion is the region of the prepared vnet ("" when it does not
// exist: the preflight reports that).
func (c *Client) networkRegion(ctx context.Context) (string, error) {
	if c.infra.vnets == nil {
		return "", nil
	}
	v, err := c.infra.vnets.Get(ctx, c.cfg.ResourceGroup, c.cfg.VnetName, nil)
	if isNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", classify(err, "get vnet "+c.cfg.VnetName, c.cfg.DefaultRegion, "")
	}
	return normRegion(deref(v.Location)), nil
}

// normRegion turns a display name ("West US") or a name into the name form ("westus").
func normRegion(r string) string {
	return strings.ToLower(strings.ReplaceAll(r, " ", ""))
}
