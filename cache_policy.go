// Cache policy: the root package's names for the RFC 9111 rules of
// internal/httpcache, and the memo of a stored response's parsed
// directives and date (an entry is decoded once and decided on at every
// hit).

package reqivo

import (
	"net/http"
	"net/url"
	"time"

	"github.com/reqivo/reqivo/internal/httpcache"
)

// directives are the Cache-Control directives of a message (see
// httpcache.Directives).
type directives httpcache.Directives

func parseDirectives(h http.Header) directives {
	return directives(httpcache.ParseDirectives(h))
}

func (d directives) has(name string) bool { return httpcache.Directives(d).Has(name) }

func (d directives) seconds(name string) (v time.Duration, ok, valid bool) {
	return httpcache.Directives(d).Seconds(name)
}

// storedMeta is what the policy needs of a stored response, with its
// directives and date parsed once.
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

// date is the Date of the response, or when it came back when it has none
// or an invalid one.
func (m *storedMeta) date() time.Time {
	if !m.dateSet {
		m.dateVal, m.dateSet = httpcache.ResponseDate(m.header, m.respTime), true
	}
	return m.dateVal
}

// policy is m as httpcache takes it.
func (m *storedMeta) policy() httpcache.Stored {
	return httpcache.Stored{
		Status: m.status, Header: m.header, CC: httpcache.Directives(m.directives()), Date: m.date(),
		ReqTime: m.reqTime, RespTime: m.respTime,
	}
}

func (m *storedMeta) lifetime() (time.Duration, bool) {
	p := m.policy()
	return p.Lifetime()
}

func (m *storedMeta) age(now time.Time) time.Duration {
	p := m.policy()
	return p.Age(now)
}

// use is what a cache does with a stored response for a request.
type use = httpcache.Use

const (
	useFresh    = httpcache.UseFresh
	useStale    = httpcache.UseStale
	useStaleSWR = httpcache.UseStaleSWR
	useValidate = httpcache.UseValidate
)

// decision is the policy's verdict on a stored response.
type decision struct {
	use          use
	age          time.Duration
	staleIfError bool // on an error or a 5xx, the stored response may be served
}

func decide(reqHdr http.Header, m *storedMeta, now time.Time) decision {
	p := m.policy()
	d := httpcache.Decide(reqHdr, &p, now)
	return decision{use: d.Use, age: d.Age, staleIfError: d.StaleIfError}
}

func storable(method string, reqHdr http.Header, status int, respHdr http.Header) bool {
	return httpcache.Storable(method, reqHdr, status, respHdr)
}

func varyNames(h http.Header) []string                  { return httpcache.VaryNames(h) }
func varyKey(names []string, reqHdr http.Header) string { return httpcache.VaryKey(names, reqHdr) }
func conditional(reqHdr, stored http.Header) bool       { return httpcache.Conditional(reqHdr, stored) }
func hasConditional(h http.Header) bool                 { return httpcache.HasConditional(h) }
func mergeNotModified(stored, notModified http.Header) {
	httpcache.MergeNotModified(stored, notModified)
}
func notModifiedMatches(stored, notModified http.Header) bool {
	return httpcache.NotModifiedMatches(stored, notModified)
}
func parseAge(v string) time.Duration { return httpcache.ParseAge(v) }

// invalidated returns the URIs an unsafe request invalidates (RFC 9111
// 4.4), same-origin as the session's origin check reads it.
func invalidated(method string, target *url.URL, status int, respHdr http.Header) []*url.URL {
	return httpcache.Invalidated(method, target, status, respHdr, func(a, b *url.URL) bool {
		return originOf(a) == originOf(b)
	})
}
