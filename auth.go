// Auth: session credentials (basic, bearer), the origin rules that scope
// them, and header validation.

package reqivo

import (
	"encoding/base64"
	"net/url"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// origin is a URL's scheme, host and port, the unit credentials are scoped
// to (RFC 6454): a change of any of the three is another origin.
type origin struct {
	scheme, host, port string
}

// originOf returns u's origin, its host in the ASCII (punycode) form the
// transport dials, as net/http computes it: Unicode case folding alone
// would make a look-alike such as "apİ.example.com" (U+0130) equal to
// "api.example.com" while the transport connects to another name. A host
// that has no ASCII form keeps its own bytes behind a NUL, so it equals
// nothing but itself.
func originOf(u *url.URL) origin {
	o := origin{scheme: strings.ToLower(u.Scheme), host: asciiHost(u.Hostname()), port: u.Port()}
	if o.port == "" {
		switch o.scheme {
		case "http", "ws":
			o.port = "80"
		case "https", "wss":
			o.port = "443"
		}
	}
	// ws and wss share the origin of http and https.
	switch o.scheme {
	case "ws":
		o.scheme = "http"
	case "wss":
		o.scheme = "https"
	}
	return o
}

// asciiHost is host as the transport dials it: lower-case ASCII, a
// Unicode name converted to punycode (IDNA lookup rules); "\x00"+host
// when it has no such form.
func asciiHost(host string) string {
	for i := 0; i < len(host); i++ {
		if host[i] >= utf8.RuneSelf {
			a, err := idna.Lookup.ToASCII(host)
			if err != nil {
				return "\x00" + host
			}
			return strings.ToLower(a)
		}
	}
	return strings.ToLower(host)
}

func basicAuthHeader(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

// SetBasicAuth sets session basic auth, replacing a bearer token. It is
// sent only to the base URL's origin, or with no base URL to the host of
// each request the caller makes, and never by a redirect to another
// origin. A user name with ':' or credentials with control bytes are not
// sent: requests fail with ErrInvalidHeader (control bytes) or
// ErrInvalidOption (':') until auth is set again or cleared.
func (s *Session) SetBasicAuth(user, password string) {
	err := validateBasicAuth("SetBasicAuth", user, password)
	s.update(func(st *state) {
		st.setInvalid("auth", err)
		st.auth, st.digest = "", nil
		if err == nil {
			st.auth = basicAuthHeader(user, password)
		}
	})
}

// SetBearerToken sets a session bearer token, replacing basic auth, scoped
// as SetBasicAuth. A token with control bytes is not sent (requests fail
// with ErrInvalidHeader), nor an empty one or one with white space
// (ErrInvalidOption), until auth is set again or cleared.
func (s *Session) SetBearerToken(token string) {
	err := validateBearer("SetBearerToken", token)
	s.update(func(st *state) {
		st.setInvalid("auth", err)
		st.auth, st.digest = "", nil
		if err == nil {
			st.auth = "Bearer " + token
		}
	})
}

// ClearAuth removes session auth.
func (s *Session) ClearAuth() {
	s.update(func(st *state) {
		st.setInvalid("auth", nil)
		st.auth, st.digest = "", nil
	})
}
