package reqivo_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/mccutchen/go-httpbin/v2/httpbin"

	"github.com/reqivo/reqivo"
)

// Each example starts its own go-httpbin on 127.0.0.1.
func startHTTPBin() *httptest.Server { return httptest.NewServer(httpbin.New()) }

// Basic usage: a session, a GET with a query parameter, the decoded JSON.
func Example() {
	bin := startHTTPBin()
	defer bin.Close()

	s, err := reqivo.NewSession()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()

	resp, err := s.Get(context.Background(), bin.URL+"/get", reqivo.Query("q", "go"))
	if err != nil {
		fmt.Println(err)
		return
	}
	var body struct {
		Args map[string][]string `json:"args"`
	}
	if err := resp.JSON(&body); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(resp.StatusCode, body.Args["q"])
	// Output: 200 [go]
}

// Persistent headers go with every request of the session.
func ExampleSession_SetHeader() {
	bin := startHTTPBin()
	defer bin.Close()
	s, err := reqivo.NewSession(reqivo.WithBaseURL(bin.URL))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()

	s.SetHeader("X-Client", "example")
	resp, err := s.Get(context.Background(), "/headers")
	if err != nil {
		fmt.Println(err)
		return
	}
	var body struct{ Headers http.Header }
	if err := resp.JSON(&body); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(body.Headers.Get("X-Client"), body.Headers.Get("User-Agent") == reqivo.DefaultUserAgent)
	// Output: example true
}

