package core

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestSleep(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name    string
		ctx     context.Context
		d       time.Duration
		wantErr error
		// minWait and maxWait bound how long Sleep may take.
		minWait, maxWait time.Duration
	}{
		{"waits d", context.Background(), 50 * time.Millisecond, nil, 50 * time.Millisecond, 2 * time.Second},
		{"zero does not wait", context.Background(), 0, nil, 0, 100 * time.Millisecond},
		{"negative does not wait", context.Background(), -time.Second, nil, 0, 100 * time.Millisecond},
		{"ended context returns at once", cancelled, time.Hour, context.Canceled, 0, 100 * time.Millisecond},
		{"ended context with zero d", cancelled, 0, context.Canceled, 0, 100 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			err := Sleep(tt.ctx, tt.d)
			took := time.Since(start)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Errorf("Sleep(%v) = %v, want %v", tt.d, err, tt.wantErr)
			}
			if took < tt.minWait || took > tt.maxWait {
				t.Errorf("Sleep(%v) took %v, want between %v and %v", tt.d, took, tt.minWait, tt.maxWait)
			}
		})
	}
	t.Run("deadline during the wait", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		start := time.Now()
		if err := Sleep(ctx, time.Hour); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Sleep past the deadline = %v, want DeadlineExceeded", err)
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("Sleep past a 50ms deadline took %v", took)
		}
	})
}
