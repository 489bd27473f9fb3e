// Command quickstart walks through the Reqivo session guide against a
// go-httpbin started inside this process on 127.0.0.1. It prints what each
// step got and exits non-zero if any step does not get what the guide
// promises.
//
//	go run ./examples/quickstart
package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/reqivo/reqivo"
	"github.com/reqivo/reqivo/examples/internal/tour"
)

func main() {
	tour.Main("quickstart", []tour.Step{
		{Name: "basic usage", Run: basicUsage},
		{Name: "post JSON", Run: postJSON},
		{Name: "persistent headers", Run: persistentHeaders},
		{Name: "automatic cookies", Run: automaticCookies},
		{Name: "manual cookies", Run: manualCookies},
		{Name: "basic auth", Run: basicAuth},
		{Name: "bearer token", Run: bearerToken},
		{Name: "fluent facade", Run: fluentFacade},
		{Name: "connection pooling", Run: connectionPooling},
		{Name: "base URL", Run: baseURL},
		{Name: "default timeout", Run: defaultTimeout},
		{Name: "per-request timeout", Run: perRequestTimeout},
		{Name: "per-request header override", Run: headerOverride},
		{Name: "session factory", Run: sessionFactory},
		{Name: "wrapper type", Run: wrapperType},
	})
}

// expect fails unless got equals want.
func expect[T comparable](what string, got, want T) error {
	if got != want {
		return fmt.Errorf("%s: got %v, want %v", what, got, want)
	}
	return nil
}

// Basic usage: a session, a GET, the status and the decoded JSON.
func basicUsage(ctx context.Context, base string) (string, error) {
	s, err := reqivo.NewSession()
	if err != nil {
		return "", err
	}
	defer s.Close()
	resp, err := s.Get(ctx, base+"/get", reqivo.Query("q", "go"))
	if err != nil {
		return "", err
	}
	var body struct {
		Args map[string][]string `json:"args"`
	}
	if err := resp.JSON(&body); err != nil {
		return "", err
	}
	if err := expect("status", resp.StatusCode, http.StatusOK); err != nil {
		return "", err
	}
	if err := expect("args.q", strings.Join(body.Args["q"], ","), "go"); err != nil {
		return "", err
	}
	return fmt.Sprintf("GET /get -> %s, args.q=%v", resp.Status, body.Args["q"]), nil
}

// POST a JSON body; httpbin echoes it back.
func postJSON(ctx context.Context, base string) (string, error) {
	s, err := reqivo.NewSession()
	if err != nil {
		return "", err
	}
	defer s.Close()
	resp, err := s.Post(ctx, base+"/post", reqivo.JSON(map[string]string{"name": "reqivo"}))
	if err != nil {
		return "", err
	}
	var body struct {
		JSON map[string]string `json:"json"`
	}
	if err := resp.JSON(&body); err != nil {
		return "", err
	}
	if err := expect("echoed name", body.JSON["name"], "reqivo"); err != nil {
		return "", err
	}
	return "POST /post echoed " + fmt.Sprint(body.JSON), nil
}

// Persistent headers go with every request of the session.
func persistentHeaders(ctx context.Context, base string) (string, error) {
	s, err := reqivo.NewSession(reqivo.WithHeader("X-Client", "quickstart"))
	if err != nil {
		return "", err
	}
	defer s.Close()
	s.SetHeader("Accept", "application/json")
	seen, err := headersSeen(ctx, s, base, nil)
	if err != nil {
		return "", err
	}
	if err := expect("X-Client", seen.Get("X-Client"), "quickstart"); err != nil {
		return "", err
	}
	if err := expect("Accept", seen.Get("Accept"), "application/json"); err != nil {
		return "", err
	}
	if err := expect("User-Agent", seen.Get("User-Agent"), reqivo.DefaultUserAgent); err != nil {
		return "", err
	}
	return "server saw X-Client=quickstart, Accept=application/json, User-Agent=" + seen.Get("User-Agent"), nil
}

// headersSeen asks httpbin which headers it received.
func headersSeen(ctx context.Context, s *reqivo.Session, base string, opts []reqivo.RequestOption) (http.Header, error) {
	resp, err := s.Get(ctx, base+"/headers", opts...)
	if err != nil {
		return nil, err
	}
	var body struct {
		Headers http.Header `json:"headers"`
	}
	if err := resp.JSON(&body); err != nil {
		return nil, err
	}
	return body.Headers, nil
}

// cookiesSeen asks httpbin which cookies it received.
func cookiesSeen(ctx context.Context, s *reqivo.Session, url string) (map[string]string, error) {
	resp, err := s.Get(ctx, url)
	if err != nil {
		return nil, err
	}
	var body struct {
		Cookies map[string]string `json:"cookies"`
	}
	if err := resp.JSON(&body); err != nil {
		return nil, err
	}
	return body.Cookies, nil
}

