package redact

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzQuery checks that no value of a secret key survives Query, whatever
// the query, that the other pairs are kept byte for byte, and that
// redacting twice changes nothing more.
func FuzzQuery(f *testing.F) {
	for _, s := range []string{"a=1&token=abc", "access%5Ftoken=%zz&b", "&&sig=1&", "x=%20&Signature=a%2Bb", "token"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		got := Query(q, Constant("R"))
		if again := Query(got, Constant("R")); again != got {
			t.Fatalf("not idempotent: %q -> %q -> %q", q, got, again)
		}
		in, out := strings.Split(q, "&"), strings.Split(got, "&")
		if len(in) != len(out) {
			t.Fatalf("%q -> %q: %d pairs, want %d", q, got, len(out), len(in))
		}
		for i, p := range in {
			k, _, hasValue := strings.Cut(p, "=")
			dk, err := url.QueryUnescape(k)
			if err != nil {
				dk = k
			}
			want := p
			if hasValue && IsSecretName(dk) {
				want = k + "=R"
			}
			if out[i] != want {
				t.Fatalf("%q -> %q: pair %d is %q, want %q", q, got, i, out[i], want)
			}
		}
	})
}

// FuzzURL checks that a URL's userinfo, secret query values and fragment
// never survive URL, and that what it returns parses again.
func FuzzURL(f *testing.F) {
	for _, s := range []string{"https://u:p@h/x?token=t#f", "http://t0k3n@h/", "https://h/?Signature=s&AWSAccessKeyId=a", "//u@h", "http://[::1]:1/%zz?sig"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := url.Parse(raw)
		if err != nil {
			return
		}
		r := URL(u, Constant("R"))
		s := r.String()
		if r.Fragment != "" || r.RawFragment != "" {
			t.Fatalf("%q -> %q keeps a fragment", raw, s)
		}
		if u.User != nil && r.User.String() != Userinfo {
			t.Fatalf("%q -> %q keeps userinfo %q", raw, s, r.User.String())
		}
		back, err := url.Parse(s)
		if err != nil {
			return // url.URL.String does not always give a URL that parses back (a path with a colon ...)
		}
		for k, vs := range back.Query() {
			if IsSecretName(k) {
				for _, v := range vs {
					if v != "R" && v != "" { // "" is a key with no value: nothing to hide
						t.Fatalf("%q -> %q: %s=%q", raw, s, k, v)
					}
				}
			}
		}
	})
}

// FuzzURLsIn checks that URLsIn leaves text without URLs as it is, and
// that once every URL is replaced no scheme followed by "://" is left.
func FuzzURLsIn(f *testing.F) {
	for _, s := range []string{`Get "https://u:p@h/?token=t": EOF`, "://http://u@h", "1x://h a+b://c", "-://", "redis://:pw@h:1 refused"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got := URLsIn(s, func(u string) string { return u }); got != s {
			t.Fatalf("identity changed %q to %q", s, got)
		}
		got := URLsIn(s, Constant(""))
		for i := strings.Index(got, "://"); i >= 0; {
			j := i
			for j > 0 && isSchemeByte(got[j-1]) {
				j--
			}
			if strings.IndexFunc(got[j:i], func(r rune) bool { return r < 0x80 && isLetter(byte(r)) }) >= 0 {
				t.Fatalf("%q -> %q: a URL is left at %d", s, got, j)
			}
			next := strings.Index(got[i+3:], "://")
			if next < 0 {
				break
			}
			i += 3 + next
		}
	})
}
