// Fuzz targets for the parsers that stand between user or server input and
// the wire: URL resolution against a base, header validation, Retry-After
// and the backoff it feeds, and cookies set by hand. Run one with, for
// example, go test -run '^$' -fuzz '^FuzzResolve$' -fuzztime 3m; the
// interesting inputs found so far are kept in testdata/fuzz.

package reqivo

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/reqivo/reqivo/internal/redact"
)

// fuzzTransport answers every request with 204 and keeps the last
// request's headers, for fuzz targets that must see what would go on the
// wire without a server per input.
type fuzzTransport struct {
	check func(*http.Request)
}

func (t *fuzzTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		req.Body.Close()
	}
	t.check(req)
	return &http.Response{
		StatusCode: http.StatusNoContent,
		Status:     "204 No Content",
		Proto:      "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:  http.Header{},
		Body:    http.NoBody,
		Request: req,
	}, nil
}

func FuzzResolve(f *testing.F) {
	bases := []string{
		"https://api.example.com/v1/",
		"http://127.0.0.1:8080/a/b?",
		"https://user:pw@[::1]:8443",
	}
	seeds := []string{
		"users", "/users", "../../../x", "//evil.example/x", "///evil.example",
		"\\\\evil.example", "/\\evil.example", "https://other.example/", "http:evil.example",
		"https:/evil.example", "?q=1", "#frag", "./@evil.example", "/%2F%2Fevil.example",
		"..//evil.example", "/./..//evil.example", "%2e%2e/%2e%2e//evil", "\t//evil.example",
		" //evil.example", "HTTPS://EVIL.example", "javascript:alert(1)", "//", "/..",
		"a:b@evil.example", "@evil.example", "user@evil.example/x",
	}
	for i, s := range seeds {
		f.Add(uint8(i), s)
	}
	sessions := make([]*Session, len(bases))
	for i, b := range bases {
		s, err := NewSession(WithBaseURL(strings.TrimSuffix(b, "?")))
		if err != nil {
			f.Fatal(err)
		}
		sessions[i] = s
		f.Cleanup(func() { _ = s.Close() })
	}
	f.Fuzz(func(t *testing.T, which uint8, ref string) {
		s := sessions[int(which)%len(sessions)]
		u, err := s.resolve(ref)
		if err != nil {
			if !errors.Is(err, ErrInvalidURL) {
				t.Fatalf("resolve(%q): error %v does not match ErrInvalidURL", ref, err)
			}
			return
		}
		if u.Scheme != "http" && u.Scheme != "https" || u.Hostname() == "" {
			t.Fatalf("resolve(%q) = %q: not an absolute http(s) URL", ref, u)
		}
		// The transport dials u.Host, and a redirect or a log reads u's
		// string form back: both must stay on the base origin unless ref
		// itself is absolute.
		again, perr := url.Parse(u.String())
		if perr != nil {
			t.Fatalf("resolve(%q) = %q does not parse back: %v", ref, u, perr)
		}
		ru, rerr := url.Parse(ref)
		absolute := rerr == nil && ru.Scheme != ""
		if absolute {
			return
		}
		base := s.BaseURL()
		if originOf(u) != originOf(base) {
			t.Fatalf("relative %q left the base origin: %q", ref, u)
		}
		if originOf(again) != originOf(base) {
			t.Fatalf("relative %q resolves to %q, which parses back to another origin %q", ref, u, again)
		}
		if u.User.String() != base.User.String() {
			t.Fatalf("relative %q changed the user information: %q", ref, u)
		}
	})
}

