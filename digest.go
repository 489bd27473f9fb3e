// Digest: HTTP Digest access authentication (RFC 7616, answering RFC 2617
// and RFC 2069 servers too), with the nonce of each protection space kept
// and reused with an increasing nonce count.

package reqivo

import (
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"hash"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// digestAuth is the session's Digest credentials and what it has learned
// of each origin's protection space. A new one is made by every
// SetDigestAuth, so new credentials never reuse a nonce of the old ones.
type digestAuth struct {
	user, pass string

	mu     sync.Mutex              // guards spaces and the *digestSpace values in it
	spaces map[origin]*digestSpace // the latest challenge answered per origin
}

// digestSpace is a challenge that was answered, and how many times its
// nonce has been used.
type digestSpace struct {
	realm, nonce, opaque, qop string
	alg                       digestAlg
	userhash                  bool
	nc                        uint32
}

// maxDigestSpaces bounds the origins a session remembers a nonce for.
const maxDigestSpaces = 256

func newDigestAuth(user, pass string) *digestAuth {
	return &digestAuth{user: user, pass: pass, spaces: map[origin]*digestSpace{}}
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

// digestAlg is a Digest algorithm: its hash and whether it is a -sess
// variant.
type digestAlg struct {
	name string // as sent back: "MD5", "SHA-256-sess" ...
	h    func() hash.Hash
	sess bool
	rank int // higher is stronger
}

func sha512t256() hash.Hash { return sha512.New512_256() }

// digestAlgorithm returns the algorithm a challenge names; no name is MD5.
func digestAlgorithm(name string) (digestAlg, bool) {
	base, sess := name, false
	if len(name) > 5 && strings.EqualFold(name[len(name)-5:], "-sess") {
		base, sess = name[:len(name)-5], true
	}
	a := digestAlg{name: name, sess: sess}
	switch strings.ToUpper(base) {
	case "", "MD5":
		a.h, a.rank = md5.New, 1
	case "SHA-256":
		a.h, a.rank = sha256.New, 2
	case "SHA-512-256":
		a.h, a.rank = sha512t256, 3
	default:
		return digestAlg{}, false
	}
	return a, true
}

func (a digestAlg) sum(parts ...string) string {
	h := a.h()
	for i, p := range parts {
		if i > 0 {
			io.WriteString(h, ":")
		}
		io.WriteString(h, p)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// pickDigest returns the strongest Digest challenge of cs this client can
// answer, and the qop it would use: "auth" when offered, "auth-int" when
// that is all and canHashBody, "" for an RFC 2069 challenge without qop.
func pickDigest(cs []challenge, canHashBody bool) (*digestSpace, bool) {
	var best *digestSpace
	for _, c := range cs {
		if !strings.EqualFold(c.scheme, "Digest") || c.params["nonce"] == "" {
			continue
		}
		alg, ok := digestAlgorithm(c.params["algorithm"])
		if !ok {
			continue
		}
		qop, ok := chooseQop(c.params["qop"], canHashBody)
		if !ok {
			continue
		}
		if best != nil && best.alg.rank >= alg.rank {
			continue
		}
		best = &digestSpace{
			realm:    c.params["realm"],
			nonce:    c.params["nonce"],
			opaque:   c.params["opaque"],
			qop:      qop,
			alg:      alg,
			userhash: strings.EqualFold(c.params["userhash"], "true"),
		}
	}
	return best, best != nil
}

// chooseQop picks from a challenge's qop list.
func chooseQop(list string, canHashBody bool) (string, bool) {
	if list == "" {
		return "", true // RFC 2069: no qop
	}
	authInt := false
	for q := range strings.SplitSeq(list, ",") {
		switch strings.ToLower(strings.TrimSpace(q)) {
		case "auth":
			return "auth", true
		case "auth-int":
			authInt = true
		}
	}
	if authInt && canHashBody {
		return "auth-int", true
	}
	return "", false
}

// isStale reports whether cs holds a Digest challenge with stale=true.
func isStale(cs []challenge) bool {
	for _, c := range cs {
		if strings.EqualFold(c.scheme, "Digest") && strings.EqualFold(c.params["stale"], "true") {
			return true
		}
	}
	return false
}

// remember makes sp the space of o, with its nonce count at zero.
func (d *digestAuth) remember(o origin, sp *digestSpace) {
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
func (d *digestAuth) next(o origin) (digestSpace, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	sp, ok := d.spaces[o]
	if !ok {
		return digestSpace{}, false
	}
	sp.nc++
	return *sp, true
}

// authorize returns the Authorization value answering sp for req (whose
// body, for auth-int, is read through GetBody).
func (d *digestAuth) authorize(req *http.Request, sp digestSpace) (string, error) {
	alg := sp.alg
	uri := req.URL.RequestURI()
	cnonce := ""
	if sp.qop != "" || alg.sess {
		var b [16]byte
		_, _ = rand.Read(b[:])
		cnonce = hex.EncodeToString(b[:])
	}
	ha1 := alg.sum(d.user, sp.realm, d.pass)
	if alg.sess {
		ha1 = alg.sum(ha1, sp.nonce, cnonce)
	}
	var ha2 string
	if sp.qop == "auth-int" {
		bh, err := bodyHash(req, alg)
		if err != nil {
			return "", err
		}
		ha2 = alg.sum(req.Method, uri, bh)
	} else {
		ha2 = alg.sum(req.Method, uri)
	}
	nc := strconv.FormatUint(uint64(sp.nc), 16)
	nc = strings.Repeat("0", 8-len(nc)) + nc
	var response string
	if sp.qop == "" {
		response = alg.sum(ha1, sp.nonce, ha2)
	} else {
		response = alg.sum(ha1, sp.nonce, nc, cnonce, sp.qop, ha2)
	}
	user := d.user
	if sp.userhash {
		user = alg.sum(d.user, sp.realm)
	}
	var b strings.Builder
	b.WriteString("Digest username=")
	b.WriteString(quoteParam(user))
	b.WriteString(", realm=")
	b.WriteString(quoteParam(sp.realm))
	b.WriteString(", nonce=")
	b.WriteString(quoteParam(sp.nonce))
	b.WriteString(", uri=")
	b.WriteString(quoteParam(uri))
	if sp.alg.name != "" {
		b.WriteString(", algorithm=")
		b.WriteString(sp.alg.name)
	}
	b.WriteString(", response=")
	b.WriteString(quoteParam(response))
	if sp.opaque != "" {
		b.WriteString(", opaque=")
		b.WriteString(quoteParam(sp.opaque))
	}
	if sp.qop != "" {
		b.WriteString(", qop=")
		b.WriteString(sp.qop)
		b.WriteString(", nc=")
		b.WriteString(nc)
	}
	if cnonce != "" { // with a qop, or for a -sess algorithm without one
		b.WriteString(", cnonce=")
		b.WriteString(quoteParam(cnonce))
	}
	if sp.userhash {
		b.WriteString(", userhash=true")
	}
	return b.String(), nil
}

// maxDigestBody bounds the body auth-int hashes.
const maxDigestBody = 64 << 20

// bodyHash is H(entity-body) for auth-int, read from a fresh copy of the
// body.
func bodyHash(req *http.Request, alg digestAlg) (string, error) {
	h := alg.h()
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
