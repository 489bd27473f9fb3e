package reqivo_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/reqivo/reqivo"
)

func ExampleWithObserver() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/old" {
			w.Header().Set("Location", "/new")
			w.WriteHeader(http.StatusFound)
			return
		}
		fmt.Fprint(w, "hello")
	}))
	defer srv.Close()
	short := func(u string) string { return strings.TrimPrefix(u, srv.URL) }

	s, err := reqivo.NewSession(reqivo.WithObserver(reqivo.Observer{
		AttemptEnd: func(_ context.Context, a reqivo.AttemptDone) {
			fmt.Printf("attempt %s: %d, %d bytes\n", short(a.URL), a.StatusCode, a.Bytes)
		},
		Redirect: func(_ context.Context, r reqivo.RedirectInfo) {
			fmt.Printf("redirect %s -> %s, dropped %v\n", short(r.From.URL), short(r.To.URL), r.Dropped)
		},
		RequestEnd: func(_ context.Context, r reqivo.RequestDone) {
			fmt.Printf("request %s: %d after %d redirect(s)\n", short(r.URL), r.StatusCode, r.Redirects)
		},
	}))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	if _, err := s.Get(context.Background(), srv.URL+"/old?api_key=s3cret"); err != nil {
		fmt.Println(err)
	}
	// Output:
	// attempt /old?api_key=xxxxx: 302, 0 bytes
	// redirect /old?api_key=xxxxx -> /new, dropped []
	// attempt /new: 200, 5 bytes
	// request /new: 200 after 1 redirect(s)
}
