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