func FuzzHeader(f *testing.F) {
	seeds := [][2]string{
		{"X-Test", "ok"}, {"X-Test", "a\r\nX-Injected: 1"}, {"X-Test", "a\nb"},
		{"X-Test", "a\x00b"}, {"X Test", "v"}, {"", "v"}, {"X-Test\r\n", "v"},
		{"X-Test", "\tleading tab"}, {"X-Test", "caf\xc3\xa9"}, {"X-Test", "\x7f"},
		{"Host", "evil.example"}, {"X-Test:", "v"}, {"Authorization", "Bearer \x0b"},
	}
	for _, s := range seeds {
		f.Add(s[0], s[1])
	}
	var sent *http.Request
	rt := &fuzzTransport{check: func(r *http.Request) { sent = r }}
	s, err := NewSession(WithTransport(rt))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = s.Close() })
	f.Fuzz(func(t *testing.T, key, value string) {
		bad := strings.ContainsAny(key, "\r\n\x00") || strings.ContainsAny(value, "\r\n\x00")
		verr := validateHeaderField(key, value)
		if bad && verr == nil {
			t.Fatalf("validateHeaderField(%q, %q) accepted CR, LF or NUL", key, value)
		}
		if verr != nil && !errors.Is(verr, ErrInvalidHeader) {
			t.Fatalf("validateHeaderField(%q, %q): %v does not match ErrInvalidHeader", key, value, verr)
		}

		// Per request: refused before the wire, or sent valid.
		sent = nil
		resp, err := s.Get(context.Background(), "http://127.0.0.1:1/", Header(key, value))
		if verr != nil {
			if err == nil || !errors.Is(err, ErrInvalidHeader) {
				t.Fatalf("Header(%q, %q): err = %v, want ErrInvalidHeader", key, value, err)
			}
			if sent != nil {
				t.Fatalf("Header(%q, %q): a refused header reached the transport", key, value)
			}
		} else {
			if err != nil {
				t.Fatalf("Header(%q, %q): %v", key, value, err)
			}
			_ = resp.Close()
			checkSentHeader(t, sent)
		}

		// As a persistent header: the same, until it is deleted.
		sent = nil
		s.SetHeader(key, value)
		resp, err = s.Get(context.Background(), "http://127.0.0.1:1/")
		s.DelHeader(key)
		if verr != nil {
			if !errors.Is(err, ErrInvalidHeader) || sent != nil {
				t.Fatalf("SetHeader(%q, %q): err = %v, sent = %v", key, value, err, sent != nil)
			}
		} else {
			if err != nil {
				t.Fatalf("SetHeader(%q, %q): %v", key, value, err)
			}
			_ = resp.Close()
			checkSentHeader(t, sent)
		}
	})
}

// checkSentHeader fails unless every header field of r is valid on the wire.
func checkSentHeader(t *testing.T, r *http.Request) {
	t.Helper()
	if r == nil {
		t.Fatal("nothing reached the transport")
	}
	for k, vs := range r.Header {
		if !httpguts.ValidHeaderFieldName(k) {
			t.Fatalf("sent header name %q", k)
		}
		for _, v := range vs {
			if !httpguts.ValidHeaderFieldValue(v) || strings.ContainsAny(v, "\r\n\x00") {
				t.Fatalf("sent header %q: %q", k, v)
			}
		}
	}
}

func FuzzRetryAfter(f *testing.F) {
	seeds := []string{
		"0", "1", "120", "-1", "+5", "1.5", "1e3", " 7 ", "99999999999999999999999",
		"9223372036854775807", "3600000", "Wed, 21 Oct 2015 07:28:00 GMT",
		"Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT",
		"Sun Nov  6 08:49:37 1994", "Fri, 31 Dec 9999 23:59:59 GMT", "soon", "", "0x10", "١٢",
	}
	for i, s := range seeds {
		f.Add(s, int64(1445412480+i), uint8(i), int64(100*time.Millisecond), int64(5*time.Second))
	}
	f.Fuzz(func(t *testing.T, v string, nowUnix int64, n uint8, minWait, maxWait int64) {
		now := time.Unix(nowUnix%(1<<40), 0)
		d, ok := parseRetryAfter(v, now)
		if d < 0 || d > maxRetryAfter {
			t.Fatalf("parseRetryAfter(%q) = %v, outside [0, %v]", v, d, maxRetryAfter)
		}
		if !ok && d != 0 {
			t.Fatalf("parseRetryAfter(%q) = %v, false: a refused value must mean no wait", v, d)
		}
		if strings.HasPrefix(strings.TrimSpace(v), "-") && ok {
			t.Fatalf("parseRetryAfter(%q) accepted a negative value", v)
		}

		// The backoff the wait would otherwise be: within [0, MaxWait].
		if minWait <= 0 || maxWait <= 0 || minWait > maxWait {
			return
		}
		p := RetryPolicy{MinWait: time.Duration(minWait), MaxWait: time.Duration(maxWait)}
		for _, jit := range []func(int64) int64{
			func(n int64) int64 { return 0 },
			func(n int64) int64 { return n - 1 },
		} {
			w := p.backoff(int(n), jit)
			if w < 0 || w > p.MaxWait {
				t.Fatalf("backoff(%d) with MinWait %v, MaxWait %v = %v", n, p.MinWait, p.MaxWait, w)
			}
		}
	})
}

