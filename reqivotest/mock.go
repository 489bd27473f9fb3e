// Mock: routes with canned answers and expectations, served in process
// through Handler.

package reqivotest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reqivo/reqivo"
)

// errorHeader carries a mock's refusal from its handler to the middleware
// that turns it into the caller's error.
const errorHeader = "Reqivotest-Error"

// Mock answers requests from routes declared with On, and checks that
// each route is called as expected. It fails its test (t.Errorf) when a
// request matches no route, when a route is called more often than its
// Times, and, when the test ends, when an expected route was not called
// enough. A Mock is an http.Handler, and Option gives the session option
// that serves it through Handler. A Mock is safe for concurrent use by
// multiple goroutines.
type Mock struct {
	t testing.TB

	mu     sync.Mutex // guards the fields below
	mux    *http.ServeMux
	routes []*Route
	byPat  map[string]*Route
	reqs   []*http.Request
	failed map[string]bool // the refusals reported
}

// NewMock returns a mock with no routes, checked when t ends.
func NewMock(t testing.TB) *Mock {
	t.Helper()
	m := &Mock{t: t, mux: http.NewServeMux(), byPat: map[string]*Route{}, failed: map[string]bool{}}
	t.Cleanup(m.verify)
	return m
}

// Route is one pattern of a Mock with its answers and expectation. Its
// methods return the route, to be chained, and are safe to call while
// requests run.
type Route struct {
	m       *Mock
	pattern string
	method  string         // "" when the pattern has none
	anyPath *http.ServeMux // the pattern without its method, for near misses

	// guarded by m.mu
	answers  []*answer
	defaults answer // Header and Delay given before the first answer
	times    int    // -1: not set
	anyTimes bool
	calls    int
}

// answer is what a route sends for one call.
type answer struct {
	status  int
	body    []byte
	header  http.Header
	delay   time.Duration
	handler http.Handler
}

// On adds a route for pattern, an http.ServeMux pattern such as
// "GET /users/{id}" or "POST api.example.com/items"; path wildcards are
// read in a Handle handler with r.PathValue. A route with no answer
// replies 200 with an empty body. A pattern ServeMux refuses (invalid, or
// in conflict with another route's) fails the test at once.
func (m *Mock) On(pattern string) *Route {
	m.t.Helper()
	r := &Route{m: m, pattern: pattern, times: -1, anyPath: http.NewServeMux()}
	method, rest, found := strings.Cut(strings.TrimLeft(pattern, " \t"), " ")
	if found && !strings.Contains(method, "/") {
		r.method = method
	} else {
		rest = pattern
	}
	var err error
	func() {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("%v", p)
			}
		}()
		m.mu.Lock()
		defer m.mu.Unlock()
		m.mux.Handle(pattern, http.HandlerFunc(r.serve))
		r.anyPath.Handle(strings.TrimSpace(rest), http.NotFoundHandler())
		m.routes = append(m.routes, r)
		m.byPat[pattern] = r
	}()
	if err != nil {
		m.t.Fatalf("reqivotest: bad route %q: %v", pattern, err)
	}
	return r
}

// Reply adds an answer with status and body. Its Content-Type is the one
// Header sets; if none, application/json for a body that is a JSON object
// or array, and otherwise sniffed from body (text/plain for text). Answers
// are given in order, one per call; the last one is repeated.
func (r *Route) Reply(status int, body string) *Route {
	return r.add(&answer{status: status, body: []byte(body)})
}

// JSON adds an answer with status and v marshalled as JSON, with
// Content-Type: application/json. A v that does not marshal fails the test
// at once.
func (r *Route) JSON(status int, v any) *Route {
	b, err := json.Marshal(v)
	if err != nil {
		r.m.t.Helper()
		r.m.t.Fatalf("reqivotest: route %q: JSON answer: %v", r.pattern, err)
		return r
	}
	a := &answer{status: status, body: b, header: http.Header{"Content-Type": {"application/json"}}}
	return r.add(a)
}

