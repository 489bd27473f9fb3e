// Package httpcache holds the pure rules of reqivo's private HTTP cache:
// the RFC 9111 policy (this file) and how entries are keyed (key.go).
//
// Cache policy: the RFC 9111 rules of a private cache as pure functions
// (what may be stored, how fresh a stored response is, when it must be
// validated, what an unsafe method invalidates), with RFC 5861's
// stale-while-revalidate and stale-if-error and RFC 8246's immutable.

package httpcache

import (
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Directives are the Cache-Control directives of a message: names in
// lower case, values unquoted ("" for a directive without a value). A
// directive given twice with different values maps to dupDirective.
type Directives map[string]string

// dupDirective marks a directive whose occurrences disagree; RFC 9111
// 4.2.1 lets a cache consider such a response stale.
const dupDirective = "\x00dup"

// ParseDirectives reads every Cache-Control line of h.
func ParseDirectives(h http.Header) Directives {
	lines := h["Cache-Control"]
	if len(lines) == 0 {
		return nil
	}
	d := Directives{}
	for _, line := range lines {
		for line != "" {
			var part string
			part, line = nextDirective(line)
			name, value, _ := strings.Cut(part, "=")
			name = strings.ToLower(strings.TrimSpace(name))
			if name == "" {
				continue
			}
			value = strings.TrimSpace(value)
			if len(value) >= 2 && value[0] == '"' && value[len(value)-1] == '"' {
				value = strings.ReplaceAll(value[1:len(value)-1], `\`, "")
			}
			if old, ok := d[name]; ok && old != value {
				value = dupDirective
			}
			d[name] = value
		}
	}
	return d
}

// nextDirective splits s at the first comma outside a quoted string.
func nextDirective(s string) (part, rest string) {
	quoted := false
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if quoted {
				i++
			}
		case '"':
			quoted = !quoted
		case ',':
			if !quoted {
				return s[:i], s[i+1:]
			}
		}
	}
	return s, ""
}

// Has reports whether the directive name is present.
func (d Directives) Has(name string) bool {
	_, ok := d[name]
	return ok
}

// Seconds returns a delta-seconds directive. ok is false when it is
// absent; valid is false when it is present but not a number, or given
// twice with different values (such a value makes a response stale).
func (d Directives) Seconds(name string) (v time.Duration, ok, valid bool) {
	s, ok := d[name]
	if !ok {
		return 0, false, false
	}
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return 0, true, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n > math.MaxInt32 {
		n = math.MaxInt32 // RFC 9111 1.2.2: overflow means 2^31
	}
	return time.Duration(n) * time.Second, true, true
}

// heuristicStatus reports whether RFC 9110 15.1 lets a cache use heuristic
// freshness for status.
func heuristicStatus(status int) bool {
	switch status {
	case 200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501:
		return true
	}
	return false
}

// understoodStatus reports whether this cache may store a response with
// status: final statuses other than 206 (ranges are not cached) and 304.
func understoodStatus(status int) bool {
	return status >= 200 && status != http.StatusPartialContent && status != http.StatusNotModified && status < 600
}

// Storable reports whether a response to a request with header reqHdr may
// be stored by a private cache (RFC 9111 3).
func Storable(method string, reqHdr http.Header, status int, respHdr http.Header) bool {
	if method != http.MethodGet && method != http.MethodHead {
		return false
	}
	if !understoodStatus(status) {
		return false
	}
	if _, ok := reqHdr["Range"]; ok {
		return false
	}
	if ParseDirectives(reqHdr).Has("no-store") {
		return false
	}
	cc := ParseDirectives(respHdr)
	if cc.Has("no-store") {
		return false
	}
	if slices.Contains(VaryNames(respHdr), "*") {
		return false // never served, so not worth storing
	}
	// Something must make it reusable: explicit freshness, a heuristic,
	// or a validator to revalidate it with.
	if cc.Has("max-age") || cc.Has("public") || cc.Has("no-cache") || len(respHdr["Expires"]) > 0 {
		return true
	}
	if heuristicStatus(status) {
		return true
	}
	return false
}

// Stored is what the policy needs of a stored response.
type Stored struct {
	Status   int
	Header   http.Header
	CC       Directives // the Cache-Control Directives of Header (ParseDirectives)
	Date     time.Time  // the Date of the response (see ResponseDate)
	ReqTime  time.Time  // when the request that got it was sent
	RespTime time.Time  // when it came back
}

// NewStored returns the Stored of a response, its directives and date
// parsed.
func NewStored(status int, header http.Header, reqTime, respTime time.Time) Stored {
	return Stored{Status: status, Header: header, CC: ParseDirectives(header),
		Date: ResponseDate(header, respTime), ReqTime: reqTime, RespTime: respTime}
}

// Lifetime returns the freshness lifetime (RFC 9111 4.2.1) and whether it
// is a heuristic. A private cache ignores s-maxage.
func (m *Stored) Lifetime() (time.Duration, bool) {
	cc := m.CC
	if v, ok, valid := cc.Seconds("max-age"); ok {
		if !valid {
			return 0, false
		}
		return v, false
	}
	if exp := m.Header["Expires"]; len(exp) > 0 {
		if len(exp) > 1 {
			return 0, false
		}
		t, ok := ParseHTTPDate(exp[0])
		if !ok {
			return 0, false // an invalid Expires is in the past
		}
		return max(t.Sub(m.Date), 0), false
	}
	lm := m.Header.Get("Last-Modified")
	if lm == "" || !(heuristicStatus(m.Status) || cc.Has("public")) {
		return 0, false
	}
	t, ok := ParseHTTPDate(lm)
	if !ok {
		return 0, false
	}
	if age := m.Date.Sub(t); age > 0 {
		return age / 10, true
	}
	return 0, true
}

// ResponseDate is the Date of a response, or when it came back
// (respTime) when it has none or an invalid one.
func ResponseDate(h http.Header, respTime time.Time) time.Time {
	if d := h.Get("Date"); d != "" {
		if t, ok := ParseHTTPDate(d); ok {
			return t
		}
	}
	return respTime
}

// Age returns the current age at now (RFC 9111 4.2.3).
func (m *Stored) Age(now time.Time) time.Duration {
	apparent := max(m.RespTime.Sub(m.Date), 0)
	ageValue := ParseAge(m.Header.Get("Age"))
	corrected := ageValue + max(m.RespTime.Sub(m.ReqTime), 0)
	return max(apparent, corrected) + max(now.Sub(m.RespTime), 0)
}

// ParseAge reads an Age value: its first member (a list does not hide an
// old age) when it is all digits; anything else is invalid and counts as
// 0.
func ParseAge(v string) time.Duration {
	v, _, _ = strings.Cut(v, ",")
	v = strings.TrimSpace(v)
	if v == "" || strings.TrimLeft(v, "0123456789") != "" {
		return 0
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n > math.MaxInt32 {
		n = math.MaxInt32
	}
	return time.Duration(n) * time.Second
}

// ParseHTTPDate parses an HTTP date (RFC 9110 5.6.7) as http.ParseTime
// does, but refuses what that also takes and the grammar does not: a
// one-digit hour, and doubled spaces (bar the one before asctime's
// one-digit day).
func ParseHTTPDate(v string) (time.Time, bool) {
	t, err := http.ParseTime(v)
	if err != nil {
		return time.Time{}, false
	}
	i := strings.IndexByte(v, ':')
	if i < 2 || v[i-1] < '0' || v[i-1] > '9' || v[i-2] < '0' || v[i-2] > '9' {
		return time.Time{}, false
	}
	if j := strings.Index(v, "  "); j >= 0 && (strings.Contains(v, ",") || j != 7 || strings.LastIndex(v, "  ") != 7) {
		return time.Time{}, false
	}
	return t, true
}

// Use is what a cache does with a stored response for a request.
type Use int

const (
	UseFresh    Use = iota // serve it: it is fresh enough for the request
	UseStale               // serve it stale: the request's max-stale allows it
	UseStaleSWR            // serve it stale and revalidate in the background
	UseValidate            // ask the origin, conditionally when it has validators
)

// Decision is the policy's verdict on a stored response.
type Decision struct {
	Use          Use
	Age          time.Duration
	Lifetime     time.Duration // the stored response's freshness lifetime (see Stored.Lifetime)
	StaleIfError bool          // on an error or a 5xx, the stored response may be served
}

// Decide applies the request's and the stored response's directives at
// now (RFC 9111 4.2, 5.2; RFC 5861; RFC 8246).
func Decide(reqHdr http.Header, m *Stored, now time.Time) Decision {
	req := ParseDirectives(reqHdr)
	resp := m.CC
	life, _ := m.Lifetime()
	age := m.Age(now)
	d := Decision{Use: UseValidate, Age: age, Lifetime: life}
	staleness := age - life // > 0: stale by that much; <= 0: fresh

	if sie, ok, valid := resp.Seconds("stale-if-error"); ok && valid && staleness <= sie {
		d.StaleIfError = true
	}
	if sie, ok, valid := req.Seconds("stale-if-error"); ok && valid && staleness <= sie {
		d.StaleIfError = true
	}
	// must-revalidate (and no-cache) forbid serving stale, errors included
	// (RFC 9111 5.2.2.2); proxy-revalidate binds shared caches only.
	mustRevalidate := resp.Has("must-revalidate")
	if mustRevalidate || resp.Has("no-cache") {
		d.StaleIfError = false
	}

	// Conditions that always send the request on.
	if resp.Has("no-cache") || req.Has("no-cache") {
		return d
	}
	if len(reqHdr["Cache-Control"]) == 0 && hasToken(reqHdr["Pragma"], "no-cache") {
		return d
	}
	if slices.Contains(VaryNames(m.Header), "*") {
		return d
	}

	fresh := staleness < 0
	if fresh && resp.Has("immutable") {
		// RFC 8246: no revalidation while fresh, whatever max-age the
		// request asks for (a reload); only no-cache (above) forces it.
		d.Use = UseFresh
		return d
	}
	if v, ok, valid := req.Seconds("max-age"); ok && (!valid || age > v) {
		return d
	}
	if v, ok, valid := req.Seconds("min-fresh"); ok && (!valid || life-age < v) {
		return d
	}
	if fresh {
		d.Use = UseFresh
		return d
	}
	if mustRevalidate {
		return d
	}
	if ms, ok := req["max-stale"]; ok {
		if ms == "" {
			d.Use = UseStale
			return d
		}
		if v, _, valid := req.Seconds("max-stale"); valid && staleness <= v {
			d.Use = UseStale
			return d
		}
	}
	if swr, ok, valid := resp.Seconds("stale-while-revalidate"); ok && valid && staleness <= swr {
		d.Use = UseStaleSWR
	}
	return d
}

func hasToken(lines []string, token string) bool {
	for _, l := range lines {
		for part := range strings.SplitSeq(l, ",") {
			if strings.EqualFold(strings.TrimSpace(part), token) {
				return true
			}
		}
	}
	return false
}

// VaryNames returns the canonical field names of the Vary header, sorted
// and without duplicates; "*" stands for itself.
func VaryNames(h http.Header) []string {
	lines := h["Vary"]
	if len(lines) == 0 {
		return nil
	}
	var names []string
	for _, l := range lines {
		for part := range strings.SplitSeq(l, ",") {
			if n := strings.TrimSpace(part); n != "" {
				if n != "*" {
					n = http.CanonicalHeaderKey(n)
				}
				names = append(names, n)
			}
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// VaryKey is the part of a variant's key that the request's values of
// the Vary fields make (RFC 9111 4.1): values joined and with spaces
// around commas normalised, so equivalent requests match.
func VaryKey(names []string, reqHdr http.Header) string {
	var b strings.Builder
	for _, n := range names {
		b.WriteString(n)
		b.WriteByte(':')
		vs := reqHdr[n]
		for i, v := range vs {
			if i > 0 {
				b.WriteByte(',')
			}
			for j, part := range strings.Split(v, ",") {
				if j > 0 {
					b.WriteByte(',')
				}
				b.WriteString(strings.TrimSpace(part))
			}
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// Validators returns the fields that make a request conditional on a
// stored response, so the origin can answer 304 (RFC 9111 4.3.1):
// If-None-Match from its ETag and If-Modified-Since from its
// Last-Modified, "" for each it lacks.
func Validators(stored http.Header) (ifNoneMatch, ifModifiedSince string) {
	return stored.Get("ETag"), stored.Get("Last-Modified")
}

// HasConditional reports whether the caller made the request conditional
// itself: then the origin's answer, a 304 included, goes to the caller.
func HasConditional(h http.Header) bool {
	for _, k := range [...]string{"If-None-Match", "If-Modified-Since", "If-Match", "If-Unmodified-Since", "If-Range"} {
		if _, ok := h[k]; ok {
			return true
		}
	}
	return false
}

// unstoredFields are the fields never kept in a stored response (RFC 9111
// 3.1, plus Set-Cookie: a hit must not set cookies again).
var unstoredFields = map[string]bool{
	"Connection": true, "Keep-Alive": true, "Proxy-Connection": true, "Te": true,
	"Transfer-Encoding": true, "Upgrade": true, "Set-Cookie": true, "Cache-Status": true,
}

// Unstored reports whether the field name (canonical) is never kept in a
// stored response.
func Unstored(name string) bool { return unstoredFields[name] }

// ConnectionFields returns the fields the Connection header names
// (canonical): hop-by-hop, never stored.
func ConnectionFields(h http.Header) map[string]bool {
	var m map[string]bool
	for _, l := range h["Connection"] {
		for part := range strings.SplitSeq(l, ",") {
			if n := strings.TrimSpace(part); n != "" {
				if m == nil {
					m = map[string]bool{}
				}
				m[http.CanonicalHeaderKey(n)] = true
			}
		}
	}
	return m
}

// Updated returns the fields of a stored response updated by a 304 (RFC
// 9111 3.2, 4.3.4): every field of the 304 replaces the stored one, except
// Content-Length and the fields never stored. The result is a new Header
// whose values share one allocation; stored and notModified are left as
// they are. withSpare asks for spare too: an empty slice with room for as
// many values and two more, in the same allocation (for a copy of h that
// a caller makes), which h's values never reach.
func Updated(stored, notModified http.Header, withSpare bool) (h http.Header, spare []string) {
	conn := ConnectionFields(notModified)
	replaces := func(k string) bool { return !unstoredFields[k] && !conn[k] && k != "Content-Length" }
	fields, values := len(stored), 0
	for _, vs := range stored {
		values += len(vs)
	}
	for k, vs := range notModified {
		if replaces(k) {
			fields++
			values += len(vs)
		}
	}
	h = make(http.Header, fields)
	var all []string
	if withSpare {
		all = make([]string, 0, 2*values+2)
		all, spare = all[:0:values], all[values:values]
	} else {
		all = make([]string, 0, values)
	}
	add := func(k string, vs []string) {
		n := len(all)
		all = append(all, vs...)
		h[k] = all[n:len(all):len(all)]
	}
	for k, vs := range stored {
		if _, ok := notModified[k]; !ok || !replaces(k) {
			add(k, vs)
		}
	}
	for k, vs := range notModified {
		if replaces(k) {
			add(k, vs)
		}
	}
	return h, spare
}

// NotModifiedMatches reports whether a 304 may update the stored response
// (RFC 9111 4.3.4): its strong ETag matches the stored one's, or neither
// carries one.
func NotModifiedMatches(stored, notModified http.Header) bool {
	got := notModified.Get("ETag")
	if got == "" {
		return true
	}
	want := stored.Get("ETag")
	return want == "" || strings.TrimPrefix(got, "W/") == strings.TrimPrefix(want, "W/")
}

// SafeMethod reports whether method is safe (RFC 9110 9.2.1).
func SafeMethod(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return false
}

// Invalidated returns the URIs an unsafe request with a non-error
// response invalidates (RFC 9111 4.4): its target, and the Location and
// Content-Location of the response when they are of the same origin
// (as sameOrigin tells).
func Invalidated(method string, target *url.URL, status int, respHdr http.Header, sameOrigin func(a, b *url.URL) bool) []*url.URL {
	if SafeMethod(method) || status < 200 || status >= 400 {
		return nil
	}
	out := []*url.URL{target}
	for _, f := range [...]string{"Location", "Content-Location"} {
		v := respHdr.Get(f)
		if v == "" {
			continue
		}
		u, err := target.Parse(v)
		if err != nil || !sameOrigin(u, target) {
			continue
		}
		out = append(out, u)
	}
	return out
}
