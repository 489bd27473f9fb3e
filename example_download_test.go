package reqivo_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/reqivo/reqivo"
)

// A download cut off in the middle is continued by the next call.
func ExampleResume() {
	content := bytes.Repeat([]byte("0123456789"), 10_000)
	sum := sha256.Sum256(content)
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"v1"`)
		if calls.Add(1) == 1 {
			// The first answer stops after 40 KB: the connection drops.
			w.Header().Set("Content-Length", fmt.Sprint(len(content)))
			_, _ = w.Write(content[:40_000])
			if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
				conn.Close()
			}
			return
		}
		fmt.Println("server got Range:", r.Header.Get("Range"))
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(content))
	}))
	defer srv.Close()

	dir, err := os.MkdirTemp("", "reqivo-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "file.bin")

	s, err := reqivo.NewSession()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	opts := []reqivo.RequestOption{reqivo.Resume(), reqivo.VerifySHA256(hex.EncodeToString(sum[:]))}

	_, err = s.Download(context.Background(), srv.URL, path, opts...)
	fmt.Println("first call, network error:", errors.Is(err, reqivo.ErrNetwork))
	parts, err := filepath.Glob(path + ".*.part") // <target>.<hash of the URL>.part
	if err != nil || len(parts) != 1 {
		fmt.Println(parts, err)
		return
	}
	part, err := os.Stat(parts[0])
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("part kept:", part.Size(), "bytes")

	resp, err := s.Download(context.Background(), srv.URL, path, opts...)
	if err != nil {
		fmt.Println(err)
		return
	}
	fi, err := os.Stat(path)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(resp.Status, fi.Size(), "bytes, verified")
	// Output:
	// first call, network error: true
	// part kept: 40000 bytes
	// server got Range: bytes=40000-
	// 206 Partial Content 100000 bytes, verified
}
