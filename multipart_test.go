package reqivo

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// How long assert.Eventually waits for what a goroutine does.
const (
	eventuallyWait = 5 * time.Second
	eventuallyTick = 5 * time.Millisecond
)

// receivedPart is what setupMultipartServer saw of one part.
type receivedPart struct {
	Name        string `json:"name"`
	Filename    string `json:"filename"`
	ContentType string `json:"content_type"`
	Size        int    `json:"size"`
	SHA256      string `json:"sha256"`
	Value       string `json:"value"`
}

type received struct {
	ContentLength int64          `json:"content_length"`
	BodyBytes     int64          `json:"body_bytes"`
	Chunked       bool           `json:"chunked"`
	Parts         []receivedPart `json:"parts"`
}

// setupMultipartServer parses multipart bodies as a server would and
// answers with what it got; hits counts the requests that reached it.
func setupMultipartServer(t testing.TB, hits *atomic.Int32) string {
	t.Helper()
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		if hits != nil {
			hits.Add(1)
		}
		mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
			http.Error(w, "bad content type", http.StatusBadRequest)
			return
		}
		cr := &countReader{r: r.Body}
		r.Body = io.NopCloser(cr)
		mr, err := r.MultipartReader()
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		out := received{ContentLength: r.ContentLength, Chunked: len(r.TransferEncoding) > 0}
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			b, err := io.ReadAll(p)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			sum := sha256.Sum256(b)
			rp := receivedPart{Name: p.FormName(), Filename: p.FileName(), ContentType: p.Header.Get("Content-Type"),
				Size: len(b), SHA256: hex.EncodeToString(sum[:])}
			if p.FileName() == "" {
				rp.Value = string(b)
			}
			out.Parts = append(out.Parts, rp)
		}
		_, _ = io.Copy(io.Discard, cr)
		out.BodyBytes = cr.n
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	})
	return srv.URL
}

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// trackedReader records whether it was closed.
type trackedReader struct {
	io.Reader
	closed atomic.Bool
}

func (r *trackedReader) Close() error {
	r.closed.Store(true)
	return nil
}

func TestMultipart(t *testing.T) {
	t.Parallel()
	base := setupMultipartServer(t, nil)
	dir := t.TempDir()
	big := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB, far over the pipe's and the transport's buffers
	bigPath := filepath.Join(dir, "big.bin")
	require.NoError(t, os.WriteFile(bigPath, big, 0o600))
	notePath := filepath.Join(dir, `no"te.txt`)
	require.NoError(t, os.WriteFile(notePath, []byte("a note"), 0o600))

	tests := []struct {
		name    string
		parts   func() []Part
		want    []receivedPart
		chunked bool
	}{
		{
			name:  "fields",
			parts: func() []Part { return []Part{FormField("a", "1"), FormField(`we"ird`, "two words")} },
			want:  []receivedPart{{Name: "a", Value: "1", Size: 1}, {Name: `we"ird`, Value: "two words", Size: 9}},
		},
		{
			name: "files from paths",
			parts: func() []Part {
				return []Part{FormField("title", "t"), FormFileFromPath("big", bigPath), FormFileFromPath("note", notePath)}
			},
			want: []receivedPart{
				{Name: "title", Value: "t", Size: 1},
				{Name: "big", Filename: "big.bin", ContentType: "application/octet-stream", Size: len(big)},
				{Name: "note", Filename: `no"te.txt`, ContentType: "text/plain; charset=utf-8", Size: 6},
			},
		},
		{
			name:  "a field with a Content-Type",
			parts: func() []Part { return []Part{FormField("meta", `{"a":1}`).ContentType("application/json")} },
			want:  []receivedPart{{Name: "meta", ContentType: "application/json", Value: `{"a":1}`, Size: 7}},
		},
		{
			name: "byte readers have a length",
			parts: func() []Part {
				return []Part{FormFile("f", "x.json", strings.NewReader(`{"a":1}`)), FormFile("g", "g", bytes.NewBufferString("gg")).ContentType("image/png")}
			},
			want: []receivedPart{
				{Name: "f", Filename: "x.json", ContentType: "application/json", Size: 7},
				{Name: "g", Filename: "g", ContentType: "image/png", Size: 2},
			},
		},
		{
			name: "other readers are chunked",
			parts: func() []Part {
				return []Part{FormFile("f", "f.bin", io.MultiReader(bytes.NewReader(big))), FormField("after", "yes")}
			},
			want: []receivedPart{
				{Name: "f", Filename: "f.bin", ContentType: "application/octet-stream", Size: len(big)},
				{Name: "after", Value: "yes", Size: 3},
			},
			chunked: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newTestSession(t)
			var last, calls atomic.Int64
			var total atomic.Int64
			resp, err := s.Post(context.Background(), base, Multipart(tt.parts()...),
				OnUploadProgress(func(done, tot int64) { last.Store(done); total.Store(tot); calls.Add(1) }))
			require.NoError(t, err)
			require.Equal(t, 200, resp.StatusCode, resp.Text())
			var got received
			require.NoError(t, resp.JSON(&got))
			for i := range got.Parts {
				require.Less(t, i, len(tt.want))
				if tt.want[i].Value == "" {
					if tt.want[i].Name == "big" || tt.want[i].Name == "f" && tt.chunked {
						assert.Equal(t, sha(big), got.Parts[i].SHA256)
					}
				}
				got.Parts[i].SHA256 = ""
			}
			assert.Equal(t, tt.want, got.Parts)
			assert.Equal(t, tt.chunked, got.Chunked)
			assert.Equal(t, got.BodyBytes, last.Load(), "upload progress counts every byte")
			assert.Positive(t, calls.Load())
			if tt.chunked {
				assert.Equal(t, int64(-1), got.ContentLength)
				assert.Equal(t, int64(-1), total.Load())
			} else {
				assert.Equal(t, got.BodyBytes, got.ContentLength, "the computed Content-Length is exact")
				assert.Equal(t, got.BodyBytes, total.Load())
			}
		})
	}
}

