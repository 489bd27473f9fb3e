// Token sources: OAuth2 (or any) tokens from an oauth2.TokenSource, fetched
// for each attempt and scoped to the session's origin.

package reqivo

import (
	"strings"

	"golang.org/x/net/http/httpguts"
	"golang.org/x/oauth2"
)

// WithTokenSource authorizes requests with tokens from ts, as
// oauth2.Transport does ("Authorization: Bearer <token>", or the token's
// own type), but scoped as session auth: only to the base URL's origin
// (with no base URL, to the host of each request the caller makes), and
// never by a redirect to another origin.
//
// The token is fetched for every attempt on the wire, so a retry after the
// token expired sends a fresh one. ts is called by many goroutines at once:
// pass an oauth2.ReuseTokenSource (what oauth2.Config.TokenSource and
// clientcredentials.Config.TokenSource return are ones), so that
// concurrent requests share one refresh. Token takes no context: the
// source should bound its own fetch (oauth2 takes an *http.Client with a
// timeout through its context).
//
// When the server answers 401, or any status with "WWW-Authenticate:
// Bearer error="invalid_token"", the source is asked again; if it gives a
// different token, the attempt is sent once more with it, provided its
// body can be replayed. Otherwise, or if that fetch fails, the 401 is the
// answer.
//
// An error from ts ends the request with an error matching ErrAuth, with
// ts's error as its cause; so does a token that is empty or holds white
// space or control bytes. The token is never written to an error or a log.
//
// Session auth (SetBasicAuth, SetBearerToken, SetDigestAuth) and a
// request's own Authorization header win over the token source. A nil ts
// is an error. If not set, no token is sent.
func WithTokenSource(ts oauth2.TokenSource) Option {
	return func(c *config) error {
		if ts == nil {
			return errorf(ErrInvalidOption, "nil token source")
		}
		c.tokenSource = ts
		return nil
	}
}

// tokenAuthorization fetches a token from ts and returns the Authorization
// value and the access token (to see whether a later one differs).
func tokenAuthorization(ts oauth2.TokenSource) (value, access string, err error) {
	tok, err := ts.Token()
	if err != nil {
		return "", "", wrapKind(ErrAuth, "token source", err)
	}
	if tok == nil || tok.AccessToken == "" {
		return "", "", errorf(ErrAuth, "token source gave an empty token")
	}
	typ := tok.Type()
	if !httpguts.ValidHeaderFieldName(typ) {
		return "", "", errorf(ErrAuth, "token source gave a token type that is not an HTTP token")
	}
	if strings.ContainsAny(tok.AccessToken, " \t") || hasCTL(tok.AccessToken) {
		return "", "", errorf(ErrAuth, "token source gave a token with white space or a control character")
	}
	return typ + " " + tok.AccessToken, tok.AccessToken, nil
}
