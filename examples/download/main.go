// Command download shows a download that is interrupted and resumed, from
// a server on 127.0.0.1 in the same process that hangs up in the middle of
// its first answers.
//
//	go run ./examples/download [-o file]
//
// First a call without retries breaks at 40%: it fails, the target is left
// as it was, and what came is kept in <file>.<hash>.part. The next call continues
// the part with Range and If-Range and checks the whole file's SHA-256.
// Then a session with retries gets a file cut twice (at 30% and 60%)
// within one call. It exits non-zero if anything does not go as described.
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/reqivo/reqivo"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "download:", err)
		os.Exit(1)
	}
}

func run() error {
	out := flag.String("o", "", "file to write (default: a new temporary folder)")
	flag.Parse()

	// The file the server offers, and the digest it publishes.
	content := make([]byte, 1<<20)
	for i := range content {
		content[i] = byte(i * 31 >> 3)
	}
	sum := sha256.Sum256(content)
	digest := hex.EncodeToString(sum[:])

	srv, err := startServer(content)
	if err != nil {
		return err
	}
	defer srv.close()

	path := *out
	if path == "" {
		dir, err := os.MkdirTemp("", "reqivo-download")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		path = filepath.Join(dir, "data.bin")
	}
	ctx := context.Background()

	// 1. The connection drops at 40%, and nothing retries it.
	s, err := reqivo.NewSession(reqivo.WithTimeout(time.Minute))
	if err != nil {
		return err
	}
	defer s.Close()
	srv.cutAfter(len(content) * 4 / 10)
	_, err = s.Download(ctx, srv.url, path, reqivo.Resume(), reqivo.VerifySHA256(digest))
	if !errors.Is(err, reqivo.ErrNetwork) {
		return fmt.Errorf("the first call should fail with a network error, got %v", err)
	}
	fmt.Println("1st call failed:", err)
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("no file should be at %s yet (%v)", path, err)
	}
	parts, err := filepath.Glob(path + ".*.part") // <file>.<hash of the URL>.part
	if err != nil || len(parts) != 1 {
		return fmt.Errorf("want one part file, got %v (%v)", parts, err)
	}
	part, err := os.Stat(parts[0])
	if err != nil {
		return err
	}
	fmt.Printf("    %s: none; %s keeps %d of %d bytes\n", filepath.Base(path), filepath.Base(parts[0]), part.Size(), len(content))

	// 2. The next call continues the part.
	resp, err := s.Download(ctx, srv.url, path, reqivo.Resume(), reqivo.VerifySHA256(digest))
	if err != nil {
		return err
	}
	if err := check(path, content); err != nil {
		return err
	}
	fmt.Printf("2nd call: %s for %q, SHA-256 verified: %s holds %d bytes\n",
		resp.Status, srv.lastRange(), filepath.Base(path), len(content))

	// 3. With retries, one call gets through two drops.
	if err := os.Remove(path); err != nil {
		return err
	}
	r, err := reqivo.NewSession(reqivo.WithTimeout(time.Minute),
		reqivo.WithRetry(reqivo.RetryPolicy{MaxAttempts: 3, MinWait: 10 * time.Millisecond}))
	if err != nil {
		return err
	}
	defer r.Close()
	srv.cutAfter(len(content)*3/10, len(content)*3/10)
	resp, err = r.Download(ctx, srv.url, path, reqivo.Resume(), reqivo.VerifySHA256(digest))
	if err != nil {
		return err
	}
	if err := check(path, content); err != nil {
		return err
	}
	fmt.Printf("3rd call, with retries: %d attempts (", resp.Attempts())
	for i, a := range resp.Retries() {
		if i > 0 {
			fmt.Print("; ")
		}
		fmt.Print(a.Err)
	}
	fmt.Printf("), then %s for %q: %d bytes, SHA-256 verified\n", resp.Status, srv.lastRange(), len(content))
	return nil
}

// check compares the file at path with want.
func check(path string, want []byte) error {
	got, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if !bytes.Equal(got, want) {
		return fmt.Errorf("%s does not hold the file", path)
	}
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.Name() != filepath.Base(path) {
			return fmt.Errorf("%s left behind", e.Name())
		}
	}
	return nil
}

// server serves one file with http.ServeContent (Range and If-Range as
// net/http does them) and an ETag, and hangs up in the middle of the next
// answers when told to.
type server struct {
	url  string
	http *http.Server
	done chan struct{}

	mu   sync.Mutex
	cuts []int // body bytes to send before hanging up, for the next answers
	rng  string
}

func startServer(content []byte) (*server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &server{url: "http://" + ln.Addr().String() + "/data.bin", done: make(chan struct{})}
	s.http = &http.Server{
		ReadHeaderTimeout: 10 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s.mu.Lock()
			s.rng = r.Header.Get("Range")
			cut := -1
			if len(s.cuts) > 0 {
				cut, s.cuts = s.cuts[0], s.cuts[1:]
			}
			s.mu.Unlock()
			w.Header().Set("ETag", `"data-v1"`)
			http.ServeContent(&cutWriter{ResponseWriter: w, left: cut}, r, "data.bin", time.Time{}, bytes.NewReader(content))
		}),
	}
	go func() {
		defer close(s.done)
		_ = s.http.Serve(ln)
	}()
	return s, nil
}

func (s *server) cutAfter(n ...int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cuts = append(s.cuts, n...)
}

func (s *server) lastRange() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rng
}

func (s *server) close() {
	_ = s.http.Close()
	<-s.done
}

// cutWriter closes the connection once left body bytes are written (left
// < 0: never).
type cutWriter struct {
	http.ResponseWriter
	left int
}

func (c *cutWriter) Write(p []byte) (int, error) {
	if c.left < 0 || len(p) < c.left {
		n, err := c.ResponseWriter.Write(p)
		if c.left >= 0 {
			c.left -= n
		}
		return n, err
	}
	n, _ := c.ResponseWriter.Write(p[:c.left])
	rc := http.NewResponseController(c.ResponseWriter)
	_ = rc.Flush()
	if conn, _, err := rc.Hijack(); err == nil {
		conn.Close()
	}
	return n, http.ErrAbortHandler
}
