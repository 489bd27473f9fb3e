package reqivo_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"

	"github.com/reqivo/reqivo"
)

func ExampleSession_Download() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100000")
		fmt.Fprint(w, strings.Repeat("x", 100000))
	}))
	defer srv.Close()

	dir, err := os.MkdirTemp("", "reqivo-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)

	s, err := reqivo.NewSession()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	var percent int64
	_, err = s.Download(context.Background(), srv.URL, filepath.Join(dir, "file.bin"),
		reqivo.OnDownloadProgress(func(done, total int64) {
			if total > 0 {
				percent = done * 100 / total // a progress bar would redraw here
			}
		}))
	if err != nil {
		fmt.Println(err)
		return
	}
	fi, err := os.Stat(filepath.Join(dir, "file.bin"))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%d%%, %d bytes\n", percent, fi.Size())
	// Output:
	// 100%, 100000 bytes
}

func ExampleOnUploadProgress() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()

	s, err := reqivo.NewSession()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	var sent, size int64
	_, err = s.Post(context.Background(), srv.URL, reqivo.BodyString(strings.Repeat("y", 5000)),
		reqivo.OnUploadProgress(func(done, total int64) { sent, size = done, total }))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("sent %d of %d\n", sent, size)
	// Output:
	// sent 5000 of 5000
}