// Handle adds an answer served by h, which gets the request with its path
// wildcards (r.PathValue) and its body.
func (r *Route) Handle(h http.Handler) *Route {
	return r.add(&answer{handler: h})
}

// Header sets a header of the last answer added; called before any
// answer, it sets it on every answer of the route.
func (r *Route) Header(key, value string) *Route {
	r.m.mu.Lock()
	defer r.m.mu.Unlock()
	a := r.last()
	if a.header == nil {
		a.header = http.Header{}
	}
	a.header.Add(key, value)
	return r
}

// Delay makes the last answer added wait d (real time: for timeouts) before
// it is sent, or until the request is cancelled; called before any answer,
// it delays every answer of the route.
func (r *Route) Delay(d time.Duration) *Route {
	r.m.mu.Lock()
	defer r.m.mu.Unlock()
	r.last().delay = d
	return r
}

// Times expects the route to be called exactly n times: one call more is
// refused as an unmatched request is, and fewer fail the test when it
// ends. Without Times (or AnyTimes), a route must be called at least once,
// and at least as many times as it has answers.
func (r *Route) Times(n int) *Route {
	r.m.mu.Lock()
	defer r.m.mu.Unlock()
	r.times, r.anyTimes = n, false
	return r
}

// AnyTimes lets the route be called any number of times, none included.
func (r *Route) AnyTimes() *Route {
	r.m.mu.Lock()
	defer r.m.mu.Unlock()
	r.times, r.anyTimes = -1, true
	return r
}

func (r *Route) add(a *answer) *Route {
	r.m.mu.Lock()
	defer r.m.mu.Unlock()
	r.answers = append(r.answers, a)
	return r
}

// last returns the answer Header and Delay change; m.mu is held.
func (r *Route) last() *answer {
	if len(r.answers) == 0 {
		return &r.defaults
	}
	return r.answers[len(r.answers)-1]
}

// Option returns the session option that answers every request from m, in
// process (see Handler). A request m refuses (no route, or a route called
// more than its Times) fails the test and returns an error to the caller,
// with nothing answered: an error from the transport, so it matches
// reqivo.ErrNetwork and a retry policy retries it (the test fails once).
// The session's other options stay valid.
func (m *Mock) Option() reqivo.Option {
	return reqivo.WithOptions(Handler(m), reqivo.WithMiddleware(refusals))
}

// Requests returns the requests that reached the mock, in order, refused
// ones included. Each has its body, read again from the start at each
// call, and a background context.
func (m *Mock) Requests() []*http.Request {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*http.Request, len(m.reqs))
	for i, r := range m.reqs {
		c := r.Clone(context.Background())
		if r.GetBody != nil {
			c.Body, _ = r.GetBody()
		}
		out[i] = c
	}
	return out
}

// ServeHTTP answers r from the route that matches it, and records r.
func (m *Mock) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return // the client went away
	}
	rec := r.Clone(context.Background())
	rec.Body, rec.GetBody = http.NoBody, func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	r.Body = io.NopCloser(bytes.NewReader(body))

	m.mu.Lock()
	m.reqs = append(m.reqs, rec)
	_, pattern := m.mux.Handler(r)
	route := m.byPat[pattern]
	if route == nil {
		msg := "no route for " + describe(r) + m.nearMisses(r)
		m.mu.Unlock()
		m.refuse(w, msg)
		return
	}
	m.mu.Unlock()
	m.mux.ServeHTTP(w, r) // sets the path values and calls route.serve
}

