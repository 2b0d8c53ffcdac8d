package azure

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"

	"github.com/mngr-azure/mngr/internal/core"
)

// armError is the SDK's error for an ARM answer with status and body.
func armError(status int, body string) error {
	req, _ := http.NewRequest(http.MethodPut, "https://management.example/subscriptions/s/vm", nil)
	return runtime.NewResponseError(&http.Response{StatusCode: status, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(strings.NewReader(body)), Request: req})
}

// An ARM refusal is one line: the action, the code and ARM's message, with
// a next step, never the SDK's dump of the whole exchange.
func TestClassifyIsOneLine(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		want     string
		category error
		hint     string
	}{
		{
			name:     "bad vm size",
			err:      armError(400, `{"error":{"code":"InvalidParameter","message":"The requested VM size Standard_Nope is not available in the current region.\n The sizes available are: a, b.","target":"vmSize"}}`),
			want:     "create vm x: Azure refused the request: InvalidParameter: The requested VM size Standard_Nope is not available in the current region. The sizes available are: a, b.",
			category: core.ErrInvalidInput, hint: "az vm list-sizes --location westus2",
		},
		{
			name: "other code",
			err:  armError(409, `{"error":{"code":"OperationNotAllowed","message":"nope"}}`),
			want: "create vm x: OperationNotAllowed", category: core.ErrConflict,
		},
		{
			name: "unclassified",
			err:  armError(412, `{"error":{"code":"PreconditionFailed","message":"etag mismatch"}}`),
			want: "create vm x: Azure answered 412 PreconditionFailed: etag mismatch",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := classify(tt.err, "create vm x", "westus2", "Standard_Nope")
			if msg := core.Describe(got); msg != tt.want || strings.Contains(msg, "\n") {
				t.Errorf("message %q, want %q", msg, tt.want)
			}
			if tt.category != nil && !errors.Is(got, tt.category) {
				t.Errorf("not %v", tt.category)
			}
			if !strings.Contains(core.HintOf(got), tt.hint) {
				t.Errorf("hint %q, want it to hold %q", core.HintOf(got), tt.hint)
			}
			if _, ok := responseError(got); !ok && tt.category != core.ErrConflict {
				t.Error("the SDK's error is no longer in the chain")
			}
		})
	}
}

// A quota refusal names the quota Azure says was hit, with the next step
// that helps for it: a family's vCPUs (another family helps), the regional
// total (another size does not), or the Spot pool (a regular VM does). The
// messages are Azure's wording (OperationNotAllowed, 409).
func TestClassifyNamesTheExceededQuota(t *testing.T) {
	const details = " Additional details - Deployment Model: Resource Manager, Location: westus, Current Limit: 10, Current Usage: 8, Additional Required: 4, (Minimum) New Limit Required: 12. Submit a request for Quota increase at https://aka.ms/ProdportalCRP/#blade/Microsoft_Azure_Capacity/UsageAndQuota.ReactView by specifying parameters listed in the ‘Details’ section for deployment to succeed."
	tests := []struct {
		name, code, message string
		want, hint          []string
		notHint             string
	}{
		{
			name: "family", code: "OperationNotAllowed",
			message: "Operation could not be completed as it results in exceeding approved standardDSv3Family Cores quota." + details,
			want:    []string{"OperationNotAllowed: the standardDSv3Family vCPU quota in westus is used up (limit 10, in use 8, this VM needs 4 more)"},
			hint:    []string{"request more standardDSv3Family vCPUs for westus", "another family", "az vm list-usage --location westus"},
		},
		{
			name: "regional total", code: "OperationNotAllowed",
			message: "Operation could not be completed as it results in exceeding approved Total Regional Cores quota." + details,
			want:    []string{"the regional vCPU quota (Total Regional vCPUs) in westus is used up (limit 10"},
			hint:    []string{"another size does not help", "request more Total Regional vCPUs", "another region"},
			notHint: "Family",
		},
		{
			name: "low priority", code: "OperationNotAllowed",
			message: "Operation could not be completed as it results in exceeding approved LowPriorityCores quota." + details,
			want:    []string{"the Spot vCPU quota (LowPriorityCores, Total Regional Spot vCPUs) in westus is used up"},
			hint:    []string{"create without --azure-spot", "Spot (low-priority) vCPUs"},
			notHint: "Family",
		},
		{
			name: "older regional wording", code: "OperationNotAllowed",
			message: "Operation results in exceeding quota limits of Core. Maximum allowed: 10, Current in use: 10, Additional requested: 2.",
			want:    []string{"the regional vCPU quota (Total Regional vCPUs) in westus is used up"},
			hint:    []string{"another size does not help"},
		},
		{
			name: "unnamed", code: "QuotaExceeded", message: "quota exceeded",
			want: []string{"QuotaExceeded: a vCPU quota for Standard_D2_v3 in westus is used up"},
			hint: []string{"az vm list-usage --location westus"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := classify(armError(409, `{"error":{"code":"`+tt.code+`","message":"`+tt.message+`"}}`), "create vm x", "westus", "Standard_D2_v3")
			if !errors.Is(got, core.ErrQuotaExceeded) {
				t.Fatalf("%v: not ErrQuotaExceeded", got)
			}
			for _, w := range tt.want {
				if !strings.Contains(got.Error(), w) {
					t.Errorf("error %q lacks %q", got.Error(), w)
				}
			}
			h := core.HintOf(got)
			for _, w := range tt.hint {
				if !strings.Contains(h, w) {
					t.Errorf("hint %q lacks %q", h, w)
				}
			}
			if tt.notHint != "" && strings.Contains(h, tt.notHint) {
				t.Errorf("hint %q names %q", h, tt.notHint)
			}
		})
	}
}