// A per-request header replaces the session's value for that request.
func ExampleHeader() {
	bin := startHTTPBin()
	defer bin.Close()
	s, err := reqivo.NewSession(reqivo.WithBaseURL(bin.URL), reqivo.WithHeader("X-Client", "session"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()

	resp, err := s.Get(context.Background(), "/headers", reqivo.Header("X-Client", "request"))
	if err != nil {
		fmt.Println(err)
		return
	}
	var body struct{ Headers http.Header }
	if err := resp.JSON(&body); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(body.Headers.Values("X-Client"))
	// Output: [request]
}

// Cookies the server sets are kept in the session's jar and sent back.
func ExampleSession_Cookies() {
	bin := startHTTPBin()
	defer bin.Close()
	s, err := reqivo.NewSession(reqivo.WithBaseURL(bin.URL))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()

	// /cookies/set sets the cookie, then redirects to /cookies.
	resp, err := s.Get(context.Background(), "/cookies/set?flavor=chocolate")
	if err != nil {
		fmt.Println(err)
		return
	}
	var body struct{ Cookies map[string]string }
	if err := resp.JSON(&body); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(body.Cookies["flavor"], len(resp.History()), s.Cookies("")[0].Name)
	// Output: chocolate 1 flavor
}

// Cookies set by hand go to the base URL's origin.
func ExampleSession_SetCookie() {
	bin := startHTTPBin()
	defer bin.Close()
	s, err := reqivo.NewSession(reqivo.WithBaseURL(bin.URL))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()

	s.SetCookie("session_id", "abc123")
	resp, err := s.Get(context.Background(), "/cookies")
	if err != nil {
		fmt.Println(err)
		return
	}
	var body struct{ Cookies map[string]string }
	if err := resp.JSON(&body); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(body.Cookies)
	// Output: map[session_id:abc123]
}

// Basic auth for every request of the session.
func ExampleWithBasicAuth() {
	bin := startHTTPBin()
	defer bin.Close()
	s, err := reqivo.NewSession(reqivo.WithBaseURL(bin.URL), reqivo.WithBasicAuth("user", "pass"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()

	resp, err := s.Get(context.Background(), "/basic-auth/user/pass")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(resp.StatusCode, resp.OK())

	s.SetBasicAuth("user", "wrong")
	resp, err = s.Get(context.Background(), "/basic-auth/user/pass")
	if err != nil {
		fmt.Println(err)
		return
	}
	var httpErr *reqivo.HTTPError
	fmt.Println(errors.As(resp.Err(), &httpErr), httpErr.StatusCode)
	// Output:
	// 200 true
	// true 401
}

// A bearer token for every request of the session.
func ExampleWithBearerToken() {
	bin := startHTTPBin()
	defer bin.Close()
	s, err := reqivo.NewSession(reqivo.WithBaseURL(bin.URL), reqivo.WithBearerToken("my-token"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()

	resp, err := s.Get(context.Background(), "/bearer")
	if err != nil {
		fmt.Println(err)
		return
	}
	var body struct {
		Authenticated bool
		Token         string
	}
	if err := resp.JSON(&body); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(body.Authenticated, body.Token)
	// Output: true my-token
}

// The fluent facade: New(baseURL) with chained setters; a bad base URL is
// kept and returned by every call.
func ExampleNew() {
	bin := startHTTPBin()
	defer bin.Close()

	c := reqivo.New(bin.URL).BasicAuth("user", "pass").Header("X-Client", "fluent")
	defer c.Close()
	resp, err := c.Get(context.Background(), "/basic-auth/user/pass")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(resp.StatusCode)

	bad := reqivo.New("ftp://files.example")
	defer bad.Close()
	_, err = bad.Get(context.Background(), "/x")
	fmt.Println(errors.Is(bad.Err(), reqivo.ErrInvalidURL), errors.Is(err, reqivo.ErrInvalidURL))
	// Output:
	// 200
	// true true
}

// Connection pooling: sequential requests share one connection.
func ExampleSession_Stats() {
	bin := startHTTPBin()
	defer bin.Close()
	s, err := reqivo.NewSession(reqivo.WithBaseURL(bin.URL))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()

	for i := 0; i < 3; i++ {
		if _, err := s.Get(context.Background(), "/get"); err != nil {
			fmt.Println(err)
			return
		}
	}
	fmt.Printf("%+v\n", s.Stats())
	// Output: {Requests:3 ConnsOpened:1 RateLimitWait:0s CircuitRejected:0 CacheHits:0 CacheMisses:0 CacheRevalidations:0 QUICConnsOpened:0 Hedges:0 RetryBudgetRefused:0}
}

// Relative URLs are joined under the base URL's path, with or without a
// leading slash; none climbs above it or leaves its host.
func ExampleWithBaseURL() {
	bin := startHTTPBin()
	defer bin.Close()
	s, err := reqivo.NewSession(reqivo.WithBaseURL(bin.URL + "/anything/v1"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()

	for _, ref := range []string{"users", "/users", "../admin", "//elsewhere.example/"} {
		resp, err := s.Get(context.Background(), ref)
		if err != nil {
			fmt.Println(ref, "->", errors.Is(err, reqivo.ErrInvalidURL))
			continue
		}
		fmt.Println(ref, "->", resp.URL().Path)
	}
	// Output:
	// users -> /anything/v1/users
	// /users -> /anything/v1/users
	// ../admin -> true
	// //elsewhere.example/ -> true
}

// The session's timeout bounds the whole request.
func ExampleWithTimeout() {
	bin := startHTTPBin()
	defer bin.Close()
	s, err := reqivo.NewSession(reqivo.WithBaseURL(bin.URL), reqivo.WithTimeout(300*time.Millisecond))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()

	_, err = s.Get(context.Background(), "/delay/2")
	fmt.Println(errors.Is(err, reqivo.ErrTimeout))
	resp, err := s.Get(context.Background(), "/delay/0")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(resp.StatusCode)
	// Output:
	// true
	// 200
}

// A per-request timeout replaces the session's.
func ExampleTimeout() {
	bin := startHTTPBin()
	defer bin.Close()
	s, err := reqivo.NewSession(reqivo.WithBaseURL(bin.URL), reqivo.WithTimeout(200*time.Millisecond))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()

	resp, err := s.Get(context.Background(), "/delay/0.5", reqivo.Timeout(5*time.Second))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(resp.StatusCode)
	_, err = s.Get(context.Background(), "/delay/2", reqivo.Timeout(100*time.Millisecond))
	fmt.Println(errors.Is(err, reqivo.ErrTimeout))
	// Output:
	// 200
	// true
}

// newAPISession is a session factory: one place that configures every
// session of an application.
func newAPISession(base, token string) (*reqivo.Session, error) {
	return reqivo.NewSession(
		reqivo.WithBaseURL(base),
		reqivo.WithBearerToken(token),
		reqivo.WithHeader("Accept", "application/json"),
		reqivo.WithRetry(reqivo.RetryPolicy{MaxAttempts: 3}),
	)
}

// A session factory.
func Example_sessionFactory() {
	bin := startHTTPBin()
	defer bin.Close()
	s, err := newAPISession(bin.URL, "factory-token")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()

	resp, err := s.Get(context.Background(), "/headers")
	if err != nil {
		fmt.Println(err)
		return
	}
	var body struct{ Headers http.Header }
	if err := resp.JSON(&body); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(body.Headers.Get("Authorization"), body.Headers.Get("Accept"))
	// Output: Bearer factory-token application/json
}

// UserAgentAPI is a wrapper type: an API client built on a session.
type UserAgentAPI struct{ s *reqivo.Session }

// UserAgent returns the User-Agent the server saw.
func (a *UserAgentAPI) UserAgent(ctx context.Context) (string, error) {
	resp, err := a.s.Get(ctx, "/user-agent")
	if err != nil {
		return "", err
	}
	if err := resp.Err(); err != nil {
		return "", err
	}
	var body struct {
		UserAgent string `json:"user-agent"`
	}
	if err := resp.JSON(&body); err != nil {
		return "", err
	}
	return body.UserAgent, nil
}

// A wrapper type around a session.
func Example_wrapperType() {
	bin := startHTTPBin()
	defer bin.Close()
	s, err := reqivo.NewSession(reqivo.WithBaseURL(bin.URL), reqivo.WithHeader("User-Agent", "wrapper/1.0"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()

	api := &UserAgentAPI{s: s}
	ua, err := api.UserAgent(context.Background())
	fmt.Println(ua, err)
	// Output: wrapper/1.0 <nil>
}

// Do sends an *http.Request with the session applied and returns the live
// *http.Response, whose body the caller closes.
func ExampleSession_Do() {
	bin := startHTTPBin()
	defer bin.Close()
	s, err := reqivo.NewSession(reqivo.WithBearerToken("t0k"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()

	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, bin.URL+"/bearer", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	resp, err := s.Do(req) // the session's bearer token goes with it
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	fmt.Println(resp.StatusCode, req.Header.Get("Authorization") == "")
	// Output: 200 true
}

// HTTPClient lets code written for net/http use the session.
func ExampleSession_HTTPClient() {
	bin := startHTTPBin()
	defer bin.Close()
	s, err := reqivo.NewSession(reqivo.WithBearerToken("t0k"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()

	hc := s.HTTPClient() // hand it to any SDK that takes an *http.Client
	resp, err := hc.Get(bin.URL + "/bearer")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	fmt.Println(resp.StatusCode)
	// Output: 200
}
