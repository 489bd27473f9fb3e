package reqivo_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"

	"github.com/reqivo/reqivo"
)

func ExampleWithLogger() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "hello")
	}))
	defer srv.Close()

	// A text handler; the time, the duration, the response headers and the
	// User-Agent are dropped and the server's address hidden only to keep
	// the output stable.
	handler := slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		Level: slog.LevelDebug,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) > 0 && (groups[0] == "response_headers" || a.Key == "User-Agent") {
				return slog.Attr{}
			}
			switch a.Key {
			case slog.TimeKey, "duration":
				return slog.Attr{}
			case "url":
				return slog.String("url", "http://server/"+a.Value.String()[len(srv.URL)+1:])
			}
			return a
		},
	})
	s, err := reqivo.NewSession(reqivo.WithLogger(slog.New(handler)), reqivo.WithBearerToken("s3cret"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	for range 2 {
		if _, err := s.Get(context.Background(), srv.URL+"/greeting?api_key=s3cret&lang=en"); err != nil {
			fmt.Println(err)
			return
		}
	}
	// Output:
	// level=DEBUG msg="reqivo: attempt" method=GET url="http://server/greeting?api_key=xxxxx&lang=en" attempt=1 status=200 bytes=5 reused=false request_headers.Accept-Encoding="gzip, deflate" request_headers.Authorization=xxxxx
	// level=DEBUG msg="reqivo: attempt" method=GET url="http://server/greeting?api_key=xxxxx&lang=en" attempt=1 status=200 bytes=5 reused=true request_headers.Accept-Encoding="gzip, deflate" request_headers.Authorization=xxxxx
}
