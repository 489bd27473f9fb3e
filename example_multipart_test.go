package reqivo_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"

	"github.com/reqivo/reqivo"
)

func ExampleMultipart() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mr, err := r.MultipartReader()
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		for {
			p, err := mr.NextPart()
			if err != nil {
				return
			}
			b, _ := io.ReadAll(p)
			fmt.Fprintf(w, "%s %q %s: %s\n", p.FormName(), p.FileName(), p.Header.Get("Content-Type"), b)
		}
	}))
	defer srv.Close()

	dir, err := os.MkdirTemp("", "reqivo-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "report.csv")
	if err := os.WriteFile(path, []byte("a,b\n1,2"), 0o600); err != nil {
		fmt.Println(err)
		return
	}

	s, err := reqivo.NewSession()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	resp, err := s.Post(context.Background(), srv.URL, reqivo.Multipart(
		reqivo.FormField("title", "Q3"),
		reqivo.FormFileFromPath("report", path),
		reqivo.FormFile("notes", "notes.txt", strings.NewReader("all good")).ContentType("text/plain"),
	))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(resp.Text())
	// Output:
	// title "" : Q3
	// report "report.csv" text/csv; charset=utf-8: a,b
	// 1,2
	// notes "notes.txt" text/plain: all good
}