func TestMultipartInvalid(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	base := setupMultipartServer(t, &hits)
	s := newTestSession(t)
	dir := t.TempDir()
	tests := []struct {
		name string
		opts []RequestOption
		kind error
	}{
		{"zero part", []RequestOption{Multipart(Part{})}, ErrInvalidOption},
		{"no name", []RequestOption{Multipart(FormField("", "v"))}, ErrInvalidOption},
		{"nil reader", []RequestOption{Multipart(FormFile("f", "f", nil))}, ErrInvalidOption},
		{"missing file", []RequestOption{Multipart(FormFileFromPath("f", filepath.Join(dir, "nope")))}, ErrInvalidOption},
		{"directory", []RequestOption{Multipart(FormFileFromPath("f", dir))}, ErrInvalidOption},
		{"CRLF in name", []RequestOption{Multipart(FormField("a\r\nX-Evil: 1", "v"))}, ErrInvalidHeader},
		{"CRLF in filename", []RequestOption{Multipart(FormFile("f", "a\r\nb", strings.NewReader("")))}, ErrInvalidHeader},
		{"LF in content type", []RequestOption{Multipart(FormFile("f", "a", strings.NewReader("")).ContentType("a/b\nX: y"))}, ErrInvalidHeader},
		{"two bodies", []RequestOption{BodyString("x"), Multipart(FormField("a", "b"))}, ErrInvalidOption},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Post(context.Background(), base, tt.opts...)
			assert.ErrorIs(t, err, tt.kind)
			var re *RequestError
			assert.ErrorAs(t, err, &re)
		})
	}
	assert.Zero(t, hits.Load(), "nothing was sent")
}

// A multipart request that fails before it is sent starts no goroutine
// and closes the readers it was given (goleak checks the goroutines after
// the package's tests).
func TestMultipartEarlyFailureClosesReaders(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	base := setupMultipartServer(t, &hits)
	tests := []struct {
		name string
		run  func(s *Session, r io.Reader) error
	}{
		{"later option fails", func(s *Session, r io.Reader) error {
			_, err := s.Post(context.Background(), base, Multipart(FormFile("f", "f", r)), Header("Bad\n", "x"))
			return err
		}},
		{"another body before it", func(s *Session, r io.Reader) error {
			_, err := s.Post(context.Background(), base, BodyString("x"), Multipart(FormFile("f", "f", r)))
			return err
		}},
		{"other part invalid", func(s *Session, r io.Reader) error {
			_, err := s.Post(context.Background(), base, Multipart(FormFile("f", "f", r), FormField("", "x")))
			return err
		}},
		{"bad URL", func(s *Session, r io.Reader) error {
			_, err := s.Post(context.Background(), "ftp://x", Multipart(FormFile("f", "f", r)))
			return err
		}},
		{"closed session", func(s *Session, r io.Reader) error {
			require.NoError(t, s.Close())
			_, err := s.Post(context.Background(), base, Multipart(FormFile("f", "f", r)))
			return err
		}},
		{"hook refuses", func(s *Session, r io.Reader) error {
			s.OnRequest(func(*http.Request) error { return errorf(ErrInvalidOption, "no") })
			_, err := s.Post(context.Background(), base, Multipart(FormFile("f", "f", r)))
			return err
		}},
		{"canceled context", func(s *Session, r io.Reader) error {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			_, err := s.Post(ctx, base, Multipart(FormFile("f", "f", r)))
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewSession()
			require.NoError(t, err)
			defer s.Close()
			r := &trackedReader{Reader: strings.NewReader("content")}
			assert.Error(t, tt.run(s, r))
			assert.Eventually(t, r.closed.Load, eventuallyWait, eventuallyTick)
		})
	}
	assert.Zero(t, hits.Load())
}

