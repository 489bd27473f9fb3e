// Token sources: OAuth2 (or any) tokens from an oauth2.TokenSource or a
// fetch function, asked for each attempt and scoped to the session's
// origin; a refused token is replaced once.

package reqivo

import (
	"context"
	"errors"
	"strings"
	"sync"

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
// answer. A ReuseTokenSource gives the same token until it expires, so a
// token the server revoked earlier is not replaced: use WithTokenFunc for
// that.
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
		c.tokens = sourceTokens{ts}
		return nil
	}
}

// WithTokenFunc authorizes requests with tokens from fetch, which asks the
// token endpoint for a new token every time it is called:
// clientcredentials.Config.Token, or RefreshTokenFunc for a refresh token.
// The session keeps the token and shares it among its requests until it
// expires (10 s early, as oauth2.ReuseTokenSource does); then, or when
// the server refuses it (401, or "Bearer error="invalid_token"" with any
// status), the next request calls fetch once, with its own context, and
// concurrent requests wait for that one call. A refused request is sent
// once more with the new token, provided its body can be replayed; if
// fetch gives the same token or fails, the refusal is the answer.
//
//	cc := clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: tokenURL}
//	s, err := reqivo.NewSession(reqivo.WithBaseURL(api), reqivo.WithTokenFunc(cc.Token))
//
// Everything else is as for WithTokenSource: the scope, the errors
// (ErrAuth, with fetch's error as the cause), the precedence. A nil fetch
// is an error.
func WithTokenFunc(fetch func(context.Context) (*oauth2.Token, error)) Option {
	return func(c *config) error {
		if fetch == nil {
			return errorf(ErrInvalidOption, "nil token func")
		}
		c.tokens = &cachedTokens{fetch: fetch}
		return nil
	}
}

// RefreshTokenFunc returns a fetch for WithTokenFunc that gets tokens from
// cfg's token endpoint with the refresh token of tok (RFC 6749, 6). Its
// first call gives tok itself while tok is valid; later calls refresh, and
// keep the refresh token the endpoint returns in place of the old one (a
// server that rotates them). It is safe for concurrent use.
func RefreshTokenFunc(cfg *oauth2.Config, tok *oauth2.Token) func(context.Context) (*oauth2.Token, error) {
	var mu sync.Mutex
	first := tok
	refresh := ""
	if tok != nil {
		refresh = tok.RefreshToken
	}
	return func(ctx context.Context) (*oauth2.Token, error) {
		mu.Lock()
		defer mu.Unlock()
		if first != nil {
			t := first
			first = nil
			if t.Valid() {
				return t, nil
			}
		}
		// A token without an access token is expired: the source refreshes
		// it at once, and its TokenSource caches nothing past this call.
		t, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: refresh}).Token()
		if err != nil {
			return nil, err
		}
		refresh = t.RefreshToken
		return t, nil
	}
}

// tokens is where a session's token source auth gets its tokens.
type tokens interface {
	// token returns the token to send; refused, if not "", is the access
	// token the server just refused.
	token(ctx context.Context, refused string) (*oauth2.Token, error)
}

// sourceTokens asks an oauth2.TokenSource (WithTokenSource) every time.
type sourceTokens struct{ ts oauth2.TokenSource }

func (s sourceTokens) token(context.Context, string) (*oauth2.Token, error) { return s.ts.Token() }

// cachedTokens keeps the token of a fetch that always asks the token
// endpoint (WithTokenFunc), with at most one fetch in flight.
type cachedTokens struct {
	fetch func(context.Context) (*oauth2.Token, error)

	mu       sync.Mutex    // guards the fields below
	tok      *oauth2.Token // the latest token; nil: none yet
	inflight *tokenFetch   // the fetch running, or nil
}

// tokenFetch is one call of fetch; done is closed when tok and err are set.
type tokenFetch struct {
	done chan struct{}
	tok  *oauth2.Token
	err  error
}

func (c *cachedTokens) token(ctx context.Context, refused string) (*oauth2.Token, error) {
	for {
		c.mu.Lock()
		if t := c.tok; t != nil && t.Valid() && t.AccessToken != refused {
			c.mu.Unlock()
			return t, nil
		}
		f := c.inflight
		if f == nil {
			f = &tokenFetch{done: make(chan struct{})}
			c.inflight = f
			c.mu.Unlock()
			c.run(ctx, f)
			return f.tok, f.err
		}
		c.mu.Unlock()
		select {
		case <-f.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if f.err == nil || ctx.Err() != nil {
			return f.tok, f.err
		}
		// The leader's fetch failed, maybe with its own context: a waiter
		// whose context is live tries once more itself only if the fetch
		// was cut short, else it shares the failure.
		if !isContextError(f.err) {
			return nil, f.err
		}
	}
}

// run calls fetch for f and publishes its result.
func (c *cachedTokens) run(ctx context.Context, f *tokenFetch) {
	f.tok, f.err = c.fetch(ctx)
	if f.err == nil && f.tok == nil {
		f.err = errorf(ErrAuth, "token func gave no token")
	}
	c.mu.Lock()
	if f.err == nil {
		c.tok = f.tok
	}
	c.inflight = nil
	c.mu.Unlock()
	close(f.done)
}

// isContextError reports whether err is a context's cancellation or deadline.
func isContextError(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// tokenAuthorization gets a token from src and returns the Authorization
// value and the access token (to see whether a later one differs).
func tokenAuthorization(ctx context.Context, src tokens, refused string) (value, access string, err error) {
	tok, err := src.token(ctx, refused)
	if err != nil {
		if isKind(err) {
			return "", "", err
		}
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
