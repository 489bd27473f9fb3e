// Cache: the store behind WithCache, and how entries are keyed (URI,
// method, Vary, and a keyed hash of the request's credentials).

package reqivo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/reqivo/reqivo/internal/httpcache"
	"golang.org/x/net/http/httpproxy"
)

// Cache is the store of an HTTP cache: bytes under string keys, each with
// a time to live. The session decides what to store and for how long (RFC
// 9111); a Cache only keeps bytes, so memory, disk and Redis all fit. A
// Cache must be safe for concurrent use by multiple goroutines. An error
// from a Cache never fails a request: the session logs it and goes to the
// network.
type Cache interface {
	// Get returns the value under key; ok is false when there is none or it
	// has expired. The caller does not modify value.
	Get(ctx context.Context, key string) (value []byte, ok bool, err error)
	// Set stores value under key for ttl (0: no expiry, though the store
	// may evict it sooner to stay in its bounds). The store may keep value:
	// the caller does not modify it afterwards.
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// Delete removes key; a missing key is not an error.
	Delete(ctx context.Context, key string) error
}

// CacheSecret is implemented by a Cache that supplies the secret key of
// the credential hash in its keys (see WithCache). A store shared by
// several processes (on disk, in Redis) must give them all the same
// secret, or they cannot share entries of requests with credentials; it
// must keep it from anyone who may not read the entries themselves. A
// Cache without it gets a random secret per session.
type CacheSecret interface {
	Secret(ctx context.Context) ([]byte, error)
}

// DefaultMaxCacheEntryBytes is the largest response body a session stores
// in its cache; a larger one is passed on and not stored.
const DefaultMaxCacheEntryBytes = 8 << 20

// WithCache gives the session a private HTTP cache (RFC 9111) kept in c:
// GET and HEAD responses are stored and served while fresh, revalidated
// with If-None-Match / If-Modified-Since when stale, and unsafe methods
// invalidate what they change. Each redirect hop is looked up on its own,
// before retries; a hit sends nothing and counts in Stats.CacheHits.
//
// A response to a request that carried credentials (Authorization,
// Cookie, or another sensitive header; see WithSensitiveHeaders) is stored
// under a key that includes an HMAC-SHA256 of them, with the secret of c
// (see CacheSecret): it is only ever served to a request with the same
// credentials. If not set, a session has no cache and
// Response.CacheStatus is "".
func WithCache(c Cache) Option {
	return func(cfg *config) error {
		if c == nil {
			return errorf(ErrInvalidOption, "nil cache")
		}
		cfg.cache = c
		return nil
	}
}

// CacheStatus returns what the session's cache did for this response:
// "hit" (served from the cache, fresh), "stale" (served from the cache
// stale, as max-stale, stale-while-revalidate or stale-if-error allowed),
// "revalidated" (the origin confirmed the stored response with a 304),
// "miss" (the origin's response), or "" when the session has no cache.
// The response also carries a Cache-Status header (RFC 9211) naming
// "reqivo".
func (r *Response) CacheStatus() string { return r.cacheStatus }

// Cache statuses: the exported constants of statuses.go, under the
// names the cache's code uses.
const (
	cacheHit         = CacheHit
	cacheStale       = CacheStale
	cacheRevalidated = CacheRevalidated
	cacheMiss        = CacheMiss
)

// sessionCache is a session's cache: its store, the secret of the
// credential hash, and the background revalidations in flight.
type sessionCache struct {
	store     Cache
	maxEntry  int
	sessionID string                 // random: names the session in keys (see attemptIdentity, credMaterial)
	invisible bool                   // the session's credentials travel below the lookup (see credentialsInvisible)
	secret    atomic.Pointer[[]byte] // nil until first needed

	secretMu sync.Mutex // serialises fetching the secret

	bgCtx    context.Context // cancelled by close
	bgCancel context.CancelFunc
	bgWG     sync.WaitGroup
	bgMu     sync.Mutex      // guards bgKeys
	bgKeys   map[string]bool // keys with a background revalidation in flight
}

