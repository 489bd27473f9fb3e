// Auth plan: which credentials a request carries when it has no
// Authorization of its own or the session's static auth, and the round
// trips that add them on each attempt (a token source's token, a Digest
// answer) or once (a netrc entry).
//
// Precedence, highest first: the request's own Authorization header (set
// with Header, on Do's request, by userinfo in the URL or by an OnRequest
// hook); session auth (basic, bearer or Digest, whichever was set last);
// the token source; netrc.

package reqivo

import (
	"net/http"

	"github.com/reqivo/reqivo/internal/authscheme"
)

// attemptAuth is the auth a request adds on each attempt on the wire.
type attemptAuth struct {
	tokens tokens      // WithTokenSource or WithTokenFunc; or
	digest *digestAuth // SetDigestAuth
}

// planAuth decides, once merge and the hooks are done, what auth req gets
// beyond its headers: a netrc entry is added to req at once; a token
// source or Digest auth is returned, to be applied on each attempt while
// the chain stays on req's origin. nil: nothing to add per attempt.
func (s *Session) planAuth(req *http.Request, st *state) *attemptAuth {
	if _, ok := req.Header["Authorization"]; ok {
		return nil
	}
	if s.credentialsAllowed(req.URL) {
		switch {
		case st.digest != nil:
			return &attemptAuth{digest: st.digest}
		case s.cfg.tokens != nil:
			return &attemptAuth{tokens: s.cfg.tokens}
		}
	}
	if s.cfg.netrc != nil && req.URL.User == nil {
		host := originOf(req.URL).host
		def := s.cfg.baseURL != nil && originOf(s.cfg.baseURL).host == host
		if e, ok := s.cfg.netrc.lookup(host, def); ok && validateBasicAuth("WithNetrc", e.login, e.password) == nil {
			req.Header["Authorization"] = []string{basicAuthHeader(e.login, e.password)}
		}
	}
	return nil
}

// roundTrip sends one attempt of req through send with a's credentials,
// answering a refusal as WithTokenSource and SetDigestAuth say. req is not
// modified; a request that is sent again gets a fresh body from GetBody.
func (a *attemptAuth) roundTrip(req *http.Request, send func(*http.Request) (*http.Response, error)) (*http.Response, error) {
	if a.digest != nil {
		return a.digestRoundTrip(req, send)
	}
	value, access, err := tokenAuthorization(req.Context(), a.tokens, "")
	if err != nil {
		closeBody(req)
		return nil, err
	}
	resp, err := send(withAuthorization(req, value))
	if err != nil || !tokenRefused(resp) || !replayable(req) {
		return resp, err
	}
	value2, access2, err := tokenAuthorization(req.Context(), a.tokens, access)
	if err != nil || access2 == access {
		return resp, nil // no other token: the refusal is the answer
	}
	next, err := freshBody(withAuthorization(req, value2))
	if err != nil {
		return resp, nil
	}
	discard(resp)
	return send(next)
}

// tokenRefused reports whether resp refuses the token sent.
func tokenRefused(resp *http.Response) bool {
	return resp.StatusCode == http.StatusUnauthorized || authscheme.BearerInvalidToken(resp.Header.Values("Www-Authenticate"))
}

// digestRoundTrip sends req with the nonce known for its origin, if any,
// then answers a 401's Digest challenge once, and once more if the answer
// was refused as stale.
func (a *attemptAuth) digestRoundTrip(req *http.Request, send func(*http.Request) (*http.Response, error)) (*http.Response, error) {
	d := a.digest
	o := originOf(req.URL)
	r := req
	if sp, ok := d.next(o); ok {
		if v, err := d.authorize(req, sp); err == nil {
			r = withAuthorization(req, v)
		}
	}
	resp, err := send(r)
	answered, staleAnswered := false, false
	for {
		if err != nil || resp.StatusCode != http.StatusUnauthorized || !replayable(req) {
			return resp, err
		}
		cs := authscheme.Parse(resp.Header.Values("Www-Authenticate"))
		sp, ok := authscheme.PickDigest(cs, true)
		if !ok {
			return resp, nil
		}
		if answered {
			if staleAnswered || !authscheme.IsStale(cs) {
				return resp, nil
			}
			staleAnswered = true
		}
		answered = true
		sp.NC = 1
		v, aerr := d.authorize(req, *sp)
		if aerr != nil {
			return resp, nil
		}
		next, berr := freshBody(withAuthorization(req, v))
		if berr != nil {
			return resp, nil
		}
		d.remember(o, sp)
		discard(resp)
		resp, err = send(next)
	}
}

// withAuthorization returns a shallow copy of req with its own header,
// holding value as Authorization.
func withAuthorization(req *http.Request, value string) *http.Request {
	r := req.WithContext(req.Context())
	r.Header = req.Header.Clone()
	if r.Header == nil {
		r.Header = http.Header{}
	}
	r.Header["Authorization"] = []string{value}
	return r
}

// freshBody gives r, about to be sent again, a new copy of its body.
func freshBody(r *http.Request) (*http.Request, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return r, nil
	}
	body, err := r.GetBody()
	if err != nil {
		return nil, err
	}
	r.Body = body
	return r, nil
}
