package azure

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"

	"github.com/mngr-azure/mngr/internal/core"
)

// errCannotBootImage marks Azure's refusal of a size whose Hyper-V
// generations lack the image's: failover moves on from it.
var errCannotBootImage = errors.New("the VM size cannot boot the image's Hyper-V generation")

// hyperVGenRE matches that refusal's message ("The selected VM size 'X'
// cannot boot Hypervisor Generation '2'. …").
var hyperVGenRE = core.LazyRegexp(`(?i)cannot boot Hypervisor Generation '(\d)'`)

var capacityCodes = map[string]bool{
	"SkuNotAvailable": true, "AllocationFailed": true, "ZonalAllocationFailed": true,
	"OverconstrainedAllocationRequest": true, "OverconstrainedZonalAllocationRequest": true,
}

// quotaNameRE finds the quota an ARM quota refusal names: "… exceeding
// approved standardDSv3Family Cores quota", "… Total Regional Cores quota",
// "… LowPriorityCores quota".
var quotaNameRE = core.LazyRegexp(`(?i)exceeding approved (.+?) quota`)

// quotaNumbersRE finds the figures of a quota refusal's "Additional details".
var quotaNumbersRE = core.LazyRegexp(`(?i)Current Limit: (\d+), Current Usage: (\d+), Additional Required: (\d+)`)

// legacyCoreQuotaRE is the older wording of the regional vCPU refusal
// ("Operation results in exceeding quota limits of Core. Maximum allowed: 10, …").
var legacyCoreQuotaRE = core.LazyRegexp(`(?i)quota limits of Core\b`)

// Quota kinds a vCPU quota refusal can name (0: the message does not say).
const (
	// quotaFamily is a VM family's vCPUs (usage name like standardDSv3Family).
	quotaFamily = iota + 1
	// quotaRegional is the region's total of regular VMs' vCPUs (usage "cores").
	quotaRegional
	// quotaLowPriority is the region's Spot vCPUs (usage "lowPriorityCores").
	quotaLowPriority
)

// quotaRefusal is what a quota error says about the quota it hit.
type quotaRefusal struct {
	kind int
	// name is the quota as Azure named it ("standardDSv3Family", "Total Regional").
	name string
	// limit, usage and required are Azure's figures (-1 when it gave none).
	limit, usage, required int
}

// parseQuotaRefusal reads which quota an ARM quota refusal names.
func parseQuotaRefusal(text string) quotaRefusal {
	q := quotaRefusal{limit: -1, usage: -1, required: -1}
	if m := quotaNumbersRE().FindStringSubmatch(text); m != nil {
		q.limit, _ = strconv.Atoi(m[1])
		q.usage, _ = strconv.Atoi(m[2])
		q.required, _ = strconv.Atoi(m[3])
	}
	m := quotaNameRE().FindStringSubmatch(text)
	if m == nil {
		if legacyCoreQuotaRE().MatchString(text) {
			q.kind, q.name = quotaRegional, "Total Regional"
		}
		return q
	}
	name := strings.TrimSpace(m[1])
	name = strings.TrimSpace(strings.TrimSuffix(strings.TrimSuffix(name, " Cores"), " vCPUs"))
	switch low := strings.ToLower(name); {
	case strings.Contains(low, "lowpriority") || strings.Contains(low, "low-priority") || strings.Contains(low, "spot"):
		q.kind, q.name = quotaLowPriority, "LowPriorityCores"
	case strings.Contains(low, "total regional") || low == "cores" || low == "regional":
		q.kind, q.name = quotaRegional, "Total Regional"
	case strings.HasSuffix(low, "family"):
		q.kind, q.name = quotaFamily, name
	}
	return q
}

// figures renders Azure's numbers of the refusal, "" when it gave none.
func (q quotaRefusal) figures() string {
	if q.limit < 0 {
		return ""
	}
	return fmt.Sprintf(" (limit %d, in use %d, this VM needs %d more)", q.limit, q.usage, q.required)
}