func newSessionCache(store Cache, invisible bool) *sessionCache {
	ctx, cancel := context.WithCancel(context.Background())
	return &sessionCache{
		store: store, maxEntry: DefaultMaxCacheEntryBytes, sessionID: hex.EncodeToString(randomSecret()),
		invisible: invisible,
		bgCtx:     ctx, bgCancel: cancel, bgKeys: map[string]bool{},
	}
}

// close cancels the background revalidations and waits for them.
func (sc *sessionCache) close() {
	// Cancelled under bgMu: a background revalidation checks the context
	// and joins bgWG under the same lock, so none can start after Wait.
	sc.bgMu.Lock()
	sc.bgCancel()
	sc.bgMu.Unlock()
	sc.bgWG.Wait()
}

// secretKey returns the secret of the credential hash: the store's when
// it supplies one, else a random one for this session.
func (sc *sessionCache) secretKey(ctx context.Context) ([]byte, error) {
	if k := sc.secret.Load(); k != nil {
		return *k, nil
	}
	sc.secretMu.Lock()
	defer sc.secretMu.Unlock()
	if k := sc.secret.Load(); k != nil {
		return *k, nil
	}
	var k []byte
	if cs, ok := sc.store.(CacheSecret); ok {
		var err error
		if k, err = cs.Secret(ctx); err != nil {
			return nil, err // tried again by the next request
		}
		if len(k) < 16 {
			return nil, errorf(ErrInvalidOption, "cache secret under 16 bytes")
		}
	} else {
		k = randomSecret()
	}
	sc.secret.Store(&k)
	return k, nil
}

// credentialsInvisible reports whether the session's requests may carry
// credentials the cache does not see at its lookup: a middleware or a
// transport of the caller's (an OAuth2 transport, a request signer), a
// TLS client certificate (or a TLS dialer of the caller's, which may
// present one), or a proxy with credentials. Such a session cannot tell
// its users apart from anyone else's, so its entries are keyed to it.
func (c *config) credentialsInvisible() bool {
	if len(c.middleware) > 0 || c.transport != nil || c.dialTLS != nil {
		return true
	}
	if tc := c.tlsConfig; tc != nil && (len(tc.Certificates) > 0 || tc.GetClientCertificate != nil) {
		return true
	}
	if c.proxySet {
		return c.proxy != nil && c.proxy.User != nil
	}
	env := httpproxy.FromEnvironment()
	for _, p := range [...]string{env.HTTPProxy, env.HTTPSProxy} {
		if u, err := url.Parse(p); err == nil && u.User != nil {
			return true
		}
	}
	return false
}

// randomSecret returns 32 random bytes.
func randomSecret() []byte {
	k := make([]byte, 32)
	_, _ = rand.Read(k) // never fails (crypto/rand since Go 1.24)
	return k
}

// baseKey returns the key of the response to req (see httpcache.Key): the
// method, the URI without its fragment, the Host header when it names
// another authority than the URI, and when the request carries
// credentials an HMAC-SHA256 of them keyed with the cache's secret, so
// that entries of different credentials never meet and the store never
// sees them.
//
// attempt names the credentials the attempts will add after the lookup
// (see attemptIdentity); "" when none. A session whose credentials the
// cache cannot see (see credentialsInvisible) mixes its own random
// identity into every key: its entries are only ever served to itself.
func (sc *sessionCache) baseKey(ctx context.Context, method string, u *url.URL, host string, h http.Header, sensitive map[string]bool, attempt string) (string, error) {
	uri := *u
	uri.Fragment, uri.RawFragment = "", ""
	// Userinfo is a credential: it goes on the wire as the Authorization
	// field merge made of it, which the cred= hash below covers.
	uri.User = nil
	var query string
	// So are secret query values (as RedactURL reads them): the key shows
	// them redacted, and the credential hash covers the query as sent.
	if q := redactQuery(uri.RawQuery); q != uri.RawQuery {
		query = uri.RawQuery
		uri.RawQuery = q
	}
	if host == u.Host {
		host = ""
	}
	var names []string
	for n := range h {
		if sensitive[n] {
			names = append(names, n)
		}
	}
	if len(names) == 0 && attempt == "" && query == "" && !sc.invisible {
		return httpcache.URLKey(method, &uri, host, ""), nil
	}
	secret, err := sc.secretKey(ctx)
	if err != nil {
		return "", err
	}
	return httpcache.URLKey(method, &uri, host, httpcache.CredHash(secret, sc.credMaterial(names, h, attempt, query))), nil
}

