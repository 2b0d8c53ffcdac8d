package azure

import (
	"context"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"

	"github.com/mngr-azure/mngr/internal/core"
)

// awaitLRO runs one long-running ARM operation: begin starts it and its
// poller is waited for at the Client's polling interval. settle turns the
// outcome into the error the caller returns (classify it, take a delete's
// 404 as done); nil keeps it as it is. A non-empty step is shown as a
// progress step that ends with the settled error, so the step reports
// failed exactly when the caller gets an error.
func awaitLRO[T any](ctx context.Context, c *Client, step string, begin func() (*runtime.Poller[T], error), settle func(error) error) (T, error) {
	done := func(error) {}
	if step != "" {
		done = core.ProgressFrom(ctx).Step(step)
	}
	var res T
	p, err := begin()
	if err == nil {
		res, err = p.PollUntilDone(ctx, c.poll())
	}
	if settle != nil {
		err = settle(err)
	}
	done(err)
	return res, err
}

// poll is the polling of every long-running operation of the Client.
func (c *Client) poll() *runtime.PollUntilDoneOptions {
	return &runtime.PollUntilDoneOptions{Frequency: c.pollEvery}
}

// classifyAs settles an outcome with classify (errors.go).
func classifyAs(action, region, size string) func(error) error {
	return func(err error) error { return classify(err, action, region, size) }
}

// goneIsDone settles a delete: a resource already gone is deleted.
func goneIsDone(err error) error {
	if isNotFound(err) {
		return nil
	}
	return err
}
