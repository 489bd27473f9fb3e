// Cookie jar: the standard jar (net/http/cookiejar with the public suffix
// list) behind the rules it lacks. It refuses what RFC 6265bis refuses, as
// browsers and curl do: cookie prefixes set without their conditions, and
// Secure cookies set or overwritten from a non-secure origin. It caps what
// a cookie bomb can do: the size of one cookie, the cookies kept per domain
// and in all, and the Cookie header sent to one host (curl's fix for
// CVE-2022-32205).

package reqivo

import (
	"cmp"
	"maps"
	"math"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/idna"
	"golang.org/x/net/publicsuffix"
)

const (
	// maxCookieBytes caps one cookie's name plus value: RFC 6265bis
	// (section 5.6) has user agents ignore a longer one, as Chrome and
	// Firefox do.
	maxCookieBytes = 4096
	// maxCookieHeaderBytes caps the jar's cookies in the Cookie header sent
	// to one host: curl's MAX_COOKIE_HEADER_LEN (Apache's default limit).
	maxCookieHeaderBytes = 8190
	// maxCookiesSent caps the jar's cookies in one request: curl's
	// MAX_COOKIE_SEND_AMOUNT.
	maxCookiesSent = 150
	// maxCookiesPerDomain caps the cookies kept for one registrable
	// domain (eTLD+1); past it, the oldest are evicted down to
	// cookiesPerDomainAfterPurge. Chrome's kDomainMaxCookies (180) and
	// kDomainPurgeCookies (30); Firefox keeps 180 per base domain too.
	maxCookiesPerDomain        = 180
	cookiesPerDomainAfterPurge = 150
	// maxCookies caps the cookies kept in all; past it, the oldest are
	// evicted down to cookiesAfterPurge. Chrome's kMaxCookies (3300) and
	// kPurgeCookies (300); RFC 6265 section 6.1 asks for at least 3000.
	maxCookies        = 3300
	cookiesAfterPurge = 3000
)

// guardedJar is the session's default cookie jar. The standard jar stores,
// expires and matches the cookies; guardedJar decides which of them it may
// store and caps what it hands out. It keeps a record of each cookie the
// standard jar holds, in creation order, to know which are Secure, which
// are oldest and which to evict. It is safe for concurrent use by multiple
// goroutines.
type guardedJar struct {
	jar *cookiejar.Jar

	mu      sync.Mutex                          // mu guards the fields below
	next    uint64                              // creation number of the next new cookie
	count   int                                 // records in domains
	domains map[string]map[string]*cookieRecord // jar key (eTLD+1 or IP) -> domain;path;name -> record
}

// cookieRecord is what guardedJar knows of one cookie in the standard jar.
type cookieRecord struct {
	key          string // the jar key it is kept under
	name, value  string
	domain, path string
	hostOnly     bool
	secure       bool
	expires      time.Time // zero: a session cookie
	seq          uint64    // creation number; an update keeps it, as the standard jar keeps Creation
}

func newGuardedJar() *guardedJar {
	// cookiejar.New fails only on a bad option; these are fixed.
	jar, _ := cookiejar.New(&cookiejar.Options{PublicSuffixList: publicsuffix.List})
	return &guardedJar{jar: jar, domains: map[string]map[string]*cookieRecord{}}
}

// SetCookies stores the cookies u may set, and evicts the oldest cookies
// past the caps.
func (g *guardedJar) SetCookies(u *url.URL, cookies []*http.Cookie) {
	if len(cookies) == 0 || (u.Scheme != "http" && u.Scheme != "https") {
		return
	}
	host, ok := cookieHost(u.Host)
	if !ok {
		return
	}
	secure := u.Scheme == "https" || isLoopbackHost(host)
	key := cookieJarKey(host)
	now := time.Now()

	g.mu.Lock()
	defer g.mu.Unlock()
	var keep []*http.Cookie
	for _, c := range cookies {
		if g.admit(c, u, host, key, secure, now) {
			keep = append(keep, c)
		}
	}
	if len(keep) == 0 {
		return
	}
	g.jar.SetCookies(u, keep)
	for _, r := range g.evict(key, now) {
		g.jar.SetCookies(r.deletionURL(), []*http.Cookie{r.deletion()})
	}
}

