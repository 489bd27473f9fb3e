package reqivootel

import (
	"strings"
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

// FuzzURLFull checks that url.full never keeps a value the session
// redacted or one of a sensitive key, keeps everything else, and is
// stable when written again.
func FuzzURLFull(f *testing.F) {
	for _, s := range []string{"https://h/p?token=xxxxx&a=1", "https://h/?sig=1&&Signature", "https://h/p", "?", "https://h/?a=b=c&X-Goog-Signature=="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, u string) {
		got := urlFull(u).Value.AsString()
		if again := urlFull(got).Value.AsString(); again != got {
			t.Fatalf("not stable: %q -> %q -> %q", u, got, again)
		}
		base, q, ok := strings.Cut(u, "?")
		if !ok {
			if got != u {
				t.Fatalf("%q without a query changed to %q", u, got)
			}
			return
		}
		gotBase, gotQ, _ := strings.Cut(got, "?")
		if gotBase != base {
			t.Fatalf("%q: base %q changed to %q", u, base, gotBase)
		}
		in, out := strings.Split(q, "&"), strings.Split(gotQ, "&")
		if len(in) != len(out) {
			t.Fatalf("%q -> %q: pairs changed", u, got)
		}
		for i, p := range in {
			k, v, hasValue := strings.Cut(p, "=")
			want := p
			if hasValue && (v == sessionRedacted || sensitiveQueryKeys[k]) {
				want = k + "=" + redacted
			}
			if out[i] != want {
				t.Fatalf("%q -> %q: pair %q, want %q", u, got, out[i], want)
			}
		}
	})
}
