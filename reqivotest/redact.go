// Redaction: what a cassette replaces before anything is written, with
// placeholders that stay the same for the same secret in a file, so that a
// replayed session still works.

package reqivotest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// redacted is what a secret-looking query, form or JSON value becomes: a
// constant, so that a live request with another secret still matches.
const redacted = "REDACTED"

// minSecretLen is the shortest secret replaced wherever it appears; a
// shorter one is replaced only where it was found.
const minSecretLen = 4

// secretWords name query keys, form and JSON fields and headers whose
// values are secrets: a name containing any of them, in any case. They are
// the words reqivo.RedactURL uses for query keys.
var secretWords = []string{"token", "key", "secret", "passw", "pwd", "signature", "auth", "credential", "session"}

func isSecretName(name string) bool {
	n := strings.ToLower(name)
	for _, w := range secretWords {
		if strings.Contains(n, w) {
			return true
		}
	}
	return n == "sig"
}

// secretHeaders are always credentials, whatever their name says.
var secretHeaders = map[string]bool{
	"Authorization":       true,
	"Proxy-Authorization": true,
	"Cookie":              true,
	"Set-Cookie":          true,
	"X-Api-Key":           true,
	"X-Auth-Token":        true,
}

// challengeHeaders name "auth" but carry no secret.
var challengeHeaders = map[string]bool{"Www-Authenticate": true, "Proxy-Authenticate": true}

// plainRequestHeaders are written as they are; every other request header
// has its value replaced (it is not matched on, so nothing is lost).
var plainRequestHeaders = map[string]bool{
	"Accept": true, "Accept-Charset": true, "Accept-Encoding": true, "Accept-Language": true,
	"Cache-Control": true, "Connection": true, "Content-Encoding": true, "Content-Language": true,
	"Content-Length": true, "Content-Type": true, "Expect": true, "Idempotency-Key": true,
	"If-Match": true, "If-Modified-Since": true, "If-None-Match": true, "If-Range": true,
	"If-Unmodified-Since": true, "Origin": true, "Pragma": true, "Range": true, "Referer": true,
	"Te": true, "Traceparent": true, "Upgrade": true, "User-Agent": true,
}

// redactor replaces secrets with numbered placeholders: the same secret
// gets the same one everywhere in a file.
type redactor struct {
	placeholder map[string]string // secret -> "REDACTED-n"
	order       []string          // secrets, first seen first
}

func newRedactor() *redactor { return &redactor{placeholder: map[string]string{}} }

// secret registers s and returns its placeholder.
func (r *redactor) secret(s string) string {
	if p, ok := r.placeholder[s]; ok {
		return p
	}
	p := fmt.Sprintf("%s-%d", redacted, len(r.order)+1)
	r.placeholder[s] = p
	r.order = append(r.order, s)
	return p
}

// replaceAll replaces every registered secret (of minSecretLen or more)
// in b, longest first, in its plain and URL-escaped forms.
func (r *redactor) replaceAll(b []byte) []byte {
	secrets := slices.Clone(r.order)
	slices.SortStableFunc(secrets, func(a, b string) int { return len(b) - len(a) })
	for _, s := range secrets {
		if len(s) < minSecretLen {
			continue
		}
		p := []byte(r.placeholder[s])
		for _, form := range []string{s, url.QueryEscape(s), url.PathEscape(s)} {
			b = bytes.ReplaceAll(b, []byte(form), p)
		}
	}
	return b
}

func (r *redactor) replaceString(s string) string { return string(r.replaceAll([]byte(s))) }

// credential registers the parts of an Authorization value and returns it
// with its scheme kept and its credentials replaced.
func (r *redactor) credential(v string) string {
	scheme, cred, ok := strings.Cut(v, " ")
	if !ok || strings.ContainsAny(scheme, "=,") {
		return r.secret(v)
	}
	cred = strings.TrimSpace(cred)
	if strings.EqualFold(scheme, "Basic") {
		if dec, err := base64.StdEncoding.DecodeString(cred); err == nil {
			if _, pass, ok := strings.Cut(string(dec), ":"); ok && pass != "" {
				r.secret(pass)
			}
			r.secret(string(dec))
		}
	}
	return scheme + " " + r.secret(cred)
}

// cookies replaces the value of each cookie in a Cookie header.
func (r *redactor) cookies(v string) string {
	parts := strings.Split(v, ";")
	for i, p := range parts {
		name, val, ok := strings.Cut(strings.TrimSpace(p), "=")
		if !ok {
			parts[i] = r.secret(strings.TrimSpace(p))
			continue
		}
		parts[i] = name + "=" + r.secret(val)
	}
	return strings.Join(parts, "; ")
}

// setCookie replaces the value of a Set-Cookie header, keeping its name
// and attributes, so that a replayed session still gets the cookie.
func (r *redactor) setCookie(v string) string {
	pair, attrs, _ := strings.Cut(v, ";")
	name, val, ok := strings.Cut(pair, "=")
	if !ok {
		return r.secret(v)
	}
	out := strings.TrimSpace(name) + "=" + r.secret(strings.Trim(strings.TrimSpace(val), `"`))
	if attrs != "" {
		out += ";" + attrs
	}
	return out
}

