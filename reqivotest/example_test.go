package reqivotest_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/reqivo/reqivo"
	"github.com/reqivo/reqivo/reqivotest"
)

// newClient stands for the constructor the code under test uses in
// production: its own options, and room for more.
func newClient(base string, extra ...reqivo.Option) (*reqivo.Session, error) {
	opts := []reqivo.Option{
		reqivo.WithBaseURL(base),
		reqivo.WithLimits(reqivo.Limits{MaxConnsPerHost: 8}),
		reqivo.WithRetry(reqivo.RetryPolicy{MaxAttempts: 3, MaxWait: time.Minute}),
	}
	return reqivo.NewSession(append(opts, extra...)...)
}

func ExampleHandler() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/users/{id}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":%q,"name":"Ada"}`, r.PathValue("id"))
	})

	s, err := newClient("https://api.example.com/v1/", reqivotest.Handler(mux))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	resp, err := s.Get(context.Background(), "users/42")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(resp.StatusCode, resp.Text(), resp.TLS != nil)
	// Output: 200 {"id":"42","name":"Ada"} true
}

func ExampleNewMock() {
	t := exampleT() // in a test: the test's t
	defer t.end()

	m := reqivotest.NewMock(t)
	m.On("GET /users/{id}").JSON(200, map[string]string{"name": "Ada"})
	m.On("POST /orders").
		Reply(503, "busy").Header("Retry-After", "10"). // answers in turn
		Reply(201, `{"id":1}`).Header("Location", "/orders/1")

	s, err := newClient("https://api.example.com/", m.Option(), reqivotest.InstantWaits())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	ctx := context.Background()
	resp, err := s.Get(ctx, "users/7")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(resp.StatusCode, resp.Text())
	resp, err = s.Post(ctx, "orders", reqivo.Header("Idempotency-Key", "k1"), reqivo.JSON(map[string]int{"qty": 2}))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(resp.StatusCode, resp.Header.Get("Location"))

	_, err = s.Post(ctx, "users/7") // no route: the test fails, the caller gets an error
	fmt.Println(err != nil)
	for _, r := range m.Requests() {
		fmt.Println(r.Method, r.URL.Path)
	}
	// Output:
	// 200 {"name":"Ada"}
	// 201 /orders/1
	// test failed: reqivotest: no route for POST https://api.example.com/users/7; routes for the path with another method: "GET /users/{id}"
	// true
	// GET /users/7
	// POST /orders
	// POST /orders
	// POST /users/7
}

func ExampleCassette() {
	t := exampleT() // in a test: the test's t
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "sid", Value: "s3cr3t-session"})
		fmt.Fprintf(w, "hello %s", r.URL.Query().Get("name"))
	}))
	dir, err := os.MkdirTemp("", "cassette")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "hello.cassette")

	run := func() {
		s, err := newClient(api.URL, reqivotest.Cassette(t, path), reqivo.WithBearerToken("t0ken-value"))
		if err != nil {
			fmt.Println(err)
			return
		}
		defer s.Close()
		resp, err := s.Get(context.Background(), "/hello?name=ada&api_key=k3y-value")
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(resp.Text(), len(s.Cookies("")))
	}
	run()   // no file yet: records over the network
	t.end() // the test ends: the file is written
	api.Close()
	run() // replays, with the server gone
	t.end()

	file, _ := os.ReadFile(path)
	for _, line := range strings.Split(string(file), "\n") {
		if strings.HasPrefix(line, "GET ") {
			line = "GET " + line[strings.Index(line, "/hello"):]
		}
		if strings.HasPrefix(line, "GET ") || strings.HasPrefix(line, "Authorization") || strings.HasPrefix(line, "Set-Cookie") || strings.HasPrefix(line, "|") {
			fmt.Println(line)
		}
	}
	// Output:
	// hello ada 1
	// hello ada 1
	// GET /hello?name=ada&api_key=REDACTED
	// Authorization: Bearer REDACTED-1
	// Set-Cookie: sid=REDACTED-2
	// | hello ada
}

func ExampleInstantWaits() {
	t := exampleT() // in a test: the test's t
	defer t.end()
	m := reqivotest.NewMock(t)
	m.On("GET /report").Reply(429, "").Header("Retry-After", "20").Reply(200, "ready")
	clock := reqivotest.NewClock()

	s, err := newClient("http://api.example.com/", m.Option(), clock.Option())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	start := time.Now()
	resp, err := s.Get(context.Background(), "report")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(resp.Text(), clock.Waits(), time.Since(start) < 10*time.Second)
	// Output: ready [20s] true
}

// exampleTB is the testing.TB of an example: a failure is printed, and
// end runs the cleanups as the end of a test does.
type exampleTB struct {
	testing.TB
	cleanups []func()
}

func exampleT() *exampleTB { return &exampleTB{} }

func (t *exampleTB) Helper()                   {}
func (t *exampleTB) Cleanup(f func())          { t.cleanups = append(t.cleanups, f) }
func (t *exampleTB) Errorf(f string, a ...any) { fmt.Printf("test failed: "+f+"\n", a...) }
func (t *exampleTB) Fatalf(f string, a ...any) { t.Errorf(f, a...) }
func (t *exampleTB) Logf(string, ...any)       {}

func (t *exampleTB) end() {
	for i := len(t.cleanups) - 1; i >= 0; i-- {
		t.cleanups[i]()
	}
	t.cleanups = nil
}
