// Digest access authentication (RFC 7616, answering RFC 2617 and RFC 2069
// servers too): which challenge to answer, and the Authorization value
// that answers it.

package authscheme

import (
	"crypto/md5"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"hash"
	"io"
	"strconv"
	"strings"
)

// Algorithm is a Digest algorithm: its hash and whether it is a -sess
// variant.
type Algorithm struct {
	Name string // as sent back: "MD5", "SHA-256-sess" ...
	New  func() hash.Hash
	Sess bool
	rank int // higher is stronger
}

func sha512t256() hash.Hash { return sha512.New512_256() }

// ParseAlgorithm returns the algorithm a challenge names; no name is MD5.
func ParseAlgorithm(name string) (Algorithm, bool) {
	base, sess := name, false
	if len(name) > 5 && strings.EqualFold(name[len(name)-5:], "-sess") {
		base, sess = name[:len(name)-5], true
	}
	a := Algorithm{Name: name, Sess: sess}
	switch strings.ToUpper(base) {
	case "", "MD5":
		a.New, a.rank = md5.New, 1
	case "SHA-256":
		a.New, a.rank = sha256.New, 2
	case "SHA-512-256":
		a.New, a.rank = sha512t256, 3
	default:
		return Algorithm{}, false
	}
	return a, true
}

// Sum is the hex digest of parts joined by ':'.
func (a Algorithm) Sum(parts ...string) string {
	h := a.New()
	for i, p := range parts {
		if i > 0 {
			io.WriteString(h, ":")
		}
		io.WriteString(h, p)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Space is a Digest challenge to answer (a protection space), with the
// qop chosen and the nonce count of the next answer.
type Space struct {
	Realm, Nonce, Opaque, Qop string
	Alg                       Algorithm
	Userhash                  bool
	NC                        uint32
}

// PickDigest returns the strongest Digest challenge of cs this client can
// answer, and the qop it would use: "auth" when offered, "auth-int" when
// that is all and canHashBody, "" for an RFC 2069 challenge without qop.
func PickDigest(cs []Challenge, canHashBody bool) (*Space, bool) {
	var best *Space
	for _, c := range cs {
		if !strings.EqualFold(c.Scheme, "Digest") || c.Params["nonce"] == "" {
			continue
		}
		alg, ok := ParseAlgorithm(c.Params["algorithm"])
		if !ok {
			continue
		}
		qop, ok := chooseQop(c.Params["qop"], canHashBody)
		if !ok {
			continue
		}
		if best != nil && best.Alg.rank >= alg.rank {
			continue
		}
		best = &Space{
			Realm:    c.Params["realm"],
			Nonce:    c.Params["nonce"],
			Opaque:   c.Params["opaque"],
			Qop:      qop,
			Alg:      alg,
			Userhash: strings.EqualFold(c.Params["userhash"], "true"),
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

// IsStale reports whether cs holds a Digest challenge with stale=true.
func IsStale(cs []Challenge) bool {
	for _, c := range cs {
		if strings.EqualFold(c.Scheme, "Digest") && strings.EqualFold(c.Params["stale"], "true") {
			return true
		}
	}
	return false
}

// NeedsCnonce reports whether an answer to sp carries a client nonce: with
// a qop, or for a -sess algorithm without one.
func (sp Space) NeedsCnonce() bool { return sp.Qop != "" || sp.Alg.Sess }

// Answer is what an Authorization value answering a Space is computed
// from, beyond the space.
type Answer struct {
	User, Pass  string
	Method, URI string // the request's method and request-target
	Cnonce      string // the client nonce when NeedsCnonce, else ""
	BodyHash    string // H(entity-body), for qop auth-int only
}

// Authorization returns the Authorization value answering sp with a.
func Authorization(sp Space, a Answer) string {
	alg := sp.Alg
	ha1 := alg.Sum(a.User, sp.Realm, a.Pass)
	if alg.Sess {
		ha1 = alg.Sum(ha1, sp.Nonce, a.Cnonce)
	}
	ha2 := alg.Sum(a.Method, a.URI)
	if sp.Qop == "auth-int" {
		ha2 = alg.Sum(a.Method, a.URI, a.BodyHash)
	}
	nc := strconv.FormatUint(uint64(sp.NC), 16)
	nc = strings.Repeat("0", 8-len(nc)) + nc
	var response string
	if sp.Qop == "" {
		response = alg.Sum(ha1, sp.Nonce, ha2)
	} else {
		response = alg.Sum(ha1, sp.Nonce, nc, a.Cnonce, sp.Qop, ha2)
	}
	user := a.User
	if sp.Userhash {
		user = alg.Sum(a.User, sp.Realm)
	}
	var b strings.Builder
	b.WriteString("Digest username=")
	b.WriteString(QuoteParam(user))
	b.WriteString(", realm=")
	b.WriteString(QuoteParam(sp.Realm))
	b.WriteString(", nonce=")
	b.WriteString(QuoteParam(sp.Nonce))
	b.WriteString(", uri=")
	b.WriteString(QuoteParam(a.URI))
	if alg.Name != "" {
		b.WriteString(", algorithm=")
		b.WriteString(alg.Name)
	}
	b.WriteString(", response=")
	b.WriteString(QuoteParam(response))
	if sp.Opaque != "" {
		b.WriteString(", opaque=")
		b.WriteString(QuoteParam(sp.Opaque))
	}
	if sp.Qop != "" {
		b.WriteString(", qop=")
		b.WriteString(sp.Qop)
		b.WriteString(", nc=")
		b.WriteString(nc)
	}
	if a.Cnonce != "" {
		b.WriteString(", cnonce=")
		b.WriteString(QuoteParam(a.Cnonce))
	}
	if sp.Userhash {
		b.WriteString(", userhash=true")
	}
	return b.String()
}
