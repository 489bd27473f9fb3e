// The SSE scenario: one event stream of many events over loopback, read by
// Reqivo's Events and by the peers' SSE clients. An op is one event:
// ns/op, cpu-ns/op, B/op and allocs/op are per event, and events/s is
// reported beside them. Each stream carries up to sseStreamLen events (the
// last one of a run fewer), so the cost of a request is spread over them.
package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	r3sse "github.com/r3labs/sse/v2"
	gosse "github.com/tmaxmax/go-sse"
	backoff "gopkg.in/cenkalti/backoff.v1"
	"resty.dev/v3"

	"github.com/reqivo/reqivo"
)

const sseStreamLen = 100_000

// sseClient reads one stream of n events from url and returns how many it
// got.
type sseClient struct {
	name string
	new  func() (read func(url string) (int, error), close func(), err error)
}

func sseTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 64
	return t
}

var sseClients = []sseClient{
	{"floor", func() (func(string) (int, error), func(), error) {
		hc := &http.Client{Transport: sseTransport()}
		return func(url string) (int, error) { return sseFloor(hc, url, false) }, hc.CloseIdleConnections, nil
	}},
	{"floor+string", func() (func(string) (int, error), func(), error) {
		hc := &http.Client{Transport: sseTransport()}
		return func(url string) (int, error) { return sseFloor(hc, url, true) }, hc.CloseIdleConnections, nil
	}},
	{"reqivo", func() (func(string) (int, error), func(), error) {
		s, err := reqivo.NewSession()
		if err != nil {
			return nil, nil, err
		}
		return func(url string) (int, error) {
			n := 0
			for ev, err := range s.Events(context.Background(), http.MethodGet, url, reqivo.Reconnect(0)) {
				if err != nil {
					return n, err
				}
				if len(ev.Data) == 0 {
					return n, errors.New("empty event")
				}
				n++
			}
			return n, nil
		}, func() { s.Close() }, nil
	}},
	{"go-sse", func() (func(string) (int, error), func(), error) {
		hc := &http.Client{Transport: sseTransport()}
		c := &gosse.Client{HTTPClient: hc, Backoff: gosse.Backoff{MaxRetries: -1}}
		return func(url string) (int, error) {
			req, err := http.NewRequest(http.MethodGet, url, nil)
			if err != nil {
				return 0, err
			}
			conn := c.NewConnection(req)
			n := 0
			conn.SubscribeToAll(func(ev gosse.Event) {
				if len(ev.Data) > 0 {
					n++
				}
			})
			err = conn.Connect()
			var ce *gosse.ConnectionError
			if errors.As(err, &ce) && (ce.Err == nil || errors.Is(ce.Err, io.EOF)) {
				err = nil // the stream ended and no retry was allowed
			}
			return n, err
		}, hc.CloseIdleConnections, nil
	}},
	{"go-sse Read", func() (func(string) (int, error), func(), error) {
		hc := &http.Client{Transport: sseTransport()}
		return func(url string) (int, error) {
			resp, err := hc.Get(url)
			if err != nil {
				return 0, err
			}
			defer resp.Body.Close()
			n := 0
			for ev, err := range gosse.Read(resp.Body, nil) {
				if err != nil {
					return n, err
				}
				if len(ev.Data) > 0 {
					n++
				}
			}
			return n, nil
		}, hc.CloseIdleConnections, nil
	}},
	{"r3labs/sse", func() (func(string) (int, error), func(), error) {
		hc := &http.Client{Transport: sseTransport()}
		return func(url string) (int, error) {
			c := r3sse.NewClient(url)
			c.Connection = hc
			c.ReconnectStrategy = &backoff.StopBackOff{}
			n := 0
			err := c.SubscribeRawWithContext(context.Background(), func(ev *r3sse.Event) {
				if len(ev.Data) > 0 {
					n++
				}
			})
			return n, err
		}, hc.CloseIdleConnections, nil
	}},
	{"resty-v3", func() (func(string) (int, error), func(), error) {
		tr := sseTransport()
		return func(url string) (int, error) {
			n := 0
			count := func(e any) {
				if len(e.(*resty.SSE).Data) > 0 {
					n++
				}
			}
			es := resty.NewSSESource().SetURL(url).SetTransport(tr).SetRetryCount(0).
				OnMessage(count, nil).AddEventListener("update", count, nil) // the spec stream's type
			err := es.Get()
			if errors.Is(err, io.EOF) {
				err = nil
			}
			return n, err
		}, tr.CloseIdleConnections, nil
	}},
}

// sseFloor is what a careful engineer writes by hand: net/http and a
// bufio.Scanner, data lines gathered per event. With copy, each event's
// data and a changed id or type become strings, as a Data string API must;
// without, nothing is copied.
func sseFloor(hc *http.Client, url string, copy bool) (int, error) {
	resp, err := hc.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var data []byte
	var id, typ, last string
	n := 0
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 {
			if len(data) > 0 {
				if copy {
					last = string(data[:len(data)-1])
				}
				n++
				data = data[:0]
			}
			continue
		}
		if line[0] == ':' {
			continue
		}
		field, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimPrefix(value, []byte(" "))
		switch string(field) {
		case "data":
			data = append(append(data, value...), '\n')
		case "id":
			if copy && string(value) != id {
				id = string(value)
			}
		case "event":
			if copy && string(value) != typ {
				typ = string(value)
			}
		}
	}
	_ = last
	return n, sc.Err()
}

func BenchmarkSSE(b *testing.B) {
	for _, shape := range []struct {
		name  string
		path  string
		bytes int
	}{{"small", "sse", 24}, {"4KiB", "sse", 4 << 10}, {"spec", "sse-spec", 64}} {
		b.Run(shape.name, func(b *testing.B) {
			for _, c := range sseClients {
				b.Run(c.name, func(b *testing.B) { benchSSE(b, c, shape.path, shape.bytes) })
			}
		})
	}
}

func benchSSE(b *testing.B, c sseClient, path string, size int) {
	data, _ := serverAddrs(b)
	read, closeFn, err := c.new()
	if err != nil {
		b.Fatal(err)
	}
	defer closeFn()
	streamBench(b, "events", sseStreamLen, func(n int) (int, error) {
		return read(fmt.Sprintf("http://%s/%s?n=%d&size=%d", data, path, n, size))
	})
}

// streamBench runs b.N items (events, records) as streams of at most
// perStream, after a checked warm-up stream of 100, and reports client CPU
// and items/s beside the usual figures. read reads one stream of n items
// and returns how many it got.
func streamBench(b *testing.B, unit string, perStream int, read func(n int) (int, error)) {
	stream := func(n int) error {
		got, err := read(n)
		if err != nil {
			return err
		}
		if got != n {
			return fmt.Errorf("got %d %s of %d", got, unit, n)
		}
		return nil
	}
	if err := stream(100); err != nil { // warm-up and check
		b.Fatal("check: ", err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	user0, sys0 := cpuSplit()
	for left := b.N; left > 0; left -= perStream {
		if err := stream(min(left, perStream)); err != nil {
			b.Fatal(err)
		}
	}
	user, sys := cpuSplit()
	user, sys = user-user0, sys-sys0
	wall := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64((user+sys).Nanoseconds())/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(user.Nanoseconds())/float64(b.N), "user-ns/op")
	b.ReportMetric(float64(sys.Nanoseconds())/float64(b.N), "sys-ns/op")
	b.ReportMetric(float64(b.N)/wall.Seconds(), unit+"/s")
}