// admit judges one cookie from host and updates the records if it passes.
func (g *guardedJar) admit(c *http.Cookie, u *url.URL, host, key string, secure bool, now time.Time) bool {
	if len(c.Name)+len(c.Value) > maxCookieBytes || (c.Secure && !secure) || !prefixAllows(c, secure) {
		return false
	}
	domain, hostOnly, ok := cookieDomain(host, c.Domain)
	if !ok {
		return false // the standard jar refuses it too
	}
	path := c.Path
	if path == "" || path[0] != '/' {
		path = cookieDefaultPath(u.Path)
	}
	recs := g.domains[key]
	if !secure && shadowsSecure(recs, c.Name, domain, path, now) {
		return false
	}
	id := cookieID(domain, path, c.Name)
	if c.MaxAge < 0 || (c.MaxAge == 0 && !c.Expires.IsZero() && !c.Expires.After(now)) {
		if old, ok := recs[id]; ok {
			g.remove(id, old)
		}
		return true // a deletion: the standard jar drops it too
	}
	r := &cookieRecord{key: key, name: c.Name, value: c.Value, domain: domain, path: path, hostOnly: hostOnly, secure: c.Secure}
	switch {
	case c.MaxAge > 0:
		r.expires = now.Add(time.Duration(c.MaxAge) * time.Second)
	case !c.Expires.IsZero():
		r.expires = c.Expires
	}
	if recs == nil {
		recs = map[string]*cookieRecord{}
		g.domains[key] = recs
	}
	if old, ok := recs[id]; ok {
		r.seq = old.seq
	} else {
		r.seq = g.next
		g.next++
		g.count++
	}
	recs[id] = r
	return true
}

