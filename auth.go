// Auth: session credentials (basic, bearer), the origin rules that scope
// them, and header validation.

package reqivo

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/http/httpguts"
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

// validateBasicAuth checks the credentials given to setter (named in the
// error): CR, LF, NUL or another control byte is ErrInvalidHeader, as in
// any header value; a ':' in the user name is ErrInvalidOption.
func validateBasicAuth(setter, user, pass string) error {
	if hasCTL(user) || hasCTL(pass) {
		return errorf(ErrInvalidHeader, setter+": basic auth credentials contain a control character")
	}
	if strings.Contains(user, ":") {
		return errorf(ErrInvalidOption, setter+": basic auth user name contains ':'")
	}
	return nil
}

// validateBearer checks a token given to setter (named in the error): a
// control byte is ErrInvalidHeader; an empty token, or one with white
// space, ErrInvalidOption.
func validateBearer(setter, tok string) error {
	if hasCTL(tok) {
		return errorf(ErrInvalidHeader, setter+": bearer token contains a control character")
	}
	if tok == "" {
		return errorf(ErrInvalidOption, setter+": empty bearer token")
	}
	if strings.ContainsAny(tok, " \t") {
		return errorf(ErrInvalidOption, setter+": bearer token contains white space")
	}
	return nil
}

func hasCTL(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return true
		}
	}
	return false
}

// validateHeaderField refuses a header name that is not an HTTP token and a
// value holding CR, LF, NUL or another control byte but tab.
func validateHeaderField(key, value string) error {
	if !httpguts.ValidHeaderFieldName(key) {
		return errorf(ErrInvalidHeader, "bad header name "+quote(key))
	}
	if !httpguts.ValidHeaderFieldValue(value) {
		return errorf(ErrInvalidHeader, "bad value for header "+quote(key))
	}
	return nil
}

// validateHeader checks every field of h.
func validateHeader(h http.Header) error {
	for k, vs := range h {
		if !httpguts.ValidHeaderFieldName(k) {
			return errorf(ErrInvalidHeader, "bad header name "+quote(k))
		}
		for _, v := range vs {
			if !httpguts.ValidHeaderFieldValue(v) {
				return errorf(ErrInvalidHeader, "bad value for header "+quote(k))
			}
		}
	}
	return nil
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