// Automatic cookies: what the server sets, the session sends back.
func automaticCookies(ctx context.Context, base string) (string, error) {
	s, err := reqivo.NewSession(reqivo.WithBaseURL(base))
	if err != nil {
		return "", err
	}
	defer s.Close()
	// /cookies/set sets the cookie and redirects to /cookies.
	got, err := cookiesSeen(ctx, s, "/cookies/set?flavor=chocolate")
	if err != nil {
		return "", err
	}
	if err := expect("cookie flavor", got["flavor"], "chocolate"); err != nil {
		return "", err
	}
	return fmt.Sprintf("server set flavor, next request sent %v; jar holds %d cookie(s)", got, len(s.Cookies(""))), nil
}

// Manual cookies: set by hand, sent to the base URL's origin.
func manualCookies(ctx context.Context, base string) (string, error) {
	s, err := reqivo.NewSession(reqivo.WithBaseURL(base))
	if err != nil {
		return "", err
	}
	defer s.Close()
	s.SetCookie("session_id", "abc123")
	got, err := cookiesSeen(ctx, s, "/cookies")
	if err != nil {
		return "", err
	}
	if err := expect("cookie session_id", got["session_id"], "abc123"); err != nil {
		return "", err
	}
	return fmt.Sprintf("server saw %v", got), nil
}

// Basic auth: right credentials get 200, wrong ones 401.
func basicAuth(ctx context.Context, base string) (string, error) {
	s, err := reqivo.NewSession(reqivo.WithBaseURL(base), reqivo.WithBasicAuth("user", "pass"))
	if err != nil {
		return "", err
	}
	defer s.Close()
	ok, err := s.Get(ctx, "/basic-auth/user/pass")
	if err != nil {
		return "", err
	}
	if err := ok.Err(); err != nil {
		return "", err
	}
	s.SetBasicAuth("user", "wrong")
	denied, err := s.Get(ctx, "/basic-auth/user/pass")
	if err != nil {
		return "", err
	}
	var httpErr *reqivo.HTTPError
	if !errors.As(denied.Err(), &httpErr) {
		return "", fmt.Errorf("wrong password: want an *HTTPError, got status %s", denied.Status)
	}
	return fmt.Sprintf("right password -> %d, wrong password -> %d", ok.StatusCode, httpErr.StatusCode), nil
}

// Bearer token.
func bearerToken(ctx context.Context, base string) (string, error) {
	s, err := reqivo.NewSession(reqivo.WithBaseURL(base), reqivo.WithBearerToken("my-token"))
	if err != nil {
		return "", err
	}
	defer s.Close()
	resp, err := s.Get(ctx, "/bearer")
	if err != nil {
		return "", err
	}
	var body struct {
		Authenticated bool   `json:"authenticated"`
		Token         string `json:"token"`
	}
	if err := resp.JSON(&body); err != nil {
		return "", err
	}
	if err := expect("token", body.Token, "my-token"); err != nil {
		return "", err
	}
	return fmt.Sprintf("/bearer -> authenticated=%v token=%s", body.Authenticated, body.Token), nil
}

// The fluent facade: New(baseURL) and chained setters.
func fluentFacade(ctx context.Context, base string) (string, error) {
	c := reqivo.New(base).BasicAuth("user", "pass").Header("X-Client", "fluent")
	defer c.Close()
	if err := c.Err(); err != nil {
		return "", err
	}
	resp, err := c.Get(ctx, "/basic-auth/user/pass")
	if err != nil {
		return "", err
	}
	if err := expect("status", resp.StatusCode, http.StatusOK); err != nil {
		return "", err
	}
	bad := reqivo.New("ftp://example.invalid")
	defer bad.Close()
	_, err = bad.Get(ctx, "/get")
	// The kept error itself, not a complaint about the relative URL.
	if !errors.Is(err, reqivo.ErrInvalidURL) || !errors.Is(err, bad.Err()) {
		return "", fmt.Errorf("a bad base URL: want its kept ErrInvalidURL, got %v", err)
	}
	return fmt.Sprintf("New(base).BasicAuth(...) -> %d; a bad base URL is kept: %v", resp.StatusCode, err), nil
}

// Connection pooling: three requests, one connection.
func connectionPooling(ctx context.Context, base string) (string, error) {
	s, err := reqivo.NewSession(reqivo.WithBaseURL(base))
	if err != nil {
		return "", err
	}
	defer s.Close()
	for i := 0; i < 3; i++ {
		if _, err := s.Get(ctx, "/get"); err != nil {
			return "", err
		}
	}
	st := s.Stats()
	if err := expect("stats", st, reqivo.Stats{Requests: 3, ConnsOpened: 1}); err != nil {
		return "", err
	}
	return fmt.Sprintf("%d requests on %d connection", st.Requests, st.ConnsOpened), nil
}