// quotaError is the classified error of a vCPU quota refusal: it names the
// quota that was hit (the family's, the regional total, or the Spot pool)
// and the next step that helps for that quota.
func quotaError(action, code, text, region, size string) error {
	q := parseQuotaRefusal(text)
	usage := fmt.Sprintf("`az vm list-usage --location %s -o table`", region)
	portal := "the Azure portal (Subscriptions → Usage + quotas)"
	var what, hint string
	switch q.kind {
	case quotaFamily:
		what = fmt.Sprintf("the %s vCPU quota in %s is used up%s", q.name, region, q.figures())
		hint = fmt.Sprintf("the quota of %s's family %s is full: request more %s vCPUs for %s in %s, or pick a size of another family with -b --azure-vm-size=SIZE; usage: %s",
			size, q.name, q.name, region, portal, usage)
	case quotaRegional:
		what = fmt.Sprintf("the regional vCPU quota (Total Regional vCPUs) in %s is used up%s", region, q.figures())
		hint = fmt.Sprintf("every regular VM in %s counts against Total Regional vCPUs, so another size does not help: stop (deallocate) or destroy VMs there, request more Total Regional vCPUs for %s in %s, or use another region; usage: %s",
			region, region, portal, usage)
	case quotaLowPriority:
		what = fmt.Sprintf("the Spot vCPU quota (LowPriorityCores, Total Regional Spot vCPUs) in %s is used up%s", region, q.figures())
		hint = fmt.Sprintf("Spot VMs draw on their own regional quota, not their family's: request more Total Regional Spot (low-priority) vCPUs for %s in %s, create without --azure-spot, or use another region; usage: %s",
			region, portal, usage)
	default:
		what = fmt.Sprintf("a vCPU quota for %s in %s is used up", size, region)
		hint = fmt.Sprintf("check usage with %s and request more quota in %s, or pick another region/size", usage, portal)
	}
	return core.WithHint(fmt.Errorf("%s: %s: %s: %w", action, code, what, core.ErrQuotaExceeded), "%s", hint)
}

// responseError returns the SDK's ResponseError in err's chain.
func responseError(err error) (*azcore.ResponseError, bool) {
	var re *azcore.ResponseError
	ok := errors.As(err, &re)
	return re, ok
}

// isNotFound reports an ARM 404 (also ResourceNotFound codes from LRO polls).
func isNotFound(err error) bool {
	re, ok := responseError(err)
	return ok && (re.StatusCode == http.StatusNotFound || re.ErrorCode == "ResourceNotFound" ||
		re.ErrorCode == "ResourceGroupNotFound" || re.ErrorCode == "NotFound")
}

// errorCode returns the ARM error code of err, or "".
func errorCode(err error) string {
	if re, ok := responseError(err); ok {
		return re.ErrorCode
	}
	return ""
}

// classify maps an SDK error into the core's sentinels; action names what failed.
// region and size give quota and capacity hints their context.
func classify(err error, action, region, size string) error {
	if err == nil {
		return nil
	}
	var ue *unreachableError
	if errors.As(err, &ue) && core.HintOf(err) == "" {
		return fmt.Errorf("%s: %w", action, ue.withHint())
	}
	re, ok := responseError(err)
	if !ok {
		return fmt.Errorf("%s: %w", action, err)
	}
	text := ""
	if re.RawResponse != nil {
		text = err.Error()
	}
	switch {
	case re.ErrorCode == "SubscriptionNotFound" || re.ErrorCode == "InvalidSubscriptionId":
		return core.WithHint(fmt.Errorf("%s: %s: the subscription does not exist or this identity cannot see it: %w", action, re.ErrorCode, core.ErrNotFound),
			"list the subscriptions you can use with `az account list -o table`, then fix subscription_id in [providers.<name>], AZURE_SUBSCRIPTION_ID or `az account set --subscription <id>`")
	case re.StatusCode == http.StatusNotFound || re.ErrorCode == "ResourceNotFound" || re.ErrorCode == "ResourceGroupNotFound":
		return fmt.Errorf("%s: %s: %w", action, re.ErrorCode, core.ErrNotFound)
	case re.ErrorCode == "AuthorizationFailed" || re.ErrorCode == "LinkedAuthorizationFailed" || re.StatusCode == http.StatusForbidden:
		return core.WithHint(fmt.Errorf("%s: %s: %w", action, re.ErrorCode, core.ErrUnauthorized),
			"the Azure identity lacks permission for this action; ask for Contributor on the resource group (Owner or User Access Administrator for role assignments)")
	case re.ErrorCode == "QuotaExceeded" || (re.ErrorCode == "OperationNotAllowed" && strings.Contains(strings.ToLower(text), "quota")):
		return quotaError(action, re.ErrorCode, armMessage(re)+" "+text, region, size)
	case capacityCodes[re.ErrorCode]:
		return fmt.Errorf("%s: %s: size %s has no capacity in %s right now: %w", action, re.ErrorCode, size, region, core.ErrCapacity)
	case re.ErrorCode == "Conflict" || re.StatusCode == http.StatusConflict:
		return fmt.Errorf("%s: %s: %w", action, re.ErrorCode, core.ErrConflict)
	case re.StatusCode == http.StatusTooManyRequests:
		// The SDK has already retried (armMaxRetries, honouring Retry-After up
		// to armMaxRetryDelay); what reaches here is a throttle that lasts.
		return core.WithHint(armFailure(fmt.Sprintf("%s: Azure Resource Manager is throttling this subscription (%d %s)", action, re.StatusCode, re.ErrorCode), core.ErrUnavailable, err),
			"wait a minute or two and run the command again; other tools using the same subscription share its request limits")
	case re.StatusCode >= 500:
		where := ""
		if region != "" {
			where = " in " + region
		}
		return core.WithHint(armFailure(fmt.Sprintf("%s: Azure answered %d %s after %d retries", action, re.StatusCode, re.ErrorCode, armMaxRetries), core.ErrUnavailable, err),
			"Azure may be having an incident%s: check https://azure.status.microsoft/ and run the command again later", where)
	case re.StatusCode == http.StatusBadRequest && hyperVGenRE().MatchString(armMessage(re)):
		gen := hyperVGenRE().FindStringSubmatch(armMessage(re))[1]
		return core.WithHint(&classified{msg: fmt.Sprintf("%s: Azure refused the request: %s: size %s cannot boot the image's Hyper-V generation %s", action, re.ErrorCode, size, gen),
			category: core.ErrInvalidInput, err: err, also: errCannotBootImage},
			"pick a size that boots Gen%s images with -b --azure-vm-size=SIZE (the SKU list's HyperVGenerations says which: az vm list-skus --location %s --size %s), or an image of the size's generation (image_sku)", gen, firstNonEmptyStr(region, "REGION"), size)
	case re.StatusCode == http.StatusBadRequest:
		// A value Azure refuses (a VM size, an image): its code and message
		// in one line, not the SDK's dump of the whole exchange.
		hint := "fix the value the message names, in the flags or in [providers.<name>]"
		if strings.Contains(strings.ToLower(armMessage(re)), "size") {
			hint = "pick a size offered in the region: az vm list-sizes --location " + firstNonEmptyStr(region, "REGION") + " -o table (set it with -b --vm-size=SIZE or vm_size in [providers.<name>])"
		}
		return core.WithHint(armFailure(fmt.Sprintf("%s: Azure refused the request: %s: %s", action, re.ErrorCode, armMessage(re)), core.ErrInvalidInput, err), "%s", hint)
	}
	return armFailure(fmt.Sprintf("%s: Azure answered %d %s: %s", action, re.StatusCode, re.ErrorCode, armMessage(re)), nil, err)
}

