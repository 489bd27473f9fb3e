// Package server is the benchmark's HTTP server, run in its own process
// (by cmd server, or by the benchmarks' TestMain re-running the test
// binary) so that -benchmem counts client allocations only.
//
// It listens on two loopback ports: the data port serves the scenarios
// (GET /json, POST /echo, GET /blob) and counts the connections it
// accepts; the control port answers GET /conns with that count.
package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/reqivo/reqivo/bench/internal/fixture"
)

// EnvVar names the variable that carries "<data addr>,<control addr>"
// from the server to the benchmarks.
const EnvVar = "BENCH_SERVER"

// countingListener counts accepted connections.
type countingListener struct {
	net.Listener
	n atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// Run listens on two loopback ports, writes one line
// "BENCH_SERVER=<data addr>,<control addr>" to out, and serves until ctx
// is done.
func Run(ctx context.Context, out io.Writer) error {
	obj := fixture.SampleJSON()
	objLen := strconv.Itoa(len(obj))
	blob := make([]byte, fixture.BlobSize)
	for i := range blob {
		blob[i] = byte('a' + i%26)
	}
	blobLen := strconv.Itoa(len(blob))

	data := http.NewServeMux()
	data.HandleFunc("GET /json", func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h["Content-Type"] = []string{"application/json"}
		h["Content-Length"] = []string{objLen}
		w.Write(obj)
	})
	// /cached is /json with a day's freshness and a validator, for the
	// cache benchmarks; a query makes a new URI (a miss).
	data.HandleFunc("GET /cached", func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h["Content-Type"] = []string{"application/json"}
		h["Content-Length"] = []string{objLen}
		h["Cache-Control"] = []string{"max-age=86400"}
		h["Etag"] = []string{`"v1"`}
		w.Write(obj)
	})
	// /revalidate is /json that must be revalidated each time (no-cache),
	// confirmed with a 304 when the client holds its ETag.
	data.HandleFunc("GET /revalidate", func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h["Cache-Control"] = []string{"no-cache"}
		h["Etag"] = []string{`"v1"`}
		if r.Header.Get("If-None-Match") == `"v1"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		h["Content-Type"] = []string{"application/json"}
		h["Content-Length"] = []string{objLen}
		w.Write(obj)
	})
	data.HandleFunc("POST /echo", func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		h := w.Header()
		h["Content-Type"] = []string{"application/json"}
		h["Content-Length"] = []string{strconv.Itoa(len(b))}
		w.Write(b)
	})
	data.HandleFunc("GET /blob", func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h["Content-Type"] = []string{"application/octet-stream"}
		h["Content-Length"] = []string{blobLen}
		w.Write(blob)
	})

	// An event stream of n events whose data is size bytes, written in
	// blocks of about 64 KiB built once per size.
	var sseBlocks sync.Map // size -> sseBlock
	data.HandleFunc("GET /sse", func(w http.ResponseWriter, r *http.Request) {
		n, err1 := strconv.Atoi(r.URL.Query().Get("n"))
		size, err2 := strconv.Atoi(r.URL.Query().Get("size"))
		if err1 != nil || err2 != nil || n < 0 || size < 1 || size > 1<<20 {
			http.Error(w, "bad n or size", http.StatusBadRequest)
			return
		}
		v, ok := sseBlocks.Load(size)
		if !ok {
			v, _ = sseBlocks.LoadOrStore(size, newSSEBlock(size))
		}
		blk := v.(sseBlock)
		w.Header()["Content-Type"] = []string{"text/event-stream"}
		for n > 0 {
			k := min(n, blk.events)
			if _, err := w.Write(blk.b[:k*blk.eventLen]); err != nil {
				return
			}
			n -= k
		}
	})

	// An event stream shaped as the SSE standard's examples are: an id on
	// every event, an event type that repeats, and a comment as a
	// keep-alive every tenth event.
	data.HandleFunc("GET /sse-spec", func(w http.ResponseWriter, r *http.Request) {
		n, err1 := strconv.Atoi(r.URL.Query().Get("n"))
		size, err2 := strconv.Atoi(r.URL.Query().Get("size"))
		if err1 != nil || err2 != nil || n < 0 || size < 1 || size > 1<<20 {
			http.Error(w, "bad n or size", http.StatusBadRequest)
			return
		}
		w.Header()["Content-Type"] = []string{"text/event-stream"}
		payload := make([]byte, size)
		for i := range payload {
			payload[i] = byte('a' + i%26)
		}
		buf := make([]byte, 0, 64<<10)
		for i := range n {
			if i%10 == 9 {
				buf = append(buf, ": keep-alive\n"...)
			}
			buf = append(buf, "id: "...)
			buf = strconv.AppendInt(buf, int64(i), 10)
			buf = append(buf, "\nevent: update\ndata: "...)
			buf = append(buf, payload...)
			buf = append(buf, "\n\n"...)
			if len(buf) > 60<<10 {
				if _, err := w.Write(buf); err != nil {
					return
				}
				buf = buf[:0]
			}
		}
		w.Write(buf)
	})

	// JSON Lines: n records of about 96 bytes each.
	data.HandleFunc("GET /ndjson", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.Atoi(r.URL.Query().Get("n"))
		if err != nil || n < 0 {
			http.Error(w, "bad n", http.StatusBadRequest)
			return
		}
		w.Header()["Content-Type"] = []string{"application/x-ndjson"}
		buf := make([]byte, 0, 64<<10)
		for i := range n {
			buf = append(buf, `{"id":`...)
			buf = strconv.AppendInt(buf, int64(1_000_000+i), 10)
			buf = append(buf, `,"name":"record","ok":true,"score":12.5,"tags":["a","b"],"note":"abcdefghijkl"}`+"\n"...)
			if len(buf) > 60<<10 {
				if _, err := w.Write(buf); err != nil {
					return
				}
				buf = buf[:0]
			}
		}
		w.Write(buf)
	})

	dl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	cl := &countingListener{Listener: dl}
	ctrlL, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		dl.Close()
		return err
	}
	ctrl := http.NewServeMux()
	ctrl.HandleFunc("GET /conns", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, cl.n.Load())
	})

	dataSrv := &http.Server{Handler: data, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 5 * time.Minute}
	ctrlSrv := &http.Server{Handler: ctrl, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 2)
	go func() { errc <- dataSrv.Serve(cl) }()
	go func() { errc <- ctrlSrv.Serve(ctrlL) }()
	if _, err := fmt.Fprintf(out, "%s=%s,%s\n", EnvVar, dl.Addr(), ctrlL.Addr()); err != nil {
		return err
	}

	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	dataSrv.Shutdown(sctx)
	ctrlSrv.Shutdown(sctx)
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// sseBlock is a run of identical events: "data: " and size bytes, then a
// blank line.
type sseBlock struct {
	b        []byte
	events   int
	eventLen int
}

func newSSEBlock(size int) sseBlock {
	ev := make([]byte, 0, size+8)
	ev = append(ev, "data: "...)
	for i := range size {
		ev = append(ev, byte('a'+i%26))
	}
	ev = append(ev, "\n\n"...)
	k := max(1, (64<<10)/len(ev))
	b := make([]byte, 0, k*len(ev))
	for range k {
		b = append(b, ev...)
	}
	return sseBlock{b: b, events: k, eventLen: len(ev)}
}