// prefixAllows applies the cookie prefixes of RFC 6265bis (section 4.1.3),
// matched without regard to case as curl and the latest draft do:
// __Secure- needs a secure origin and Secure; __Host- needs those, Path=/
// and no Domain.
func prefixAllows(c *http.Cookie, secure bool) bool {
	switch {
	case hasPrefixFold(c.Name, "__Secure-"):
		return secure && c.Secure
	case hasPrefixFold(c.Name, "__Host-"):
		return secure && c.Secure && c.Path == "/" && c.Domain == ""
	}
	return true
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// shadowsSecure is RFC 6265bis's "leave secure cookies alone" (section
// 5.7, step 16), as curl and browsers apply it: a non-secure origin may not
// set a cookie named like a live Secure cookie whose domain matches its
// domain either way, when its path lies under that cookie's path.
func shadowsSecure(recs map[string]*cookieRecord, name, domain, path string, now time.Time) bool {
	for _, r := range recs {
		if r.secure && r.name == name && r.live(now) &&
			(r.domain == domain || hasDotSuffix(r.domain, domain) || hasDotSuffix(domain, r.domain)) &&
			cookiePathMatch(r.path, path) {
			return true
		}
	}
	return false
}

// evict drops expired records of key, then, past maxCookiesPerDomain in
// key or maxCookies in all, the oldest cookies down to the level after a
// purge, and returns those dropped that the standard jar still holds.
func (g *guardedJar) evict(key string, now time.Time) []*cookieRecord {
	var out []*cookieRecord
	if len(g.domains[key]) > maxCookiesPerDomain {
		g.dropExpired(key, now)
		rs := slices.Collect(maps.Values(g.domains[key]))
		out = g.dropOldest(rs, len(rs)-cookiesPerDomainAfterPurge)
	}
	if g.count > maxCookies {
		var rs []*cookieRecord
		for k := range g.domains {
			g.dropExpired(k, now)
			rs = slices.AppendSeq(rs, maps.Values(g.domains[k]))
		}
		out = append(out, g.dropOldest(rs, g.count-cookiesAfterPurge)...)
	}
	return out
}

func (g *guardedJar) dropExpired(key string, now time.Time) {
	for id, r := range g.domains[key] {
		if !r.live(now) {
			g.remove(id, r)
		}
	}
}

// dropOldest removes the n oldest of rs from the records and returns them.
func (g *guardedJar) dropOldest(rs []*cookieRecord, n int) []*cookieRecord {
	if n <= 0 {
		return nil
	}
	slices.SortFunc(rs, func(a, b *cookieRecord) int { return cmp.Compare(a.seq, b.seq) })
	rs = rs[:n]
	for _, r := range rs {
		g.remove(r.id(), r)
	}
	return rs
}

func (g *guardedJar) remove(id string, r *cookieRecord) {
	delete(g.domains[r.key], id)
	if len(g.domains[r.key]) == 0 {
		delete(g.domains, r.key)
	}
	g.count--
}

// id is the standard jar's name for a cookie: domain;path;name.
func (r *cookieRecord) id() string {
	return cookieID(r.domain, r.path, r.name)
}

func cookieID(domain, path, name string) string {
	return domain + ";" + path + ";" + name
}

func (r *cookieRecord) live(now time.Time) bool {
	return r.expires.IsZero() || r.expires.After(now)
}

// deletionURL and deletion make the Set-Cookie that removes r from the
// standard jar: same domain (and kind), path and name.
func (r *cookieRecord) deletionURL() *url.URL {
	host := r.domain
	if !strings.HasPrefix(host, "[") {
		host = net.JoinHostPort(host, "443")
	}
	return &url.URL{Scheme: "https", Host: host, Path: r.path}
}

func (r *cookieRecord) deletion() *http.Cookie {
	c := &http.Cookie{Name: r.name, Path: r.path, MaxAge: -1}
	if !r.hostOnly {
		c.Domain = r.domain
	}
	return c
}

// Cookies returns the standard jar's cookies for u, capped: at most
// maxCookiesSent cookies and maxCookieHeaderBytes of Cookie header. Past
// either cap, the newest cookies that fit are kept, so the oldest are
// dropped first; the order stays the standard jar's.
func (g *guardedJar) Cookies(u *url.URL) []*http.Cookie {
	cs := g.jar.Cookies(u)
	if len(cs) <= maxCookiesSent && cookieHeaderLen(cs) <= maxCookieHeaderBytes {
		return cs
	}
	seqs := g.creation(u, cs)
	order := make([]int, len(cs))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(seqs[b], seqs[a]) })
	keep := make([]bool, len(cs))
	size, n := 0, 0
	for _, i := range order {
		if n == maxCookiesSent {
			break
		}
		l := cookiePairLen(cs[i])
		if n > 0 {
			l += len("; ")
		}
		if size+l > maxCookieHeaderBytes {
			continue
		}
		size += l
		n++
		keep[i] = true
	}
	out := make([]*http.Cookie, 0, n)
	for i, c := range cs {
		if keep[i] {
			out = append(out, c)
		}
	}
	return out
}

