// Digest: HTTP Digest access authentication (RFC 7616, answering RFC 2617
// and RFC 2069 servers too), with the nonce of each protection space kept
// and reused with an increasing nonce count.

package reqivo

import (
	"crypto/rand"
	"encoding/hex"
	"io"
	"net/http"
	"sync"

	"github.com/reqivo/reqivo/internal/authscheme"
)

// digestAuth is the session's Digest credentials and what it has learned
// of each origin's protection space. A new one is made by every
// SetDigestAuth, so new credentials never reuse a nonce of the old ones.
type digestAuth struct {
	user, pass string

	mu     sync.Mutex                   // guards spaces and the *authscheme.Space values in it
	spaces map[origin]*authscheme.Space // the latest challenge answered per origin
}

// maxDigestSpaces bounds the origins a session remembers a nonce for.
const maxDigestSpaces = 256

func newDigestAuth(user, pass string) *digestAuth {
	return &digestAuth{user: user, pass: pass, spaces: map[origin]*authscheme.Space{}}
}

// validateDigestAuth checks the credentials given to setter (named in the
// error): a control byte is ErrInvalidHeader, as in any header value.
func validateDigestAuth(setter, user, pass string) error {
	if hasCTL(user) || hasCTL(pass) {
		return errorf(ErrInvalidHeader, setter+": digest auth credentials contain a control character")
	}
	return nil
}

// SetDigestAuth sets session Digest auth (RFC 7616; MD5, SHA-256 and
// SHA-512-256, their -sess variants, qop auth and auth-int). It replaces
// basic auth or a bearer token, as they replace it, and is scoped as
// SetBasicAuth: only to the base URL's origin, and never by a redirect to
// another origin. The first request to an origin is sent without
// credentials; its 401 challenge is answered once, and the nonce is then
// reused, with an increasing nonce count, by later requests to the same
// origin, so they need one round trip. A server saying stale=true gets one
// more answer. A request whose body cannot be replayed is not sent again:
// its 401 is the answer (unless a nonce is already known). Credentials with
// control bytes are not sent: requests fail with ErrInvalidHeader until
// auth is set again or cleared.
func (s *Session) SetDigestAuth(user, password string) {
	err := validateDigestAuth("SetDigestAuth", user, password)
	s.update(func(st *state) {
		st.setInvalid("auth", err)
		st.auth, st.digest = "", nil
		if err == nil {
			st.digest = newDigestAuth(user, password)
		}
	})
}

// WithDigestAuth sets session Digest auth at construction, as
// SetDigestAuth. It replaces WithBasicAuth and WithBearerToken given
// before it, as they replace it.
func WithDigestAuth(user, password string) Option {
	return func(c *config) error {
		if err := validateDigestAuth("WithDigestAuth", user, password); err != nil {
			return err
		}
		c.authBasic, c.authUser, c.authPass, c.bearer = false, "", "", ""
		c.digest = &[2]string{user, password}
		return nil
	}
}

// remember makes sp the space of o, with its nonce count at zero.
func (d *digestAuth) remember(o origin, sp *authscheme.Space) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.spaces[o]; !ok && len(d.spaces) >= maxDigestSpaces {
		for k := range d.spaces { // forget one at random
			delete(d.spaces, k)
			break
		}
	}
	d.spaces[o] = sp
}

// next returns a copy of o's space with the nonce count to send, or false
// when o has none.
func (d *digestAuth) next(o origin) (authscheme.Space, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	sp, ok := d.spaces[o]
	if !ok {
		return authscheme.Space{}, false
	}
	sp.NC++
	return *sp, true
}

// authorize returns the Authorization value answering sp for req (whose
// body, for auth-int, is read through GetBody).
func (d *digestAuth) authorize(req *http.Request, sp authscheme.Space) (string, error) {
	a := authscheme.Answer{User: d.user, Pass: d.pass, Method: req.Method, URI: req.URL.RequestURI()}
	if sp.NeedsCnonce() {
		var b [16]byte
		_, _ = rand.Read(b[:])
		a.Cnonce = hex.EncodeToString(b[:])
	}
	if sp.Qop == "auth-int" {
		bh, err := bodyHash(req, sp.Alg)
		if err != nil {
			return "", err
		}
		a.BodyHash = bh
	}
	return authscheme.Authorization(sp, a), nil
}

// maxDigestBody bounds the body auth-int hashes.
const maxDigestBody = 64 << 20

// bodyHash is H(entity-body) for auth-int, read from a fresh copy of the
// body.
func bodyHash(req *http.Request, alg authscheme.Algorithm) (string, error) {
	h := alg.New()
	if req.Body != nil && req.Body != http.NoBody {
		if req.GetBody == nil {
			return "", errorf(ErrInvalidOption, "digest auth-int needs a body that can be read again")
		}
		body, err := req.GetBody()
		if err != nil {
			return "", err
		}
		n, err := io.Copy(h, io.LimitReader(body, maxDigestBody+1))
		body.Close()
		if err != nil {
			return "", err
		}
		if n > maxDigestBody {
			return "", errorf(ErrInvalidOption, "body too large for digest auth-int")
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
