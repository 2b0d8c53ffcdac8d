package core

import "context"

// Progress receives the steps of a long operation. The CLI renders them on
// stderr (or as jsonl events); providers only report.
type Progress interface {
	// Step announces that a named step starts; the returned func ends it.
	Step(name string) (done func(err error))
	// Warn reports something the user should know that is not an error.
	Warn(msg string)
}

type progressKey struct{}

// WithProgress returns ctx carrying p.
func WithProgress(ctx context.Context, p Progress) context.Context {
	return context.WithValue(ctx, progressKey{}, p)
}

// ProgressFrom returns the Progress in ctx, or one that discards everything.
func ProgressFrom(ctx context.Context) Progress {
	if p, ok := ctx.Value(progressKey{}).(Progress); ok && p != nil {
		return p
	}
	return discardProgress{}
}

type discardProgress struct{}

func (discardProgress) Step(string) func(error) { return func(error) {} }
func (discardProgress) Warn(string)             {}

// Noter is a Progress that can also show a plain note (an estimate, a
// choice made): neither a step nor a warning.
type Noter interface {
	Note(msg string)
}

// Note shows msg through ctx's Progress when it can show notes.
func Note(ctx context.Context, msg string) {
	if n, ok := ProgressFrom(ctx).(Noter); ok {
		n.Note(msg)
	}
}
