package authscheme

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestParseChallenges(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   []string
		want []Challenge
	}{
		{"RFC 9110 example", []string{`Newauth realm="apps", type=1, title="Login to \"apps\"", Basic realm="simple"`},
			[]Challenge{{Scheme: "Newauth", Params: map[string]string{"realm": "apps", "type": "1", "title": `Login to "apps"`}},
				{Scheme: "Basic", Params: map[string]string{"realm": "simple"}}}},
		{"token68", []string{"Negotiate abc/+==, Basic realm=x"},
			[]Challenge{{Scheme: "Negotiate", Token68: "abc/+=="}, {Scheme: "Basic", Params: map[string]string{"realm": "x"}}}},
		{"bare schemes", []string{"Basic, Bearer"}, []Challenge{{Scheme: "Basic"}, {Scheme: "Bearer"}}},
		{"BWS and case", []string{`Digest  REALM = "r" ,QOP="auth,auth-int"`},
			[]Challenge{{Scheme: "Digest", Params: map[string]string{"realm": "r", "qop": "auth,auth-int"}}}},
		{"two headers", []string{`Bearer error="invalid_token"`, "Basic"},
			[]Challenge{{Scheme: "Bearer", Params: map[string]string{"error": "invalid_token"}}, {Scheme: "Basic"}}},
		{"first duplicate wins", []string{`Digest nonce=a, nonce=b`},
			[]Challenge{{Scheme: "Digest", Params: map[string]string{"nonce": "a"}}}},
		{"unterminated quote skipped", []string{`Digest realm="x, Basic`}, []Challenge{{Scheme: "Digest"}}},
		{"garbage", []string{`=, "x", ,,`}, nil},
		{"param without scheme", []string{`realm=x, Basic`}, []Challenge{{Scheme: "Basic"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, Parse(tt.in))
		})
	}
	assert.True(t, BearerInvalidToken([]string{`Bearer realm="x", error="invalid_token"`}))
	assert.False(t, BearerInvalidToken([]string{`Bearer error="insufficient_scope"`, `Basic error="invalid_token"`}))
	assert.Len(t, Parse([]string{strings.Repeat("B, ", 100)}), MaxChallenges)
}

func FuzzChallenges(f *testing.F) {
	for _, s := range []string{
		`Newauth realm="apps", type=1, title="Login to \"apps\"", Basic realm="simple"`,
		`Digest realm="r", nonce="n", qop="auth,auth-int", algorithm=SHA-256-sess, stale=true`,
		`Negotiate abc==`, `Bearer error="invalid_token"`, `a="\`, `,=,"`,
	} {
		f.Add(s, "x", "y")
	}
	f.Fuzz(func(t *testing.T, header, name, value string) {
		for _, c := range Parse([]string{header}) {
			if c.Scheme == "" || strings.IndexFunc(c.Scheme, func(r rune) bool { return r > 0x7f || !IsTokenChar(byte(r)) }) >= 0 {
				t.Fatalf("scheme %q is not a token", c.Scheme)
			}
			if c.Token68 != "" && c.Params != nil {
				t.Fatalf("both token68 and params in %q", header)
			}
			for k := range c.Params {
				if k == "" || k != strings.ToLower(k) {
					t.Fatalf("param name %q", k)
				}
			}
		}
		// What quoteParam writes parses back to what it was given.
		if name == "" || strings.IndexFunc(name, func(r rune) bool { return r > 0x7f || !IsTokenChar(byte(r)) }) >= 0 {
			return
		}
		got := Parse([]string{"Digest " + name + "=" + QuoteParam(value) + ", Basic"})
		if len(got) != 2 || got[0].Params[strings.ToLower(name)] != value || got[1].Scheme != "Basic" {
			t.Fatalf("round trip of %q=%q: %+v", name, value, got)
		}
	})
}

func TestBearerError(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in         []string
		code, desc string
	}{
		{[]string{`Bearer realm="api", error="invalid_token", error_description="The access token expired"`}, "invalid_token", "The access token expired"},
		{[]string{`Basic realm="x"`, `Bearer error="insufficient_scope"`}, "insufficient_scope", ""},
		{[]string{`Bearer realm="api"`}, "", ""},
		{[]string{`Basic error="invalid_token"`}, "", ""},
		{nil, "", ""},
	} {
		code, desc := BearerError(tt.in)
		assert.Equal(t, tt.code, code, tt.in)
		assert.Equal(t, tt.desc, desc, tt.in)
	}
}
