package reqivootel

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestURLFullFollowsTheConventions checks url.full against the semantic
// conventions: userinfo REDACTED:REDACTED, the values of the sensitive
// query keys (matched case-sensitively) and of those the session redacted
// REDACTED, the keys and the rest kept.
func TestURLFullFollowsTheConventions(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, in, want string }{
		{"no query", "https://h/p", "https://h/p"},
		{"plain query", "https://h/p?q=1&page=2", "https://h/p?q=1&page=2"},
		{"session redacted", "https://REDACTED:REDACTED@h/p?token=xxxxx&page=2", "https://REDACTED:REDACTED@h/p?token=REDACTED&page=2"},
		{"sensitive keys", "https://h/o?AWSAccessKeyId=A&Signature=S&sig=s&X-Goog-Signature=G&Expires=1",
			"https://h/o?AWSAccessKeyId=REDACTED&Signature=REDACTED&sig=REDACTED&X-Goog-Signature=REDACTED&Expires=1"},
		{"case-sensitive list", "https://h/o?SIGNATUREX=1&Sig2=2", "https://h/o?SIGNATUREX=1&Sig2=2"},
		{"key without value", "https://h/o?sig&x", "https://h/o?sig&x"},
		{"empty query", "https://h/o?", "https://h/o?"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			kv := urlFull(tc.in)
			assert.Equal(t, "url.full", string(kv.Key))
			assert.Equal(t, tc.want, kv.Value.AsString())
		})
	}
}