// credMaterial lays out what the credential hash covers, each part
// length-prefixed (httpcache.Join): the session's identity when its
// credentials are out of the cache's sight, the per-attempt credentials,
// the query with its secret values, and the sensitive fields.
func (sc *sessionCache) credMaterial(names []string, h http.Header, attempt, query string) string {
	slices.Sort(names)
	parts := make([]string, 0, 8+2*len(names))
	if sc.invisible {
		parts = append(parts, "session", sc.sessionID)
	}
	if attempt != "" {
		parts = append(parts, "attempt", attempt)
	}
	if query != "" {
		parts = append(parts, "query", query)
	}
	for _, n := range names {
		parts = append(parts, "field", n, strconv.Itoa(len(h[n])))
		parts = append(parts, h[n]...)
	}
	return httpcache.Join(parts...)
}

// attemptIdentity names the credentials a per-attempt auth adds (they are
// not in the request the cache looks up): Digest auth by its user and
// password; a token source, whose tokens the session cannot know before
// the attempt, by a random identity of the session, so that its entries
// are only ever served to the same session.
func (sc *sessionCache) attemptIdentity(a *attemptAuth) string {
	switch {
	case a == nil:
		return ""
	case a.digest != nil:
		return httpcache.Join("digest", a.digest.user, a.digest.pass)
	default:
		return httpcache.Join("token-source", sc.sessionID)
	}
}

// sessionVary stands, among the Vary field names of a Vary index, for
// the session: the variant is the storing session's own (see
// variantNames). It is no field name, so no response can name it.
const sessionVary = "\x00session"

// variantNames returns the names that select the variant of resp under
// base: its Vary field names, and sessionVary when resp is for one user
// (Cache-Control: private, or it sets a cookie) and base does not already
// tell users apart. The entry is then kept to the session: another
// session sharing the store, anonymous as this one was, never gets it.
func (sc *sessionCache) variantNames(base string, resp http.Header) []string {
	names := httpcache.VaryNames(resp)
	if _, setsCookie := resp["Set-Cookie"]; !setsCookie && !httpcache.ParseDirectives(resp).Has("private") {
		return names
	}
	if k, _, ok := httpcache.ParseKey(base); ok && k.Cred != "" {
		return names // already keyed to the credentials or the session
	}
	return append(names, sessionVary)
}

// variantKey is the key of the variant of base that a request with
// header h selects under the Vary field names, the variant hash keyed
// with the cache's secret. The values of sensitive fields are left out:
// base's credential hash already tells them apart.
func (sc *sessionCache) variantKey(ctx context.Context, base string, names []string, h http.Header, sensitive map[string]bool) (string, error) {
	own := false
	if i := slices.Index(names, sessionVary); i >= 0 {
		own = true
		names = slices.Delete(slices.Clone(names), i, i+1)
	}
	for _, n := range names {
		if sensitive[n] {
			h = h.Clone()
			for k := range sensitive {
				delete(h, k)
			}
			break
		}
	}
	secret, err := sc.secretKey(ctx)
	if err != nil {
		return "", err
	}
	material := httpcache.Join(httpcache.VaryKey(names, h))
	if own {
		material = httpcache.Join(httpcache.VaryKey(names, h), "session", sc.sessionID)
	}
	return httpcache.Variant(base, httpcache.VariantHash(secret, material)), nil
}
