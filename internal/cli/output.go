package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/mngr-azure/mngr/internal/core"
)

// Format is an output format.
type Format string

// Output formats.
const (
	FormatHuman Format = "human"
	FormatJSON  Format = "json"
	FormatJSONL Format = "jsonl"
)

func validateFormat(s string) error {
	switch Format(s) {
	case FormatHuman, FormatJSON, FormatJSONL:
		return nil
	}
	return core.WithHint(fmt.Errorf("invalid --format %q: %w", s, core.ErrInvalidInput), "use --format human, json or jsonl")
}

// formatFlag is a pflag.Value that accepts only known formats.
type formatFlag struct{ p *Format }

func (v formatFlag) String() string { return string(*v.p) }
func (v formatFlag) Type() string   { return "format" }
func (v formatFlag) Set(s string) error {
	if err := validateFormat(s); err != nil {
		return err
	}
	*v.p = Format(s)
	return nil
}

// AddFormatFlag adds --format (default human, validated) to cmd.
func AddFormatFlag(cmd *cobra.Command, p *Format) {
	if *p == "" {
		*p = FormatHuman
	}
	cmd.Flags().Var(formatFlag{p}, "format", "output format: human, json or jsonl")
}

// Emit writes one result: human → humanFn(w); json → one JSON object plus a
// newline; jsonl → each of events as one line.
func Emit(ios *IOStreams, f Format, humanFn func(w io.Writer) error, jsonValue any, events []any) error {
	switch f {
	case FormatJSON:
		return writeJSONLine(ios.Out, jsonValue)
	case FormatJSONL:
		for _, e := range events {
			if err := writeJSONLine(ios.Out, e); err != nil {
				return err
			}
		}
		return nil
	default:
		if humanFn == nil {
			return nil
		}
		return humanFn(ios.Out)
	}
}

func writeJSONLine(w io.Writer, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode json: %w", err)
	}
	data = append(data, '\n')
	if _, err := w.Write(data); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}

// NewProgress returns a core.Progress that renders steps on io.ErrOut.
func NewProgress(ios *IOStreams, f Format, quiet bool) core.Progress {
	switch {
	case quiet || f == FormatJSON:
		return quietProgress{}
	case f == FormatJSONL:
		return &jsonlProgress{w: ios.ErrOut, now: time.Now}
	default:
		return &textProgress{w: ios.ErrOut, spinner: ios.ErrIsTerminal, now: time.Now}
	}
}

// textProgress prints "  <step> … done (1.2s)" lines; on a terminal it shows
// the running step with a spinner first, elsewhere a "  <step> …" line when
// the step starts.
type textProgress struct {
	mu      sync.Mutex
	w       io.Writer
	spinner bool
	now     func() time.Time
}

var spinnerFrames = []string{"|", "/", "-", "\\"}

func (p *textProgress) Step(name string) func(error) {
	name = core.PrintableLines(name)
	start := p.now()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	if p.spinner {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(120 * time.Millisecond)
			defer t.Stop()
			for i := 0; ; i++ {
				p.mu.Lock()
				logf(p.w, "\r  %s %s …", spinnerFrames[i%len(spinnerFrames)], name)
				p.mu.Unlock()
				select {
				case <-stop:
					return
				case <-t.C:
				}
			}
		}()
	}
	if !p.spinner {
		// In a pipe or a log, the step shows when it starts too: a long
		// one (a 16 s worktree, a VM) is not silence until it ends.
		p.mu.Lock()
		logf(p.w, "  %s …\n", name)
		p.mu.Unlock()
	}
	var once sync.Once
	return func(err error) {
		once.Do(func() {
			close(stop)
			wg.Wait()
			secs := p.now().Sub(start).Seconds()
			p.mu.Lock()
			defer p.mu.Unlock()
			lead := ""
			if p.spinner {
				lead = "\r\033[K"
			}
			if err != nil {
				logf(p.w, "%s  %s … failed (%.1fs)\n", lead, name, secs)
				return
			}
			logf(p.w, "%s  %s … done (%.1fs)\n", lead, name, secs)
		})
	}
}

func (p *textProgress) Warn(msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	logf(p.w, "Warning: %s\n", core.PrintableLines(msg))
}

// Note writes an indented line of its own (over a spinner's line).
func (p *textProgress) Note(msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	lead := ""
	if p.spinner {
		lead = "\r\033[K"
	}
	logf(p.w, "%s  %s\n", lead, core.PrintableLines(msg))
}

// jsonlProgress writes {"event":"progress",…} lines.
type jsonlProgress struct {
	mu  sync.Mutex
	w   io.Writer
	now func() time.Time
}

func (p *jsonlProgress) emit(v map[string]any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	_ = writeJSONLine(p.w, v)
}

func (p *jsonlProgress) Step(name string) func(error) {
	start := p.now()
	p.emit(map[string]any{"event": "progress", "step": name, "status": "started"})
	var once sync.Once
	return func(err error) {
		once.Do(func() {
			ev := map[string]any{"event": "progress", "step": name, "status": "done", "elapsed_seconds": p.now().Sub(start).Seconds()}
			if err != nil {
				ev["status"], ev["error"] = "failed", core.Describe(err)
			}
			p.emit(ev)
		})
	}
}

func (p *jsonlProgress) Warn(msg string) {
	p.emit(map[string]any{"event": "warning", "message": msg})
}

func (p *jsonlProgress) Note(msg string) {
	p.emit(map[string]any{"event": "note", "message": msg})
}

// quietProgress shows nothing (--format json, --quiet).
type quietProgress struct{}

func (quietProgress) Step(string) func(error) { return func(error) {} }
func (quietProgress) Warn(string)             {}

// logf writes one line of human output or diagnostics. A write that fails on
// a closed stdout or stderr is not worth failing the command over; the
// structured formats go through writeJSONLine, which reports errors.
func logf(w io.Writer, format string, args ...any) {
	_, _ = fmt.Fprintf(w, format, args...)
}

// toolProgress is where git's and rsync's own progress goes: stderr when it
// is a terminal and the output is for people, else nowhere.
func toolProgress(f *Factory) io.Writer {
	if f.IO.ErrIsTerminal && f.Format() == FormatHuman && !f.Quiet() {
		return f.IO.ErrOut
	}
	return nil
}
