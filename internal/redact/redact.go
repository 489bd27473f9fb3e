// Package redact decides what is a secret in a URL or a header, and
// rewrites URLs and queries with their secrets replaced. It is the one
// list of secret names shared by reqivo's errors and logs and by
// reqivotest's cassettes; each caller chooses what a secret becomes.
package redact

import (
	"net/http"
	"net/url"
	"strings"
)

// Userinfo is what a URL's userinfo becomes, user name included (a user
// name alone is often a token: https://<token>@host/), as OpenTelemetry's
// semantic conventions write it.
const Userinfo = "REDACTED:REDACTED"

// words name query keys, form and JSON fields and headers whose values are
// secrets: a name containing any of them, in any case.
var words = []string{"token", "key", "secret", "passw", "pwd", "signature", "auth", "credential", "session"}

// Words returns the words that make a name secret (see IsSecretName).
func Words() []string { return append([]string(nil), words...) }

// IsSecretName reports whether name (a query key, a form or JSON field, a
// header name) holds a secret: it contains one of Words in any case, or is
// "sig". The names OpenTelemetry lists for url.full (AWSAccessKeyId,
// Signature, sig, X-Goog-Signature) are all secret by this rule.
func IsSecretName(name string) bool {
	for _, w := range words {
		if containsFold(name, w) {
			return true
		}
	}
	return strings.EqualFold(name, "sig")
}

// containsFold reports whether s contains the lower-case ASCII word w, in
// any case, without allocating.
func containsFold(s, w string) bool {
	for i := 0; i+len(w) <= len(s); i++ {
		j := 0
		for ; j < len(w); j++ {
			c := s[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != w[j] {
				break
			}
		}
		if j == len(w) {
			return true
		}
	}
	return false
}

// credentialHeaders are credentials whatever their name says.
var credentialHeaders = map[string]bool{
	"Authorization":       true,
	"Proxy-Authorization": true,
	"Cookie":              true,
	"Set-Cookie":          true,
}

// IsSecretHeader reports whether the values of the header named key are
// secrets: a credential header (Authorization, Proxy-Authorization,
// Cookie, Set-Cookie) or a secret name (X-Api-Key, X-Auth-Token,
// X-Session-Id ...).
func IsSecretHeader(key string) bool {
	return credentialHeaders[http.CanonicalHeaderKey(key)] || IsSecretName(key)
}

// IsURLHeader reports whether the header named key carries a URL, to be
// redacted as one.
func IsURLHeader(key string) bool {
	switch http.CanonicalHeaderKey(key) {
	case "Location", "Referer", "Content-Location":
		return true
	}
	return false
}

// Query returns the raw query (or fragment) q with the value of each pair
// whose key is a secret name replaced by with(value), value decoded; the
// order and encoding of the other pairs are kept. with's result is written
// escaped. q itself is returned, with nothing allocated, when no key is
// secret.
func Query(q string, with func(value string) string) string {
	var b strings.Builder // used from the first secret pair on
	done := 0             // q[:done] is in b
	for start := 0; start <= len(q); {
		end := strings.IndexByte(q[start:], '&')
		if end < 0 {
			end = len(q)
		} else {
			end += start
		}
		k, v, hasValue := strings.Cut(q[start:end], "=")
		if hasValue && isSecretKey(k) {
			dv, err := url.QueryUnescape(v)
			if err != nil {
				dv = v
			}
			b.WriteString(q[done:start])
			b.WriteString(k)
			b.WriteByte('=')
			b.WriteString(url.QueryEscape(with(dv)))
			done = end
		}
		start = end + 1
	}
	if done == 0 {
		return q
	}
	b.WriteString(q[done:])
	return b.String()
}

// isSecretKey reports whether the raw (escaped) query key k is a secret
// name once decoded.
func isSecretKey(k string) bool {
	if !strings.ContainsAny(k, "%+") {
		return IsSecretName(k)
	}
	dk, err := url.QueryUnescape(k)
	if err != nil {
		dk = k
	}
	return IsSecretName(dk)
}

// Constant returns a replacement for Query that writes s for every secret.
func Constant(s string) func(string) string { return func(string) string { return s } }

// URL returns a copy of u with its userinfo replaced by Userinfo, the
// values of secret query keys by with(value), and the fragment dropped
// (it is never sent, and the OAuth implicit flow puts a token there:
// #access_token=...).
func URL(u *url.URL, with func(string) string) url.URL {
	c := *u
	c.Fragment, c.RawFragment = "", ""
	if c.User != nil {
		c.User = url.UserPassword("REDACTED", "REDACTED")
	}
	c.RawQuery = Query(c.RawQuery, with)
	return c
}

// Fragment returns the fragment of u redacted as a query is: the values
// of secret keys (#access_token=...) replaced by with(value), the rest
// kept, for those that keep a fragment (a Location the code under test
// reads). It returns u's escaped fragment as it is when it has none.
func Fragment(u *url.URL, with func(string) string) string {
	f := u.EscapedFragment()
	if f == "" {
		return f
	}
	return Query(f, with)
}