// requestHeader returns h with credentials replaced and every value not
// known to be plain replaced too.
func (r *redactor) requestHeader(h http.Header) http.Header {
	out := make(http.Header, len(h))
	for _, k := range slices.Sorted(maps.Keys(h)) { // placeholders number in a stable order
		vs := h[k]
		ck := http.CanonicalHeaderKey(k)
		for _, v := range vs {
			switch {
			case ck == "Authorization" || ck == "Proxy-Authorization":
				v = r.credential(v)
			case ck == "Cookie":
				v = r.cookies(v)
			case plainRequestHeaders[ck]:
			case secretHeaders[ck] || isSecretName(ck):
				v = r.secret(v)
			default:
				v = redacted // not a known secret: replaced here only
			}
			out[ck] = append(out[ck], v)
		}
	}
	return out
}

// responseHeader returns h with Set-Cookie values and secret-looking
// headers replaced; others are kept, as the code under test reads them.
func (r *redactor) responseHeader(h http.Header) http.Header {
	out := make(http.Header, len(h))
	for _, k := range slices.Sorted(maps.Keys(h)) {
		vs := h[k]
		ck := http.CanonicalHeaderKey(k)
		for _, v := range vs {
			switch {
			case ck == "Set-Cookie":
				v = r.setCookie(v)
			case ck == "Authorization" || ck == "Proxy-Authorization":
				v = r.credential(v)
			case challengeHeaders[ck]:
			case secretHeaders[ck] || isSecretName(ck):
				v = r.secret(v)
			}
			out[ck] = append(out[ck], v)
		}
	}
	return out
}

// learnURL registers the password and secret query values of u.
func (r *redactor) learnURL(u *url.URL) {
	if u.User != nil {
		if p, ok := u.User.Password(); ok {
			r.secret(p)
		}
	}
	q := u.Query()
	for _, k := range slices.Sorted(maps.Keys(q)) {
		if isSecretName(k) {
			for _, v := range q[k] {
				r.secret(v)
			}
		}
	}
}

// learnBody registers the values of secret-looking form or JSON fields.
func (r *redactor) learnBody(contentType string, body []byte) {
	walkSecrets(contentType, body, func(v string) { r.secret(v) })
}

// canonicalBody is the form of a request body that is written and
// digested: a form's or a JSON document's secret-looking values become
// REDACTED (and a form's keys are sorted, a JSON document compacted with
// sorted keys); any other body is kept as it is.
func canonicalBody(contentType string, body []byte) []byte {
	if len(body) == 0 {
		return body
	}
	switch mediaType(contentType) {
	case "application/x-www-form-urlencoded":
		q, err := url.ParseQuery(string(body))
		if err != nil {
			return body
		}
		for k, vs := range q {
			if isSecretName(k) {
				for i := range vs {
					vs[i] = redacted
				}
			}
		}
		return []byte(q.Encode())
	}
	if isJSON(contentType) {
		v, err := decodeJSON(body)
		if err != nil {
			return body
		}
		b, err := json.Marshal(redactJSON(v, "", nil))
		if err != nil {
			return body
		}
		return b
	}
	return body
}

// walkSecrets calls f with each value of a secret-looking field of a form
// or JSON body.
func walkSecrets(contentType string, body []byte, f func(string)) {
	if len(body) == 0 {
		return
	}
	if mediaType(contentType) == "application/x-www-form-urlencoded" {
		q, err := url.ParseQuery(string(body))
		if err != nil {
			return
		}
		for _, k := range slices.Sorted(maps.Keys(q)) {
			if isSecretName(k) {
				for _, v := range q[k] {
					f(v)
				}
			}
		}
		return
	}
	if isJSON(contentType) {
		if v, err := decodeJSON(body); err == nil {
			redactJSON(v, "", f)
		}
	}
}

// redactJSON returns v with the values of secret-looking keys replaced by
// REDACTED, calling seen (when not nil) with each string it replaces.
func redactJSON(v any, key string, seen func(string)) any {
	switch t := v.(type) {
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(t)) {
			t[k] = redactJSON(t[k], k, seen)
		}
		return t
	case []any:
		for i, e := range t {
			t[i] = redactJSON(e, key, seen)
		}
		return t
	case string:
		if key != "" && isSecretName(key) {
			if seen != nil {
				seen(t)
			}
			return redacted
		}
	case json.Number:
		if key != "" && isSecretName(key) {
			if seen != nil {
				seen(t.String())
			}
			return redacted
		}
	}
	return v
}

func decodeJSON(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	if d.More() {
		return nil, fmt.Errorf("trailing data")
	}
	return v, nil
}

func mediaType(contentType string) string {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return ""
	}
	return mt
}

func isJSON(contentType string) bool {
	mt := mediaType(contentType)
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}

// redactURL returns rawURL with its password and the values of
// secret-looking query keys replaced by REDACTED, the query's order and
// encoding kept.
func redactURL(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "<unparsable URL>"
	}
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), redacted)
		}
	}
	if u.RawQuery != "" {
		parts := strings.Split(u.RawQuery, "&")
		for i, p := range parts {
			k, _, hasValue := strings.Cut(p, "=")
			dk, err := url.QueryUnescape(k)
			if err != nil {
				dk = k
			}
			if hasValue && isSecretName(dk) {
				parts[i] = k + "=" + redacted
			}
		}
		u.RawQuery = strings.Join(parts, "&")
	}
	return u.String()
}
