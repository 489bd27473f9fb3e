// The fluent facade: New(baseURL) with chained setters, for the common case
// of one client per API.

package reqivo

import "net/http"

// Client is a Session with chainable setters:
//
//	c := reqivo.New("https://api.example.com").BearerToken(tok)
//	defer c.Close()
//	resp, err := c.Get(ctx, "users")
//
// A bad base URL, option or setter value does not panic: it is kept,
// returned by Err and by every request, before its URL is looked at. The
// setters (BasicAuth, BearerToken, Header, OnRequest, OnResponse) return c;
// Header hides Session.Header, whose headers Headers returns. A Client is safe for concurrent use
// by multiple goroutines.
type Client struct {
	*Session
}

// New returns a client for baseURL ("" for none) with opts.
func New(baseURL string, opts ...Option) *Client {
	if baseURL != "" {
		opts = append([]Option{WithBaseURL(baseURL)}, opts...)
	}
	return &Client{Session: newSession(opts, false)}
}

// Err returns the kept construction error, if any.
func (c *Client) Err() error { return c.Session.err }

// BasicAuth sets basic auth for the client's requests (see
// Session.SetBasicAuth) and returns c.
func (c *Client) BasicAuth(user, pass string) *Client {
	c.Session.SetBasicAuth(user, pass)
	return c
}

// BearerToken sets a bearer token for the client's requests (see
// Session.SetBearerToken) and returns c.
func (c *Client) BearerToken(token string) *Client {
	c.Session.SetBearerToken(token)
	return c
}

// Header sets a persistent header (see Session.SetHeader) and returns c,
// for chaining. It is a setter: the persistent headers are read with
// Headers (Session.Header, which this method hides on a Client).
func (c *Client) Header(key, value string) *Client {
	c.Session.SetHeader(key, value)
	return c
}

// Headers returns a copy of the persistent headers, as Session.Header does.
func (c *Client) Headers() http.Header { return c.Session.Header() }

// OnRequest adds a request hook (see Session.OnRequest) and returns c.
func (c *Client) OnRequest(hook func(*http.Request) error) *Client {
	c.Session.OnRequest(hook)
	return c
}

// OnResponse adds a response hook (see Session.OnResponse) and returns c.
func (c *Client) OnResponse(hook func(*Response) error) *Client {
	c.Session.OnResponse(hook)
	return c
}
