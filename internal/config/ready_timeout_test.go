package config

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mngr-azure/mngr/internal/core"
)

func TestAgentReadyTimeout(t *testing.T) {
	tests := []struct {
		name      string
		user      string
		overrides []string
		want      time.Duration
		wantErr   string
	}{
		{name: "default", want: 10 * time.Second},
		{name: "whole seconds", user: "agent_ready_timeout = 30\n", want: 30 * time.Second},
		{name: "fraction", user: "agent_ready_timeout = 2.5\n", want: 2500 * time.Millisecond},
		{name: "-S wins", user: "agent_ready_timeout = 30\n", overrides: []string{"agent_ready_timeout=45"}, want: 45 * time.Second},
		{name: "not a number", overrides: []string{"agent_ready_timeout=soon"}, wantErr: "agent_ready_timeout"},
		{name: "zero", user: "agent_ready_timeout = 0\n", wantErr: "want a number of seconds more than 0 and at most 86400, got 0"},
		{name: "too long", user: "agent_ready_timeout = 86401\n", wantErr: "at most 86400, got 86401"},
		{name: "the maximum", user: "agent_ready_timeout = 86400\n", want: 86400 * time.Second},
		{name: "a small fraction", overrides: []string{"agent_ready_timeout=0.5"}, want: 500 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := newFixture(t, tt.user, "", "").load(tt.overrides...)
			if tt.wantErr != "" {
				if !errors.Is(err, core.ErrInvalidInput) || !strings.Contains(err.Error(), tt.wantErr) || core.HintOf(err) == "" {
					t.Errorf("err = %v, want ErrInvalidInput with %q and a hint", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.AgentReadyTimeout != tt.want {
				t.Errorf("AgentReadyTimeout = %s, want %s", c.AgentReadyTimeout, tt.want)
			}
		})
	}
}
