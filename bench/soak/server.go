// The soak's server side: a child process (so its goroutines and files
// never count against the client's) with the origin on one loopback port
// and a Toxiproxy in front of it on another, cycling faults.

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/Shopify/toxiproxy/v2"
	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// blob is the file Download fetches: 2 MiB that any Range of can be
// checked against.
var blob = func() []byte {
	b := make([]byte, 2<<20)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}()

// origin answers the soak's workloads and counts what it was sent.
type origin struct {
	mu   sync.Mutex
	keys map[string]int // POST Idempotency-Key -> times received
}

func (o *origin) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /get", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"path":%q,"n":%d}`, r.URL.Path, len(r.URL.RawQuery))
	})
	mux.HandleFunc("POST /post", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if k := r.Header.Get("Idempotency-Key"); k != "" {
			o.mu.Lock()
			o.keys[k]++
			o.mu.Unlock()
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	})
	mux.HandleFunc("GET /stream", func(w http.ResponseWriter, r *http.Request) {
		chunk := bytes.Repeat([]byte("s"), 16<<10)
		for range 16 {
			w.Write(chunk)
		}
	})
	mux.HandleFunc("GET /events", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		start := 0
		if id, err := strconv.Atoi(r.Header.Get("Last-Event-ID")); err == nil {
			start = id + 1
		}
		for i := start; i < 20; i++ {
			fmt.Fprintf(w, "id: %d\nevent: tick\ndata: {\"n\":%d}\n\n", i, i)
		}
	})
	mux.HandleFunc("GET /jsonl", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-ndjson")
		for i := range 50 {
			fmt.Fprintf(w, "{\"n\":%d,\"name\":\"line\"}\n", i)
		}
	})
	mux.HandleFunc("GET /file", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"blob-1"`)
		http.ServeContent(w, r, "blob", time.Unix(1_700_000_000, 0), bytes.NewReader(blob))
	})
	mux.HandleFunc("GET /cached", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=1")
		w.Header().Set("ETag", `"c1"`)
		if r.Header.Get("If-None-Match") == `"c1"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Write(bytes.Repeat([]byte("c"), 2048))
	})
	mux.HandleFunc("GET /ws", func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			typ, msg, err := c.Read(r.Context())
			if err != nil {
				return
			}
			if err := c.Write(r.Context(), typ, msg); err != nil {
				return
			}
		}
	})
	mux.HandleFunc("GET /keys", func(w http.ResponseWriter, r *http.Request) {
		o.mu.Lock()
		defer o.mu.Unlock()
		json.NewEncoder(w).Encode(o.keys)
	})
	return mux
}

// faults are the toxics the proxy cycles through, each for a few seconds
// on a share of the connections.
var faults = []string{
	`{"name":"f","type":"latency","toxicity":0.5,"attributes":{"latency":40,"jitter":40}}`,
	`{"name":"f","type":"reset_peer","toxicity":0.1,"attributes":{"timeout":20}}`,
	`{"name":"f","type":"limit_data","toxicity":0.1,"attributes":{"bytes":60000}}`,
	`{"name":"f","type":"timeout","toxicity":0.05,"attributes":{"timeout":1500}}`,
	`{"name":"f","type":"latency","stream":"upstream","toxicity":0.2,"attributes":{"latency":300}}`,
}

// serve runs the child: the origin, the proxy in front of it, and the
// fault cycle. It prints "ready PROXY DIRECT" and runs until stdin closes
// (the parent's exit closes it).
func serve() error {
	o := &origin{keys: map[string]int{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: o.handler(), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)

	api := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	proxy := toxiproxy.NewProxy(api, "origin", "127.0.0.1:0", ln.Addr().String())
	if err := api.Collection.Add(proxy, true); err != nil {
		return err
	}
	fmt.Printf("ready %s %s\n", proxy.Listen, ln.Addr())

	go func() {
		r := rand.New(rand.NewPCG(3, 4))
		for {
			time.Sleep(2 * time.Second)
			f := faults[r.IntN(len(faults))]
			if _, err := proxy.Toxics.AddToxicJson(strings.NewReader(f)); err != nil {
				fmt.Fprintln(os.Stderr, "soak server: toxic:", err)
				continue
			}
			time.Sleep(3 * time.Second)
			proxy.Toxics.ResetToxics(context.Background())
		}
	}()
	// Run until the parent goes.
	_, _ = io.Copy(io.Discard, bufio.NewReader(os.Stdin))
	return nil
}