// Base URL: relative paths are joined under the base URL's path, with or
// without a leading slash; nothing climbs above it or leaves its host.
func baseURL(ctx context.Context, base string) (string, error) {
	c := reqivo.New(base + "/anything/v1")
	defer c.Close()
	rel, err := c.Get(ctx, "users")
	if err != nil {
		return "", err
	}
	rooted, err := c.Get(ctx, "/users/{id}", reqivo.PathParam("id", "7"))
	if err != nil {
		return "", err
	}
	if err := expect("relative", rel.URL().Path, "/anything/v1/users"); err != nil {
		return "", err
	}
	if err := expect("rooted", rooted.URL().Path, "/anything/v1/users/7"); err != nil {
		return "", err
	}
	for _, bad := range []string{"../admin", "//evil.example/steal"} {
		if _, err = c.Get(ctx, bad); !errors.Is(err, reqivo.ErrInvalidURL) {
			return "", fmt.Errorf("%s: want ErrInvalidURL, got %v", bad, err)
		}
	}
	return fmt.Sprintf("users -> %s, /users/{id} -> %s, ../ and //host refused", rel.URL().Path, rooted.URL().Path), nil
}

// The session's default timeout covers the whole request.
func defaultTimeout(ctx context.Context, base string) (string, error) {
	s, err := reqivo.NewSession(reqivo.WithBaseURL(base), reqivo.WithTimeout(300*time.Millisecond))
	if err != nil {
		return "", err
	}
	defer s.Close()
	_, err = s.Get(ctx, "/delay/2")
	if !errors.Is(err, reqivo.ErrTimeout) {
		return "", fmt.Errorf("/delay/2 with a 300ms timeout: want ErrTimeout, got %v", err)
	}
	resp, err := s.Get(ctx, "/delay/0")
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("/delay/2 with WithTimeout(300ms) -> timeout; /delay/0 -> %d", resp.StatusCode), nil
}

// A per-request timeout overrides the session's.
func perRequestTimeout(ctx context.Context, base string) (string, error) {
	s, err := reqivo.NewSession(reqivo.WithBaseURL(base), reqivo.WithTimeout(200*time.Millisecond))
	if err != nil {
		return "", err
	}
	defer s.Close()
	resp, err := s.Get(ctx, "/delay/0.5", reqivo.Timeout(5*time.Second))
	if err != nil {
		return "", err
	}
	_, err = s.Get(ctx, "/delay/2", reqivo.Timeout(100*time.Millisecond))
	if !errors.Is(err, reqivo.ErrTimeout) {
		return "", fmt.Errorf("/delay/2 with Timeout(100ms): want ErrTimeout, got %v", err)
	}
	return fmt.Sprintf("/delay/0.5 with Timeout(5s) -> %d; /delay/2 with Timeout(100ms) -> timeout", resp.StatusCode), nil
}

// A per-request header replaces the session's value.
func headerOverride(ctx context.Context, base string) (string, error) {
	s, err := reqivo.NewSession(reqivo.WithHeader("X-Client", "session"))
	if err != nil {
		return "", err
	}
	defer s.Close()
	seen, err := headersSeen(ctx, s, base, []reqivo.RequestOption{reqivo.Header("X-Client", "request")})
	if err != nil {
		return "", err
	}
	if err := expect("X-Client", strings.Join(seen.Values("X-Client"), ","), "request"); err != nil {
		return "", err
	}
	return "session X-Client=session, request X-Client=request -> server saw " + seen.Get("X-Client"), nil
}

// newAPISession is a session factory: one place that knows how every
// session of an application is configured.
func newAPISession(base, token string) (*reqivo.Session, error) {
	return reqivo.NewSession(
		reqivo.WithBaseURL(base),
		reqivo.WithBearerToken(token),
		reqivo.WithHeader("Accept", "application/json"),
		reqivo.WithTimeout(10*time.Second),
		reqivo.WithRetry(reqivo.RetryPolicy{MaxAttempts: 3}),
	)
}

func sessionFactory(ctx context.Context, base string) (string, error) {
	s, err := newAPISession(base, "factory-token")
	if err != nil {
		return "", err
	}
	defer s.Close()
	seen, err := headersSeen(ctx, s, "", nil)
	if err != nil {
		return "", err
	}
	if err := expect("Authorization", seen.Get("Authorization"), "Bearer factory-token"); err != nil {
		return "", err
	}
	return "factory session sent Authorization and Accept: " + seen.Get("Accept"), nil
}

// HTTPBin is a wrapper type: an API client built on a session.
type HTTPBin struct {
	s *reqivo.Session
}

func NewHTTPBin(base string) (*HTTPBin, error) {
	s, err := reqivo.NewSession(reqivo.WithBaseURL(base), reqivo.WithHeader("User-Agent", "httpbin-wrapper/1.0"))
	if err != nil {
		return nil, err
	}
	return &HTTPBin{s: s}, nil
}

// UserAgent returns the User-Agent the server saw.
func (b *HTTPBin) UserAgent(ctx context.Context) (string, error) {
	resp, err := b.s.Get(ctx, "/user-agent")
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

func (b *HTTPBin) Close() error { return b.s.Close() }

func wrapperType(ctx context.Context, base string) (string, error) {
	api, err := NewHTTPBin(base)
	if err != nil {
		return "", err
	}
	defer api.Close()
	ua, err := api.UserAgent(ctx)
	if err != nil {
		return "", err
	}
	if err := expect("user agent", ua, "httpbin-wrapper/1.0"); err != nil {
		return "", err
	}
	return "HTTPBin.UserAgent() -> " + ua, nil
}