// serve answers one call of the route.
func (r *Route) serve(w http.ResponseWriter, req *http.Request) {
	m := r.m
	m.mu.Lock()
	r.calls++
	if r.times >= 0 && r.calls > r.times {
		msg := fmt.Sprintf("route %q called more than %d times, by %s", r.pattern, r.times, describe(req))
		m.mu.Unlock()
		m.refuse(w, msg)
		return
	}
	a := answer{status: http.StatusOK}
	if len(r.answers) > 0 {
		a = *r.answers[min(r.calls, len(r.answers))-1]
	}
	defaults := r.defaults
	m.mu.Unlock()

	if d := max(a.delay, defaults.delay); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-req.Context().Done():
			t.Stop()
			return
		}
	}
	for k, vs := range defaults.header {
		w.Header()[k] = slices.Clone(vs)
	}
	for k, vs := range a.header {
		w.Header()[k] = slices.Clone(vs)
	}
	if a.handler != nil {
		a.handler.ServeHTTP(w, req)
		return
	}
	if _, set := w.Header()["Content-Type"]; !set && isJSONDocument(a.body) {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(a.status)
	_, _ = w.Write(a.body)
}

// isJSONDocument reports whether b is a JSON object or array, which a
// client reads only when it is labelled JSON.
func isJSONDocument(b []byte) bool {
	b = bytes.TrimLeft(b, " \t\r\n")
	return len(b) > 0 && (b[0] == '{' || b[0] == '[') && json.Valid(b)
}

// refuse fails the test with msg, once for each msg (the retries of a
// request are refused alike), and answers so that the Option's middleware
// returns an error.
func (m *Mock) refuse(w http.ResponseWriter, msg string) {
	m.mu.Lock()
	first := !m.failed[msg]
	m.failed[msg] = true
	m.mu.Unlock()
	if first {
		m.t.Errorf("reqivotest: %s", msg)
	}
	w.Header().Set(errorHeader, msg)
	http.Error(w, "reqivotest: "+msg, http.StatusNotImplemented)
}

// nearMisses names the routes r nearly matched; m.mu is held.
func (m *Mock) nearMisses(r *http.Request) string {
	if len(m.routes) == 0 {
		return "; the mock has no routes"
	}
	var other, same []string
	for _, rt := range m.routes {
		if _, p := rt.anyPath.Handler(r); p != "" {
			other = append(other, strconvQuote(rt.pattern))
		} else if rt.method == "" || rt.method == r.Method || (rt.method == http.MethodGet && r.Method == http.MethodHead) {
			same = append(same, strconvQuote(rt.pattern))
		}
	}
	switch {
	case len(other) > 0:
		return "; routes for the path with another method: " + strings.Join(other, ", ")
	case len(same) > 0:
		return "; routes for " + r.Method + ": " + strings.Join(first(same, 5), ", ")
	}
	return "; no route for method " + r.Method
}

func first(s []string, n int) []string {
	if len(s) > n {
		return append(s[:n:n], fmt.Sprintf("and %d more", len(s)-n))
	}
	return s
}

func strconvQuote(s string) string { return fmt.Sprintf("%q", s) }

// describe names a request a server got: its method and its URL, redacted.
func describe(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return r.Method + " " + reqivo.RedactURL(scheme+"://"+r.Host+r.URL.RequestURI())
}

// verify fails the test for each expected route not called enough.
func (m *Mock) verify() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range m.routes {
		switch {
		case r.anyTimes:
		case r.times >= 0:
			if r.calls < r.times {
				m.t.Errorf("reqivotest: route %q called %d times, want %d", r.pattern, r.calls, r.times)
			}
		case r.calls < max(1, len(r.answers)):
			m.t.Errorf("reqivotest: route %q called %d times, want at least %d", r.pattern, r.calls, max(1, len(r.answers)))
		}
	}
}

// refusals turns a mock's refusal into an error for the caller.
func refusals(next http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		resp, err := next.RoundTrip(req)
		if err != nil {
			return nil, err
		}
		if msg := resp.Header.Get(errorHeader); msg != "" {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			_ = resp.Body.Close()
			return nil, errors.New("reqivotest: " + msg)
		}
		return resp, nil
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }
