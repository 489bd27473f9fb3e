// Redaction: what URLs and headers look like in errors and logs, with
// userinfo, secret query values and fragments kept out (the rules are
// internal/redact's, shared with reqivotest's cassettes).

package reqivo

import (
	"log/slog"
	"net/http"
	"net/url"
	"slices"

	"github.com/reqivo/reqivo/internal/redact"
)

// redactURL returns u as a string with its userinfo replaced by
// REDACTED:REDACTED, the values of secret query keys by "xxxxx", and no
// fragment.
func redactURL(u *url.URL) string {
	if u == nil {
		return ""
	}
	c := redact.URL(u, constRedacted)
	return c.String()
}

// RedactURL returns rawURL with its userinfo (user name and password)
// replaced by REDACTED:REDACTED, as OpenTelemetry writes it, the values of
// query keys that look secret (token, key, secret, password, signature,
// auth ...) replaced by "xxxxx", and its fragment dropped, as in the URLs
// errors and logs carry. A URL that does not parse is returned as
// "<unparsable URL>", so that nothing leaks.
func RedactURL(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "<unparsable URL>"
	}
	return redactURL(u)
}

// redactQuery keeps the order and encoding of q, replacing secret values.
func redactQuery(q string) string { return redact.Query(q, constRedacted) }

// constRedacted writes every secret as redacted.
var constRedacted = redact.Constant(redacted)

// Headers is a read-only view of a request's or response's header in
// which the values of Authorization, Proxy-Authorization, Cookie,
// Set-Cookie, the headers named by WithSensitiveHeaders and others that
// look secret read as "xxxxx", and URLs in Location, Referer and
// Content-Location are redacted as by RedactURL. It is a slog.LogValuer,
// so nothing is built unless a handler writes the record. The zero
// Headers is empty.
type Headers struct {
	h         http.Header
	sensitive map[string]bool
}

// Keys returns the header's names, canonical and sorted.
func (r Headers) Keys() []string {
	keys := make([]string, 0, len(r.h))
	for k := range r.h {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Get returns the values of key joined with ", ", redacted; "" when the
// header is absent.
func (r Headers) Get(key string) string {
	k := http.CanonicalHeaderKey(key)
	vs := r.h[k]
	if vs == nil {
		vs = r.h[key]
	}
	return r.value(k, vs)
}

func (r Headers) value(k string, vs []string) string {
	var v string
	switch {
	case len(vs) == 0:
	case secretHeader(k, r.sensitive):
		v = redacted
	case redact.IsURLHeader(k):
		v = RedactURL(vs[0])
		for _, x := range vs[1:] {
			v += ", " + RedactURL(x)
		}
	default:
		v = vs[0]
		for _, x := range vs[1:] {
			v += ", " + x
		}
	}
	return v
}

// LogValue is the header as a group of its names, sorted, each with its
// values redacted and joined with ", ".
func (r Headers) LogValue() slog.Value {
	keys := r.Keys()
	attrs := make([]slog.Attr, 0, len(keys))
	for _, k := range keys {
		attrs = append(attrs, slog.String(k, r.value(k, r.h[k])))
	}
	return slog.GroupValue(attrs...)
}

// secretHeader reports whether the values of header k are kept out of logs.
func secretHeader(k string, sensitive map[string]bool) bool {
	return redact.IsSecretHeader(k) || sensitive[http.CanonicalHeaderKey(k)]
}
