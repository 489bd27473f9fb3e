// Validation: every check of the caller's input (methods, URLs, header
// names and values, credentials, cookies), each refusing with a kind from
// errors.go before anything is sent.

package reqivo

import (
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/net/http/httpguts"
)

func checkMethod(m string) error {
	if m == "" || !httpguts.ValidHeaderFieldName(m) {
		return errorf(ErrInvalidOption, "bad method "+quote(m))
	}
	return nil
}

// parseAbsoluteURL parses an absolute http(s) URL with a host.
func parseAbsoluteURL(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, errorf(ErrInvalidURL, "empty URL")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, wrapKind(ErrInvalidURL, "", redactParseError(err))
	}
	if err := checkAbsolute(u); err != nil {
		return nil, err
	}
	return u, nil
}

// checkAbsolute reports whether u is an http(s) URL with a host.
func checkAbsolute(u *url.URL) error {
	switch u.Scheme {
	case "http", "https":
	case "":
		return errorf(ErrInvalidURL, "no scheme in "+quote(redactURL(u)))
	default:
		return errorf(ErrInvalidURL, "unsupported scheme "+quote(u.Scheme))
	}
	if u.Host == "" || u.Hostname() == "" {
		return errorf(ErrInvalidURL, "no host in "+quote(redactURL(u)))
	}
	if strings.HasPrefix(asciiHost(u.Hostname()), "\x00") {
		return errorf(ErrInvalidURL, "host "+quote(u.Hostname())+" has no ASCII (IDNA) form")
	}
	return nil
}

// redactParseError keeps url.Parse's reason but not the URL it quotes, which
// may hold a password.
func redactParseError(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
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

func validateCookie(setter, name, value string) error {
	if name == "" || !httpguts.ValidHeaderFieldName(name) {
		return errorf(ErrInvalidHeader, setter+": bad cookie name "+quote(name))
	}
	for i := 0; i < len(value); i++ {
		b := value[i]
		// RFC 6265 cookie-octets, plus space and comma (sent quoted, as
		// net/http does); bytes past ASCII are dropped by servers'
		// parsers, net/http's included, so they are refused here.
		if b < 0x20 || b >= 0x7f || b == '"' || b == ';' || b == '\\' {
			return errorf(ErrInvalidHeader, setter+": bad value for cookie "+quote(name))
		}
	}
	return nil
}