// A multipart body is sent once: not retried, and a 307 is handed back.
func TestMultipartNotReplayed(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, "/other", http.StatusTemporaryRedirect)
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	s := newTestSession(t, WithRetry(RetryPolicy{MaxAttempts: 3}))
	s.clock.sleep = func(ctx context.Context, _ time.Duration) error { return ctx.Err() }
	resp, err := s.Put(context.Background(), srv.URL+"/unavailable", Multipart(FormField("a", "b")))
	require.NoError(t, err)
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Equal(t, int32(1), hits.Load())

	resp, err = s.Put(context.Background(), srv.URL+"/redirect", Multipart(FormField("a", "b")))
	require.NoError(t, err)
	assert.Equal(t, http.StatusTemporaryRedirect, resp.StatusCode)
	assert.Equal(t, int32(2), hits.Load())
}

// A server that answers without reading the body stops the writer.
func TestMultipartServerAnswersEarly(t *testing.T) {
	t.Parallel()
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		http.Error(w, "too large", http.StatusRequestEntityTooLarge)
	})
	s := newTestSession(t)
	r := &trackedReader{Reader: io.MultiReader(bytes.NewReader(make([]byte, 2<<20)))}
	resp, err := s.Post(context.Background(), srv.URL, Multipart(FormFile("f", "f", r)))
	if err == nil {
		assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
	}
	assert.Eventually(t, r.closed.Load, eventuallyWait, eventuallyTick)
}

// lyingLen claims a length its content does not have.
type lyingLen struct {
	io.Reader
	n int
}

func (l lyingLen) Len() int { return l.n }

func TestMultipartSizeChanged(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	base := setupMultipartServer(t, &hits)
	s := newTestSession(t)
	for _, tc := range []struct {
		name    string
		content string
		claimed int
	}{
		{"grew", "0123456789", 4},
		{"shrank", "0123", 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Post(context.Background(), base, Multipart(FormFile("f", "f", lyingLen{strings.NewReader(tc.content), tc.claimed})))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.name)
		})
	}
}

// gatedReader gives its first chunk, then waits for open before the rest:
// a body that held the file whole before sending it would never get past
// the first chunk.
type gatedReader struct {
	first, rest []byte
	open        <-chan struct{}
}

func (g *gatedReader) Read(p []byte) (int, error) {
	if len(g.first) > 0 {
		n := copy(p, g.first)
		g.first = g.first[n:]
		return n, nil
	}
	if g.open != nil {
		select {
		case <-g.open:
		case <-time.After(eventuallyWait):
			return 0, errors.New("the server never got the start of the file: the body is not streamed")
		}
		g.open = nil
	}
	if len(g.rest) == 0 {
		return 0, io.EOF
	}
	n := copy(p, g.rest)
	g.rest = g.rest[n:]
	return n, nil
}

// The file is streamed: the server reads the start of it while the rest
// has not been read from the caller's reader yet.
func TestMultipartStreamsTheFile(t *testing.T) {
	t.Parallel()
	gotStart := make(chan struct{})
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		mr, err := r.MultipartReader()
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		p, err := mr.NextPart()
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		start := make([]byte, 4)
		if _, err := io.ReadFull(p, start); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		close(gotStart)
		rest, err := io.ReadAll(p)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		_, _ = fmt.Fprintf(w, "%s+%d", start, len(rest))
	})
	s := newTestSession(t)
	r := &gatedReader{first: []byte("head"), rest: bytes.Repeat([]byte("x"), 1<<20), open: gotStart}
	resp, err := s.Post(context.Background(), srv.URL, Multipart(FormFile("f", "f.bin", r)))
	require.NoError(t, err)
	assert.Equal(t, "head+1048576", resp.Text())
}