// armMessage is the message of ARM's error body ({"error":{"message":…}}),
// on one line; "" when there is none.
func armMessage(re *azcore.ResponseError) string {
	if re.RawResponse == nil {
		return ""
	}
	body, err := runtime.Payload(re.RawResponse)
	if err != nil {
		return ""
	}
	var e struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) != nil {
		return ""
	}
	return strings.Join(strings.Fields(e.Error.Message), " ")
}

func firstNonEmptyStr(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// classified is an ARM error put in mngr's words: its message is short (the
// SDK's own text spans the whole request and response), and it unwraps to
// the core category (when it has one) and the SDK's *azcore.ResponseError.
type classified struct {
	msg      string
	category error
	err      error
	// also is a further sentinel the error is (nil for none).
	also error
}

func (e *classified) Error() string {
	if e.category == nil {
		return e.msg
	}
	return e.msg + ": " + e.category.Error()
}

func (e *classified) Unwrap() []error {
	var out []error
	if e.category != nil {
		out = append(out, e.category)
	}
	out = append(out, e.err)
	if e.also != nil {
		out = append(out, e.also)
	}
	return out
}

// armFailure returns msg as an error that is category (nil for none) and
// wraps err.
func armFailure(msg string, category, err error) error {
	return &classified{msg: msg, category: category, err: err}
}

// missingScope is the error for a list Azure answered 404 because the
// subscription or the resource group the settings name does not exist. It
// is never "nothing there": VMs billed elsewhere would stay hidden behind
// an empty list. It is invalid input (a setting to fix), with the setting
// and `mngr azure prepare` as the next step.
func (c *Client) missingScope(err error, action string) error {
	switch code := errorCode(err); code {
	case "SubscriptionNotFound", "InvalidSubscriptionId":
		return core.WithHint(fmt.Errorf("%s: subscription %s does not exist or this identity cannot see it (%s): %w", action, c.subscription, code, core.ErrInvalidInput),
			"fix subscription_id in [providers.%s] (or AZURE_SUBSCRIPTION_ID, or `az account set --subscription <id>`); `az account list -o table` lists the ones you can use", c.providerName)
	default:
		return core.WithHint(fmt.Errorf("%s: resource group %q does not exist in subscription %s: %w", action, c.cfg.ResourceGroup, c.subscription, core.ErrInvalidInput),
			"make it with `mngr azure prepare --provider %s`, or fix resource_group in [providers.%s]", c.providerName, c.providerName)
	}
}
