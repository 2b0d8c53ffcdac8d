package azure

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"

	"github.com/mngr-azure/mngr/internal/core"
)

var capacityCodes = map[string]bool{
	"SkuNotAvailable": true, "AllocationFailed": true, "ZonalAllocationFailed": true,
	"OverconstrainedAllocationRequest": true, "OverconstrainedZonalAllocationRequest": true,
}

var familyRE = core.LazyRegexp(`(?i)(standard\w*family|\w+ family)`)

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
		family := "the VM family of " + size
		if m := familyRE().FindString(text); m != "" {
			family = m
		}
		return core.WithHint(fmt.Errorf("%s: %s for %s in %s: %w", action, re.ErrorCode, family, region, core.ErrQuotaExceeded),
			"check usage with `az vm list-usage --location %s -o table` and request more quota for %s in the Azure portal (Subscriptions → Usage + quotas), or pick another region/size", region, family)
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
}

func (e *classified) Error() string {
	if e.category == nil {
		return e.msg
	}
	return e.msg + ": " + e.category.Error()
}

func (e *classified) Unwrap() []error {
	if e.category == nil {
		return []error{e.err}
	}
	return []error{e.category, e.err}
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
