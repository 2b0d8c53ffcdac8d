package azure

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

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
	re, ok := responseError(err)
	if !ok {
		return fmt.Errorf("%s: %w", action, err)
	}
	text := ""
	if re.RawResponse != nil {
		text = err.Error()
	}
	switch {
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
	}
	return fmt.Errorf("%s: %w", action, err)
}
