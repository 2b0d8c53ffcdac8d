package core

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// DurationForms names the accepted spellings of a duration, for hints.
const DurationForms = "a whole number of seconds (90), or one followed by s, m, h or d (30s, 5m, 1h, 7d)"

// ParseDuration reads the durations mngr's flags take: plain seconds, or a
// whole number with one unit of s, m, h or d. Anything else (negative,
// fractions, combined units, overflow) wraps ErrInvalidInput and names the
// accepted forms. flag names the flag in the message.
func ParseDuration(flag, s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	unit := time.Second
	if t != "" {
		switch t[len(t)-1] {
		case 's':
			t = t[:len(t)-1]
		case 'm':
			unit, t = time.Minute, t[:len(t)-1]
		case 'h':
			unit, t = time.Hour, t[:len(t)-1]
		case 'd':
			unit, t = 24*time.Hour, t[:len(t)-1]
		}
	}
	bad := func() (time.Duration, error) {
		return 0, WithHint(fmt.Errorf("%s: invalid duration %q: %w", flag, Printable(s), ErrInvalidInput), "write %s", DurationForms)
	}
	if t == "" || strings.TrimLeft(t, "0123456789") != "" {
		return bad()
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n > int64(math.MaxInt32)/int64(unit/time.Second) {
		return bad()
	}
	return time.Duration(n) * unit, nil
}

// FormatSeconds renders whole seconds the way ParseDuration reads them,
// with the largest unit that divides them (3600 → 1h).
func FormatSeconds(sec int) string {
	switch {
	case sec == 0:
		return "0s"
	case sec%86400 == 0:
		return strconv.Itoa(sec/86400) + "d"
	case sec%3600 == 0:
		return strconv.Itoa(sec/3600) + "h"
	case sec%60 == 0:
		return strconv.Itoa(sec/60) + "m"
	}
	return strconv.Itoa(sec) + "s"
}
