package reqivo_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/reqivo/reqivo"
)

// Three requests at once on one session, gathered in order.
func ExampleAsyncSession() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s", r.URL.Query().Get("name"))
	}))
	defer srv.Close()

	a, err := reqivo.NewAsyncSession(reqivo.WithBaseURL(srv.URL), reqivo.WithMaxConcurrency(2))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer a.Close() // waits for every request it accepted

	ctx := context.Background()
	var fs []*reqivo.Future
	for _, name := range []string{"ada", "grace", "alan"} {
		fs = append(fs, a.Get(ctx, "/hello", reqivo.Query("name", name)))
	}
	resps, err := reqivo.Gather(ctx, fs...)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range resps {
		fmt.Println(r.StatusCode, r.Text())
	}
	// Output:
	// 200 hello ada
	// 200 hello grace
	// 200 hello alan
}

// Gather keeps going past failures: the failed requests have a nil
// response, and the error joins every failure.
func ExampleGather() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "ok")
	}))
	defer srv.Close()

	a, err := reqivo.NewAsyncSession(reqivo.WithBaseURL(srv.URL))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer a.Close()

	ctx := context.Background()
	resps, err := reqivo.Gather(ctx,
		a.Get(ctx, "/one"),
		a.Get(ctx, "ftp://127.0.0.1/two"), // not http(s): fails before sending
		a.Get(ctx, "/three"),
	)
	for i, r := range resps {
		if r == nil {
			fmt.Println(i, "failed")
			continue
		}
		fmt.Println(i, r.Text())
	}
	fmt.Println("invalid URL:", errors.Is(err, reqivo.ErrInvalidURL))
	// Output:
	// 0 ok
	// 1 failed
	// 2 ok
	// invalid URL: true
}

// A request in the background while the caller does something else.
func ExampleFuture_Wait() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "report ready")
	}))
	defer srv.Close()

	a, err := reqivo.NewAsyncSession(reqivo.WithBaseURL(srv.URL))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer a.Close()

	report := a.Get(context.Background(), "/report")
	fmt.Println("doing other work")
	resp, err := report.Wait()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(resp.Text())
	// Output:
	// doing other work
	// report ready
}
