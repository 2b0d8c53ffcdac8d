package azure

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/mngr-azure/mngr/internal/core"
)

// FuzzResolveSubscription feeds arbitrary azureProfile.json bytes (BOM,
// torn JSON, odd unicode) to ResolveSubscription. It must not panic; it
// returns the first default subscription with an id exactly as an
// independent JSON decode sees it; every failure wraps core.ErrUnavailable,
// names the profile path and carries a hint.
func FuzzResolveSubscription(f *testing.F) {
	for _, s := range []string{
		profileJSON,
		"\xef\xbb\xbf" + profileJSON,
		profileJSON[:40],
		`{"subscriptions":[{"id":"\u00e9\u2028","isDefault":true}]}`,
		`{"subscriptions":[{"id":"","isDefault":true},{"id":"b","isDefault":true}]}`,
		`{"subscriptions":{"id":"a"}}`,
		`null`,
		"\xef\xbb\xbf\xef\xbb\xbf{}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, profile []byte) {
		old := readFile
		defer func() { readFile = old }()
		reads := 0
		readFile = func(string) ([]byte, error) {
			reads++
			return profile, nil
		}
		const dir = "/nonexistent/fuzz-azure"
		got, err := ResolveSubscription("", func(k string) string { return map[string]string{"AZURE_CONFIG_DIR": dir}[k] })
		if reads < 1 || reads > 2 {
			t.Fatalf("profile read %d times", reads)
		}
		var want azureProfile
		werr := json.Unmarshal(bytes.TrimPrefix(profile, []byte("\xef\xbb\xbf")), &want)
		wantID := ""
		for _, s := range want.Subscriptions {
			if werr == nil && s.IsDefault && s.ID != "" {
				wantID = s.ID
				break
			}
		}
		if wantID != "" {
			if err != nil || got != wantID {
				t.Fatalf("ResolveSubscription = %q, %v; want %q", got, err, wantID)
			}
			return
		}
		if err == nil {
			t.Fatalf("ResolveSubscription = %q with no default subscription in the profile", got)
		}
		if !errors.Is(err, core.ErrUnavailable) || core.HintOf(err) == "" || !strings.Contains(err.Error(), dir) {
			t.Fatalf("failure lacks ErrUnavailable, hint or path: %v (hint %q)", err, core.HintOf(err))
		}
	})
}
