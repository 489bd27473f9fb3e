// Cache: the store behind WithCache, and how entries are keyed (URI,
// method, Vary, and a keyed hash of the request's credentials).

package reqivo

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"
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

// Cache statuses.
const (
	cacheHit         = "hit"
	cacheStale       = "stale"
	cacheRevalidated = "revalidated"
	cacheMiss        = "miss"
)

// sessionCache is a session's cache: its store, the secret of the
// credential hash, and the background revalidations in flight.
type sessionCache struct {
	store     Cache
	maxEntry  int
	sessionID string                 // random: names a token source's credentials (see attemptIdentity)
	secret    atomic.Pointer[[]byte] // nil until first needed

	secretMu sync.Mutex // serialises fetching the secret

	bgCtx    context.Context // cancelled by close
	bgCancel context.CancelFunc
	bgWG     sync.WaitGroup
	bgMu     sync.Mutex      // guards bgKeys
	bgKeys   map[string]bool // keys with a background revalidation in flight
}

func newSessionCache(store Cache) *sessionCache {
	ctx, cancel := context.WithCancel(context.Background())
	return &sessionCache{
		store: store, maxEntry: DefaultMaxCacheEntryBytes, sessionID: hex.EncodeToString(randomSecret()),
		bgCtx: ctx, bgCancel: cancel, bgKeys: map[string]bool{},
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

// randomSecret returns 32 random bytes.
func randomSecret() []byte {
	k := make([]byte, 32)
	_, _ = rand.Read(k) // never fails (crypto/rand since Go 1.24)
	return k
}

// baseKey returns the key of the response to req: "reqivo1:", the method,
// the URI without its fragment, and when the request carries credentials
// (any header of sensitive), an HMAC-SHA256 of them keyed with the cache's
// secret, so that entries of different credentials never meet and the
// store never sees them.
//
// attempt names the credentials the attempts will add after the lookup
// (see attemptIdentity); "" when none.
func (sc *sessionCache) baseKey(ctx context.Context, method string, u *url.URL, h http.Header, sensitive map[string]bool, attempt string) (string, error) {
	uri := *u
	uri.Fragment, uri.RawFragment = "", ""
	// Userinfo is a credential: it goes on the wire as the Authorization
	// field merge made of it, which the cred= hash below covers.
	uri.User = nil
	// So are secret query values (as RedactURL reads them): the key shows
	// them redacted, and the cred= hash covers the query as sent.
	if q := redactQuery(uri.RawQuery); q != uri.RawQuery {
		attempt += "\x00query\x00" + uri.RawQuery
		uri.RawQuery = q
	}
	key := "reqivo1:" + method + " " + uri.String()
	var names []string
	for k := range h {
		if sensitive[k] {
			names = append(names, k)
		}
	}
	if len(names) == 0 && attempt == "" {
		return key, nil
	}
	secret, err := sc.secretKey(ctx)
	if err != nil {
		return "", err
	}
	return key + " cred=" + credentialHash(secret, names, h, attempt), nil
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
		return "digest\x00" + a.digest.user + "\x00" + a.digest.pass
	default:
		return "token-source\x00" + sc.sessionID
	}
}

// credentialHash is the hex HMAC-SHA256, under secret, of the named
// fields of h and of attempt (128 bits kept).
func credentialHash(secret []byte, names []string, h http.Header, attempt string) string {
	slices.Sort(names)
	mac := hmac.New(sha256.New, secret)
	if attempt != "" {
		mac.Write([]byte(attempt))
		mac.Write([]byte{2})
	}
	for _, n := range names {
		mac.Write([]byte(n))
		for _, v := range h[n] {
			mac.Write([]byte{0})
			mac.Write([]byte(v))
		}
		mac.Write([]byte{1})
	}
	return hex.EncodeToString(mac.Sum(nil)[:16])
}

// variantKey is the key of the variant of base that a request with
// header h selects under the Vary field names. The values of sensitive
// fields are left out: base's cred= already tells them apart under a
// keyed hash, and an unkeyed one here would let whoever reads the keys
// test guesses of a password.
func variantKey(base string, names []string, h http.Header, sensitive map[string]bool) string {
	for _, n := range names {
		if sensitive[n] {
			h = h.Clone()
			for k := range sensitive {
				delete(h, k)
			}
			break
		}
	}
	sum := sha256.Sum256([]byte(varyKey(names, h)))
	return base + " vary=" + hex.EncodeToString(sum[:16])
}
