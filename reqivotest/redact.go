// Redaction: what a cassette replaces before anything is written, with
// placeholders that stay the same for the same secret in a file, so that a
// replayed session still works.

package reqivotest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/reqivo/reqivo/internal/redact"
)

// redacted is what a secret-looking query, form or JSON value becomes: a
// constant, so that a live request with another secret still matches.
const redacted = "REDACTED"

// minSecretLen is the shortest secret replaced wherever it appears; a
// shorter one is replaced only where it was found.
const minSecretLen = 4

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
			case plainRequestHeaders[ck] && !redact.IsURLHeader(ck):
			case redact.IsURLHeader(ck):
				v = r.url(v)
			case redact.IsSecretHeader(ck):
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
			case redact.IsURLHeader(ck):
				v = r.url(v)
			case redact.IsSecretHeader(ck):
				v = r.secret(v)
			}
			out[ck] = append(out[ck], v)
		}
	}
	return out
}

// learnURL registers the secrets of u: its password, its user name when
// it comes alone (https://<token>@host/ is a token), and the values of
// secret query keys and fragment fields (#access_token=...).
func (r *redactor) learnURL(u *url.URL) {
	redactURL(u, r.secret)
}

// url returns the URL v with its secrets (see learnURL) registered and
// replaced by their placeholders, its userinfo by REDACTED:REDACTED; a
// value that does not parse is a secret whole.
func (r *redactor) url(v string) string {
	u, err := url.Parse(v)
	if err != nil {
		return r.secret(v)
	}
	return redactURL(u, r.secret)
}

// learnBody registers the values of secret-looking form or JSON fields.
func (r *redactor) learnBody(contentType string, body []byte) {
	walkSecrets(contentType, body, func(v string) { r.secret(v) })
}

// canonicalBody is the form of a request body that is written and
// digested: a form's, a multipart form's or a JSON document's
// secret-looking values become REDACTED (and a form's keys are sorted, a
// multipart form written with one boundary, a JSON document compacted with
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
			if redact.IsSecretName(k) {
				for i := range vs {
					vs[i] = redacted
				}
			}
		}
		return []byte(q.Encode())
	case "multipart/form-data":
		return multipartFields(contentType, body, nil)
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

// canonicalBoundary is the boundary a multipart body is written with, so
// that the same fields digest alike whatever boundary the session drew.
const canonicalBoundary = "reqivotest-boundary"

// multipartFields returns a multipart/form-data body written again with
// canonicalBoundary and the content of each part whose field name looks
// secret (a file's too: a key file is a secret) replaced by REDACTED,
// calling seen (when not nil) with each content it replaces. A body that
// does not parse is returned as it is.
func multipartFields(contentType string, body []byte, seen func(string)) []byte {
	_, params, err := mime.ParseMediaType(contentType)
	if err != nil || params["boundary"] == "" {
		return body
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	var out bytes.Buffer
	mw := multipart.NewWriter(&out)
	if err := mw.SetBoundary(canonicalBoundary); err != nil {
		return body
	}
	for {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return body
		}
		content, err := io.ReadAll(p)
		if err != nil {
			return body
		}
		if redact.IsSecretName(p.FormName()) {
			if seen != nil {
				seen(string(content))
			}
			content = []byte(redacted)
		}
		w, err := mw.CreatePart(p.Header)
		if err != nil {
			return body
		}
		_, _ = w.Write(content)
	}
	if err := mw.Close(); err != nil {
		return body
	}
	return out.Bytes()
}

// walkSecrets calls f with each value of a secret-looking field of a form
// or JSON body.
func walkSecrets(contentType string, body []byte, f func(string)) {
	if len(body) == 0 {
		return
	}
	if mediaType(contentType) == "multipart/form-data" {
		multipartFields(contentType, body, f)
		return
	}
	if mediaType(contentType) == "application/x-www-form-urlencoded" {
		q, err := url.ParseQuery(string(body))
		if err != nil {
			return
		}
		for _, k := range slices.Sorted(maps.Keys(q)) {
			if redact.IsSecretName(k) {
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
		if key != "" && redact.IsSecretName(key) {
			if seen != nil {
				seen(t)
			}
			return redacted
		}
	case json.Number:
		if key != "" && redact.IsSecretName(key) {
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

// redactURL returns u with its userinfo replaced by REDACTED:REDACTED
// and the values of secret query keys and fragment fields by with(value),
// the order and encoding of the rest kept. with sees the password, or the
// user name when it comes alone, first.
func redactURL(u *url.URL, with func(string) string) string {
	if u.User != nil {
		if p, ok := u.User.Password(); ok {
			with(p)
		} else if name := u.User.Username(); name != "" {
			with(name)
		}
	}
	c := redact.URL(u, with)
	s := c.String()
	if f := redact.Fragment(u, with); f != "" {
		s += "#" + f
	}
	return s
}

// redactRawURL is redactURL with every secret written REDACTED, as the
// request line of an entry is (it is matched on); a URL that does not
// parse is written as "<unparsable URL>".
func redactRawURL(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "<unparsable URL>"
	}
	return redactURL(u, redact.Constant(redacted))
}
