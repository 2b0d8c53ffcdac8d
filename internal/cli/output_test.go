package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mngr-azure/mngr/internal/core"
)

func TestEmit(t *testing.T) {
	tests := []struct {
		format Format
		want   string
	}{
		{FormatHuman, "hello\n"},
		{FormatJSON, `{"a":1}` + "\n"},
		{FormatJSONL, `{"e":1}` + "\n" + `{"e":2}` + "\n"},
	}
	for _, tt := range tests {
		var out bytes.Buffer
		err := Emit(&IOStreams{Out: &out}, tt.format, func(w io.Writer) error { _, err := fmt.Fprintln(w, "hello"); return err },
			map[string]int{"a": 1}, []any{map[string]int{"e": 1}, map[string]int{"e": 2}})
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(tt.want, out.String()); d != "" {
			t.Errorf("%s (-want +got)\n%s", tt.format, d)
		}
	}
}

func TestProgress(t *testing.T) {
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := func() time.Time { clock = clock.Add(1500 * time.Millisecond); return clock }
	tests := []struct {
		name   string
		format Format
		quiet  bool
		want   string
	}{
		{"human", FormatHuman, false, "  build …\n  build … done (1.5s)\n  push …\n  push … failed (1.5s)\nWarning: careful\n  about $1/h\n"},
		{"json is silent", FormatJSON, false, ""},
		{"quiet is silent", FormatHuman, true, ""},
		{"jsonl", FormatJSONL, false, `{"event":"progress","status":"started","step":"build"}` + "\n" +
			`{"elapsed_seconds":1.5,"event":"progress","status":"done","step":"build"}` + "\n" +
			`{"event":"progress","status":"started","step":"push"}` + "\n" +
			`{"elapsed_seconds":1.5,"error":"nope","event":"progress","status":"failed","step":"push"}` + "\n" +
			`{"event":"warning","message":"careful"}` + "\n" +
			`{"event":"note","message":"about $1/h"}` + "\n"},
	}
	for _, tt := range tests {
		var errOut bytes.Buffer
		p := NewProgress(&IOStreams{ErrOut: &errOut}, tt.format, tt.quiet)
		switch pp := p.(type) {
		case *textProgress:
			pp.now = now
		case *jsonlProgress:
			pp.now = now
		}
		p.Step("build")(nil)
		p.Step("push")(errors.New("nope"))
		p.Warn("careful")
		core.Note(core.WithProgress(context.Background(), p), "about $1/h")
		if d := cmp.Diff(tt.want, errOut.String()); d != "" {
			t.Errorf("%s (-want +got)\n%s", tt.name, d)
		}
	}
	var errOut bytes.Buffer
	p := NewProgress(&IOStreams{ErrOut: &errOut, ErrIsTerminal: true}, FormatHuman, false)
	p.Step("spin")(nil)
	if !strings.Contains(errOut.String(), "spin … done") || !strings.Contains(errOut.String(), "\r") {
		t.Errorf("terminal progress = %q", errOut.String())
	}
}

func TestAddFormatFlagValidates(t *testing.T) {
	var f Format
	cmdFlag := formatFlag{&f}
	if err := cmdFlag.Set("xml"); err == nil {
		t.Error("xml accepted")
	}
	if err := cmdFlag.Set("jsonl"); err != nil || f != FormatJSONL {
		t.Errorf("jsonl: %v %q", err, f)
	}
}