// creation finds the creation number of each of cs, the standard jar's
// cookies for u, in the records; a cookie without a record (changed
// meanwhile) counts as newest.
func (g *guardedJar) creation(u *url.URL, cs []*http.Cookie) []uint64 {
	seqs := make([]uint64, len(cs))
	for i := range seqs {
		seqs[i] = math.MaxUint64
	}
	host, ok := cookieHost(u.Host)
	if !ok {
		return seqs
	}
	path := u.Path
	if path == "" {
		path = "/"
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	// Records of the same name and value differ only in domain or path:
	// the oldest not yet taken stands for the next such cookie.
	type pair struct{ name, value string }
	byPair := map[pair][]*cookieRecord{}
	for _, r := range g.domains[cookieJarKey(host)] {
		if r.sentTo(host, path) {
			k := pair{r.name, r.value}
			byPair[k] = append(byPair[k], r)
		}
	}
	for _, rs := range byPair {
		slices.SortFunc(rs, func(a, b *cookieRecord) int { return cmp.Compare(a.seq, b.seq) })
	}
	for i, c := range cs {
		k := pair{c.Name, c.Value}
		if rs := byPair[k]; len(rs) > 0 {
			seqs[i] = rs[0].seq
			byPair[k] = rs[1:]
		}
	}
	return seqs
}

func (r *cookieRecord) sentTo(host, path string) bool {
	return (r.domain == host || (!r.hostOnly && hasDotSuffix(host, r.domain))) && cookiePathMatch(r.path, path)
}

// cookieHeaderLen is the length of the Cookie header value cs make, as
// chain.setCookies writes it.
func cookieHeaderLen(cs []*http.Cookie) int {
	n := 0
	for i, c := range cs {
		if i > 0 {
			n += len("; ")
		}
		n += cookiePairLen(c)
	}
	return n
}

func cookiePairLen(c *http.Cookie) int {
	return len(c.Name) + len("=") + len(cookieValue(c.Value))
}

// The helpers below follow net/http/cookiejar, so that the records name a
// cookie as the standard jar does.

// cookieHost is u.Host as the standard jar keys it: no port, no final dot,
// ASCII, lower case. Like the standard jar, it keeps the brackets of an
// IPv6 literal without a port.
func cookieHost(host string) (string, bool) {
	if colons := strings.Count(host, ":"); colons == 1 || (colons > 1 && host[0] == '[' && strings.Contains(host, "]:")) {
		h, _, err := net.SplitHostPort(host)
		if err != nil {
			return "", false
		}
		host = h
	}
	host = strings.TrimSuffix(host, ".")
	ascii, err := idna.Punycode.ToASCII(host)
	if err != nil || ascii == "" {
		return "", false
	}
	return strings.ToLower(ascii), true
}

// isLoopbackHost reports whether the standard jar sends Secure cookies to
// host over plain http, as browsers and curl treat localhost: a name whose
// last label is localhost, or a loopback address. Such a host is a secure
// origin for setting cookies too.
func isLoopbackHost(host string) bool {
	last := host[strings.LastIndex(host, ".")+1:]
	if strings.EqualFold(last, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

func isIPHost(host string) bool {
	return strings.ContainsAny(host, ":%") || net.ParseIP(host) != nil
}

// cookieJarKey is the standard jar's key for host: its registrable domain
// (eTLD+1), or host itself for an IP address or a public suffix.
func cookieJarKey(host string) string {
	if isIPHost(host) {
		return host
	}
	if k, err := publicsuffix.EffectiveTLDPlusOne(host); err == nil {
		return k
	}
	return host
}

// cookieDomain is the standard jar's domainAndType: the domain a cookie
// from host with Domain attribute domain is kept under, whether it is
// host-only, and false if the standard jar refuses it.
func cookieDomain(host, domain string) (string, bool, bool) {
	if domain == "" {
		return host, true, true
	}
	if isIPHost(host) {
		return host, true, host == domain
	}
	domain = strings.ToLower(strings.TrimPrefix(domain, "."))
	if domain == "" || domain[0] == '.' || domain[len(domain)-1] == '.' {
		return "", false, false
	}
	for i := 0; i < len(domain); i++ {
		if domain[i] >= 0x80 {
			return "", false, false
		}
	}
	if ps, _ := publicsuffix.PublicSuffix(domain); ps != "" && !hasDotSuffix(domain, ps) {
		return host, true, host == domain
	}
	if host != domain && !hasDotSuffix(host, domain) {
		return "", false, false
	}
	return domain, false, true
}

// cookieDefaultPath is RFC 6265's default-path of a request path.
func cookieDefaultPath(path string) string {
	if path == "" || path[0] != '/' {
		return "/"
	}
	if i := strings.LastIndex(path, "/"); i > 0 {
		return path[:i]
	}
	return "/"
}

// cookiePathMatch is RFC 6265's path-match: a cookie with cookiePath goes
// to reqPath.
func cookiePathMatch(cookiePath, reqPath string) bool {
	if reqPath == cookiePath {
		return true
	}
	if !strings.HasPrefix(reqPath, cookiePath) {
		return false
	}
	return cookiePath[len(cookiePath)-1] == '/' || reqPath[len(cookiePath)] == '/'
}

// hasDotSuffix reports whether s ends in "."+suffix.
func hasDotSuffix(s, suffix string) bool {
	return len(s) > len(suffix) && s[len(s)-len(suffix)-1] == '.' && s[len(s)-len(suffix):] == suffix
}
