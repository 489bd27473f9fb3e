package reqivo

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/reqivo/reqivo/internal/httpcache"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// privatePage answers every request with a private, cacheable page
// naming who asked (as the handler reads it from the request).
func privatePage(who func(r *http.Request) string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "private, max-age=600")
		w.Header()["Date"] = nil
		io.WriteString(w, "page of "+who(r))
	}
}

// signer is a middleware that authenticates every attempt below the
// cache's lookup, as an OAuth2 transport or a request signer does.
func signer(user string) func(http.RoundTripper) http.RoundTripper {
	return func(next http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			r = r.Clone(r.Context())
			r.Header.Set("X-Signed-By", user)
			return next.RoundTrip(r)
		})
	}
}

// clientCertificate makes a self-signed client certificate for cn.
func clientCertificate(t *testing.T, cn string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TestCacheInvisibleCredentialsKeyedToSession: two sessions share one
// store, each authenticated where the cache cannot see it (a middleware,
// a transport of the caller's, a TLS client certificate, proxy
// credentials). Bob is never served Alice's private page; each session
// still hits its own entries.
func TestCacheInvisibleCredentialsKeyedToSession(t *testing.T) {
	t.Parallel()
	plain := setupServer(t, privatePage(func(r *http.Request) string { return r.Header.Get("X-Signed-By") }))

	tlsSrv := httptest.NewUnstartedServer(privatePage(func(r *http.Request) string {
		return r.TLS.PeerCertificates[0].Subject.CommonName
	}))
	tlsSrv.TLS = &tls.Config{ClientAuth: tls.RequireAnyClientCert, MinVersion: tls.VersionTLS12}
	tlsSrv.StartTLS()
	t.Cleanup(tlsSrv.Close)
	roots := x509.NewCertPool()
	roots.AddCert(tlsSrv.Certificate())

	// The proxy answers itself, naming the proxy user.
	proxy := setupServer(t, privatePage(func(r *http.Request) string { return r.Header.Get("Proxy-Authorization") }))

	transport := func(user string) http.RoundTripper {
		return signer(user)(http.DefaultTransport.(*http.Transport).Clone())
	}
	tests := []struct {
		name string
		url  string
		as   func(user string) []Option
	}{
		{"middleware", plain.URL, func(u string) []Option { return []Option{WithMiddleware(signer(u))} }},
		{"transport", plain.URL, func(u string) []Option { return []Option{WithTransport(transport(u))} }},
		{"client certificate", tlsSrv.URL, func(u string) []Option {
			return []Option{WithTLSConfig(&tls.Config{
				RootCAs: roots, MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{clientCertificate(t, u)},
			})}
		}},
		{"proxy credentials", "http://origin.test/page", func(u string) []Option {
			return []Option{WithProxy(strings.Replace(proxy.URL, "://", "://"+u+":pw@", 1))}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			store := NewMemoryCache(1 << 20)
			alice, _ := newCacheSession(t, store, tt.as("alice")...)
			bob, _ := newCacheSession(t, store, tt.as("bob")...)
			a := get(t, alice, tt.url)
			require.Equal(t, "miss", a.CacheStatus())
			b := get(t, bob, tt.url)
			assert.Equal(t, "miss", b.CacheStatus(), "bob is not served alice's page")
			assert.NotEqual(t, a.Text(), b.Text())
			r := get(t, alice, tt.url)
			assert.Equal(t, "hit", r.CacheStatus(), "a session hits its own entries")
			assert.Equal(t, a.Text(), r.Text())
		})
	}
}

// TestCachePublicUncredentialedStaysShared: sessions with no credentials
// at all share the entries of a shared store.
func TestCachePublicUncredentialedStaysShared(t *testing.T) {
	t.Parallel()
	o := setupOrigin(t, func(w http.ResponseWriter, r *http.Request, n int64) {
		w.Header().Set("Cache-Control", "max-age=600")
		io.WriteString(w, "public")
	})
	store := NewMemoryCache(1 << 20)
	a, _ := newCacheSession(t, store)
	b, _ := newCacheSession(t, store)
	get(t, a, o.url)
	r := get(t, b, o.url)
	assert.Equal(t, "hit", r.CacheStatus())
	assert.Equal(t, int64(1), o.hits.Load())
}

// TestCachePrivateResponseKeptToItsSession: an anonymous first visit gets
// a private page that sets a cookie (a CSRF token, a cart). Another
// session sharing the store is never served it; the session that got it
// is, until its cookie keys its requests apart.
func TestCachePrivateResponseKeptToItsSession(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		header http.Header
	}{
		{"private", http.Header{"Cache-Control": {"private, max-age=600"}}},
		{"private, sets a cookie", http.Header{"Cache-Control": {"private, max-age=600"}, "Set-Cookie": {"sid=x"}}},
		{"sets a cookie", http.Header{"Cache-Control": {"max-age=600"}, "Set-Cookie": {"sid=x"}}},
		{"private, with Vary", http.Header{"Cache-Control": {"private, max-age=600"}, "Vary": {"Accept"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := setupOrigin(t, func(w http.ResponseWriter, r *http.Request, n int64) {
				for k, v := range tt.header {
					w.Header()[k] = v
				}
				io.WriteString(w, "csrf token "+string(rune('0'+n)))
			})
			store := NewMemoryCache(1 << 20)
			// No cookie jar: the session stays anonymous, so only the
			// session's identity tells its entry apart.
			first, _ := newCacheSession(t, store, WithCookieJar(nil))
			other, _ := newCacheSession(t, store, WithCookieJar(nil))
			a := get(t, first, o.url)
			r := get(t, other, o.url)
			assert.Equal(t, "miss", r.CacheStatus(), "another session is not served the private page")
			assert.NotEqual(t, a.Text(), r.Text())
			r = get(t, first, o.url)
			assert.Equal(t, "hit", r.CacheStatus())
			assert.Equal(t, a.Text(), r.Text())
		})
	}
}

// TestCacheKeyCoversHost: one address serving several virtual hosts (a
// Host header the caller sets): tenant b is not served tenant a's page.
func TestCacheKeyCoversHost(t *testing.T) {
	t.Parallel()
	o := setupOrigin(t, func(w http.ResponseWriter, r *http.Request, n int64) {
		w.Header().Set("Cache-Control", "max-age=600")
		io.WriteString(w, "tenant "+r.Host)
	})
	s, _ := newCacheSession(t, nil)
	a := get(t, s, o.url, Header("Host", "a.example"))
	assert.Equal(t, "tenant a.example", a.Text())
	b := get(t, s, o.url, Header("Host", "b.example"))
	assert.Equal(t, "tenant b.example", b.Text())
	assert.Equal(t, "miss", b.CacheStatus())
	r := get(t, s, o.url, Header("Host", "a.example"))
	assert.Equal(t, "hit", r.CacheStatus())
	assert.Equal(t, "tenant a.example", r.Text())
	r = get(t, s, o.url)
	assert.Equal(t, "miss", r.CacheStatus(), "no Host header: the URI's authority, another entry")
}

// TestCacheKeyRawSpaceCannotNameVariant: a URI holding a raw space (built
// by concatenation) cannot name another URI's variant entry, even one
// whose variant hash anyone could compute before: the key's fields are
// length-prefixed and the hash is keyed with the store's secret.
func TestCacheKeyRawSpaceCannotNameVariant(t *testing.T) {
	t.Parallel()
	o := setupOrigin(t, func(w http.ResponseWriter, r *http.Request, n int64) {
		w.Header().Set("Cache-Control", "max-age=600")
		w.Header().Set("Vary", "Accept")
		io.WriteString(w, "variant for "+r.Header.Get("Accept"))
	})
	rec := &recordingCache{Cache: NewMemoryCache(1 << 20)}
	s, _ := newCacheSession(t, rec)
	get(t, s, o.url+"/p?a", Header("Accept", "text/secret"))
	sum := sha256.Sum256([]byte(httpcache.VaryKey([]string{"Accept"}, http.Header{"Accept": {"text/secret"}})))
	plain := hex.EncodeToString(sum[:16])
	for _, k := range rec.keys() {
		assert.NotContains(t, k, plain, "the variant hash is keyed")
	}
	r, err := s.Get(context.Background(), o.url+"/p?a vary="+plain, Header("Accept", "text/other"))
	if err == nil {
		assert.NotEqual(t, "hit", r.CacheStatus(), "another URI is never served the variant")
		assert.NotContains(t, r.Text(), "text/secret")
	}
}