func FuzzSetCookie(f *testing.F) {
	seeds := [][2]string{
		{"session", "abc"}, {"a", "with space"}, {"a", "with,comma"}, {"a", "x;y=z"},
		{"a", "x\r\nSet-Cookie: evil=1"}, {"a", "\"quoted\""}, {"a b", "v"}, {"", "v"},
		{"a", "caf\xc3\xa9"}, {"a", "back\\slash"}, {"a", " lead"}, {"a=b", "c"},
		{"$Version", "1"}, {"a", ""}, {"a", "\x7f"}, {"a", "\t"},
	}
	for _, s := range seeds {
		f.Add(s[0], s[1])
	}
	var sent *http.Request
	rt := &fuzzTransport{check: func(r *http.Request) { sent = r }}
	s, err := NewSession(WithTransport(rt), WithCookieJar(nil), WithBaseURL("http://127.0.0.1:1"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = s.Close() })
	f.Fuzz(func(t *testing.T, name, value string) {
		sent = nil
		s.SetCookie(name, value)
		resp, err := s.Get(context.Background(), "/")
		s.SetCookie(name, "") // delete it again for the next input
		if err != nil {
			if !errors.Is(err, ErrInvalidHeader) {
				t.Fatalf("SetCookie(%q, %q): %v does not match ErrInvalidHeader", name, value, err)
			}
			if sent != nil {
				t.Fatalf("SetCookie(%q, %q): a refused cookie reached the transport", name, value)
			}
			if validateCookie("SetCookie", name, value) == nil {
				t.Fatalf("SetCookie(%q, %q): refused at send time but not by validateCookie", name, value)
			}
			return
		}
		_ = resp.Close()
		checkSentHeader(t, sent)
		if value == "" {
			if len(sent.Cookies()) != 0 {
				t.Fatalf("SetCookie(%q, \"\") sent %q", name, sent.Header.Get("Cookie"))
			}
			return
		}
		// What a server parses is exactly what was set: nothing dropped,
		// nothing added, no second cookie smuggled in.
		cs := sent.Cookies()
		if len(cs) != 1 || cs[0].Name != name || cs[0].Value != value {
			got := make([]string, len(cs))
			for i, c := range cs {
				got[i] = c.Name + "=" + c.Value
			}
			t.Fatalf("SetCookie(%q, %q): header %q parses as %q", name, value, sent.Header.Get("Cookie"), got)
		}
	})
}

func FuzzRedactURL(f *testing.F) {
	seeds := [][3]string{
		{"user", "hunter2", "/x"}, {"u", "p@ss:w/rd?#", "/a b"}, {"", "secret", ""},
		{"u%", "%zz", "/%"}, {"u", "tok", "/tok"}, {"user", "pw", "?"},
	}
	for _, s := range seeds {
		f.Add(s[0], s[1], s[2], "token")
	}
	f.Fuzz(func(t *testing.T, user, pass, path, key string) {
		if len(pass) < 4 || !redact.IsSecretName(key) {
			return
		}
		u := &url.URL{Scheme: "http", User: url.UserPassword(user, pass), Host: "127.0.0.1:1", Path: path,
			RawQuery: url.QueryEscape(key) + "=" + url.QueryEscape(pass) + "&page=1"}
		// What the URL shows without the secrets: if the password is
		// written there anyway (in the path, the user name ...), finding
		// it in the output says nothing.
		bare := *u
		bare.User = url.User(user)
		bare.RawQuery = url.QueryEscape(key) + "=&page=1"
		forms := []string{pass, url.QueryEscape(pass), url.PathEscape(pass), (&url.URL{User: url.UserPassword("", pass)}).String()[3:]}
		for _, form := range forms {
			if len(form) < 4 || strings.Contains(bare.String(), form) || strings.Contains(form, "xxxxx") {
				return
			}
		}
		for _, got := range []string{RedactURL(u.String()), redactURL(u)} {
			for _, form := range forms {
				if strings.Contains(got, form) {
					t.Fatalf("redacted %q to %q, which still holds %q", u.String(), got, form)
				}
			}
		}
	})
}

// FuzzResolvePath: a template resolved and then filled (as the resolve
// cache keys it) is the URL that filling it first and resolving gives.
func FuzzResolvePath(f *testing.F) {
	f.Add("users/{id}", "id", "7")
	f.Add("a/{x}/../{x}", "x", "..")
	f.Add("/{n}?q={n}#{n}", "n", "a/b")
	f.Add("http://127.0.0.1/{p}.json", "p", "%zz")
	f.Add("{a b}", "a b", "\x00")
	s, err := NewSession(WithBaseURL("https://api.example.com/v1/"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = s.Close() })
	f.Fuzz(func(t *testing.T, raw, name, value string) {
		params := []string{name, value}
		if PathParam(name, value)(&requestConfig{}) != nil {
			return // refused as an option
		}
		filled, ferr := fillPath(raw, params)
		got, err := s.resolvePath(raw, params)
		if ferr != nil {
			if err == nil {
				t.Fatalf("resolvePath(%q) = %q, but filling fails: %v", raw, got, ferr)
			}
			return
		}
		want, werr := s.resolveURL(filled)
		if (err == nil) != (werr == nil) {
			t.Fatalf("resolvePath(%q, %q=%q): %v; resolving %q: %v", raw, name, value, err, filled, werr)
		}
		if err == nil && got.String() != want.String() {
			t.Fatalf("resolvePath(%q, %q=%q) = %q, want %q", raw, name, value, got, want)
		}
	})
}
