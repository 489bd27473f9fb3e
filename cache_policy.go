// Cache policy: the RFC 9111 rules of a private cache as pure functions
// (what may be stored, how fresh a stored response is, when it must be
// validated, what an unsafe method invalidates), with RFC 5861's
// stale-while-revalidate and stale-if-error and RFC 8246's immutable.

package reqivo

import (
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// directives are the Cache-Control directives of a message: names in
// lower case, values unquoted ("" for a directive without a value). A
// directive given twice with different values maps to dupDirective.
type directives map[string]string

// dupDirective marks a directive whose occurrences disagree; RFC 9111
// 4.2.1 lets a cache consider such a response stale.
const dupDirective = "\x00dup"

// parseDirectives reads every Cache-Control line of h.
func parseDirectives(h http.Header) directives {
	lines := h["Cache-Control"]
	if len(lines) == 0 {
		return nil
	}
	d := directives{}
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

func (d directives) has(name string) bool {
	_, ok := d[name]
	return ok
}

// seconds returns a delta-seconds directive. ok is false when it is
// absent; valid is false when it is present but not a number, or given
// twice with different values (such a value makes a response stale).
func (d directives) seconds(name string) (v time.Duration, ok, valid bool) {
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

// storable reports whether a response to a request with header reqHdr may
// be stored by a private cache (RFC 9111 3).
func storable(method string, reqHdr http.Header, status int, respHdr http.Header) bool {
	if method != http.MethodGet && method != http.MethodHead {
		return false
	}
	if !understoodStatus(status) {
		return false
	}
	if _, ok := reqHdr["Range"]; ok {
		return false
	}
	if parseDirectives(reqHdr).has("no-store") {
		return false
	}
	cc := parseDirectives(respHdr)
	if cc.has("no-store") {
		return false
	}
	if slices.Contains(varyNames(respHdr), "*") {
		return false // never served, so not worth storing
	}
	// Something must make it reusable: explicit freshness, a heuristic,
	// or a validator to revalidate it with.
	if cc.has("max-age") || cc.has("public") || cc.has("no-cache") || len(respHdr["Expires"]) > 0 {
		return true
	}
	if heuristicStatus(status) {
		return true
	}
	return false
}

// storedMeta is what the policy needs of a stored response.
type storedMeta struct {
	status   int
	header   http.Header
	reqTime  time.Time // when the request that got it was sent
	respTime time.Time // when it came back

	// cc caches the directives of header once parsed (ccSet); an entry
	// shared between goroutines has them parsed before it is shared.
	cc    directives
	ccSet bool
	// dateVal caches date() (dateSet), the same way.
	dateVal time.Time
	dateSet bool
}

// directives returns the response's Cache-Control directives.
func (m *storedMeta) directives() directives {
	if !m.ccSet {
		m.cc, m.ccSet = parseDirectives(m.header), true
	}
	return m.cc
}

// lifetime returns the freshness lifetime (RFC 9111 4.2.1) and whether it
// is a heuristic. A private cache ignores s-maxage.
func (m *storedMeta) lifetime() (time.Duration, bool) {
	cc := m.directives()
	if v, ok, valid := cc.seconds("max-age"); ok {
		if !valid {
			return 0, false
		}
		return v, false
	}
	if exp := m.header["Expires"]; len(exp) > 0 {
		if len(exp) > 1 {
			return 0, false
		}
		t, ok := parseHTTPDate(exp[0])
		if !ok {
			return 0, false // an invalid Expires is in the past
		}
		return max(t.Sub(m.date()), 0), false
	}
	lm := m.header.Get("Last-Modified")
	if lm == "" || !(heuristicStatus(m.status) || cc.has("public")) {
		return 0, false
	}
	t, ok := parseHTTPDate(lm)
	if !ok {
		return 0, false
	}
	if age := m.date().Sub(t); age > 0 {
		return age / 10, true
	}
	return 0, true
}

// date is the Date of the response, or when it came back when it has none
// or an invalid one.
func (m *storedMeta) date() time.Time {
	if m.dateSet {
		return m.dateVal
	}
	m.dateVal, m.dateSet = m.respTime, true
	if d := m.header.Get("Date"); d != "" {
		if t, ok := parseHTTPDate(d); ok {
			m.dateVal = t
		}
	}
	return m.dateVal
}

// age returns the current age at now (RFC 9111 4.2.3).
func (m *storedMeta) age(now time.Time) time.Duration {
	apparent := max(m.respTime.Sub(m.date()), 0)
	ageValue := parseAge(m.header.Get("Age"))
	corrected := ageValue + max(m.respTime.Sub(m.reqTime), 0)
	return max(apparent, corrected) + max(now.Sub(m.respTime), 0)
}

// parseAge reads an Age value: its first member (a list does not hide an
// old age) when it is all digits; anything else is invalid and counts as
// 0.
func parseAge(v string) time.Duration {
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

// parseHTTPDate parses an HTTP date (RFC 9110 5.6.7) as http.ParseTime
// does, but refuses what that also takes and the grammar does not: a
// one-digit hour, and doubled spaces (bar the one before asctime's
// one-digit day).
func parseHTTPDate(v string) (time.Time, bool) {
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

// use is what a cache does with a stored response for a request.
type use int

const (
	useFresh    use = iota // serve it: it is fresh enough for the request
	useStale               // serve it stale: the request's max-stale allows it
	useStaleSWR            // serve it stale and revalidate in the background
	useValidate            // ask the origin, conditionally when it has validators
)

// decision is the policy's verdict on a stored response.
type decision struct {
	use          use
	age          time.Duration
	staleIfError bool // on an error or a 5xx, the stored response may be served
}

// decide applies the request's and the stored response's directives at
// now (RFC 9111 4.2, 5.2; RFC 5861; RFC 8246).
func decide(reqHdr http.Header, m *storedMeta, now time.Time) decision {
	req := parseDirectives(reqHdr)
	resp := m.directives()
	life, _ := m.lifetime()
	age := m.age(now)
	d := decision{use: useValidate, age: age}
	staleness := age - life // > 0: stale by that much; <= 0: fresh

	if sie, ok, valid := resp.seconds("stale-if-error"); ok && valid && staleness <= sie {
		d.staleIfError = true
	}
	if sie, ok, valid := req.seconds("stale-if-error"); ok && valid && staleness <= sie {
		d.staleIfError = true
	}
	// must-revalidate (and no-cache) forbid serving stale, errors included
	// (RFC 9111 5.2.2.2); proxy-revalidate binds shared caches only.
	mustRevalidate := resp.has("must-revalidate")
	if mustRevalidate || resp.has("no-cache") {
		d.staleIfError = false
	}

	// Conditions that always send the request on.
	if resp.has("no-cache") || req.has("no-cache") {
		return d
	}
	if len(reqHdr["Cache-Control"]) == 0 && hasToken(reqHdr["Pragma"], "no-cache") {
		return d
	}
	if slices.Contains(varyNames(m.header), "*") {
		return d
	}

	fresh := staleness < 0
	if fresh && resp.has("immutable") {
		// RFC 8246: no revalidation while fresh, whatever max-age the
		// request asks for (a reload); only no-cache (above) forces it.
		return decision{use: useFresh, age: age, staleIfError: d.staleIfError}
	}
	if v, ok, valid := req.seconds("max-age"); ok && (!valid || age > v) {
		return d
	}
	if v, ok, valid := req.seconds("min-fresh"); ok && (!valid || life-age < v) {
		return d
	}
	if fresh {
		d.use = useFresh
		return d
	}
	if mustRevalidate {
		return d
	}
	if ms, ok := req["max-stale"]; ok {
		if ms == "" {
			d.use = useStale
			return d
		}
		if v, _, valid := req.seconds("max-stale"); valid && staleness <= v {
			d.use = useStale
			return d
		}
	}
	if swr, ok, valid := resp.seconds("stale-while-revalidate"); ok && valid && staleness <= swr {
		d.use = useStaleSWR
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

// varyNames returns the canonical field names of the Vary header, sorted
// and without duplicates; "*" stands for itself.
func varyNames(h http.Header) []string {
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

// varyKey is the part of a variant's key that the request's values of
// the Vary fields make (RFC 9111 4.1): values joined and with spaces
// around commas normalised, so equivalent requests match.
func varyKey(names []string, reqHdr http.Header) string {
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

// conditional adds the validators of a stored response to a request, so
// the origin can answer 304 (RFC 9111 4.3.1).
func conditional(reqHdr, stored http.Header) bool {
	ok := false
	if etag := stored.Get("ETag"); etag != "" {
		reqHdr.Set("If-None-Match", etag)
		ok = true
	}
	if lm := stored.Get("Last-Modified"); lm != "" {
		reqHdr.Set("If-Modified-Since", lm)
		ok = true
	}
	return ok
}

// hasConditional reports whether the caller made the request conditional
// itself: then the origin's answer, a 304 included, goes to the caller.
func hasConditional(h http.Header) bool {
	for _, k := range [...]string{"If-None-Match", "If-Modified-Since", "If-Match", "If-Unmodified-Since", "If-Range"} {
		if _, ok := h[k]; ok {
			return true
		}
	}
	return false
}

// unstored are the fields never kept in a stored response (RFC 9111 3.1,
// plus Set-Cookie: a hit must not set cookies again).
var unstored = map[string]bool{
	"Connection": true, "Keep-Alive": true, "Proxy-Connection": true, "Te": true,
	"Transfer-Encoding": true, "Upgrade": true, "Set-Cookie": true, "Cache-Status": true,
}

func connectionFields(h http.Header) map[string]bool {
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

// mergeNotModified updates a stored response's fields from a 304 (RFC 9111
// 3.2, 4.3.4): every field of the 304 replaces the stored one, except
// Content-Length and the fields never stored.
func mergeNotModified(stored, notModified http.Header) {
	conn := connectionFields(notModified)
	for k, v := range notModified {
		if unstored[k] || conn[k] || k == "Content-Length" {
			continue
		}
		stored[k] = slices.Clone(v)
	}
}

// notModifiedMatches reports whether a 304 may update the stored response
// (RFC 9111 4.3.4): its strong ETag matches the stored one's, or neither
// carries one.
func notModifiedMatches(stored, notModified http.Header) bool {
	got := notModified.Get("ETag")
	if got == "" {
		return true
	}
	want := stored.Get("ETag")
	return want == "" || strings.TrimPrefix(got, "W/") == strings.TrimPrefix(want, "W/")
}

// safeMethod reports whether method is safe (RFC 9110 9.2.1).
func safeMethod(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return false
}

// invalidated returns the URIs an unsafe request with a non-error
// response invalidates (RFC 9111 4.4): its target, and the Location and
// Content-Location of the response when they are of the same origin.
func invalidated(method string, target *url.URL, status int, respHdr http.Header) []*url.URL {
	if safeMethod(method) || status < 200 || status >= 400 {
		return nil
	}
	out := []*url.URL{target}
	for _, f := range [...]string{"Location", "Content-Location"} {
		v := respHdr.Get(f)
		if v == "" {
			continue
		}
		u, err := target.Parse(v)
		if err != nil || originOf(u) != originOf(target) {
			continue
		}
		out = append(out, u)
	}
	return out
}
