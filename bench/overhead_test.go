package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/reqivo/reqivo"

	"github.com/reqivo/reqivo/bench/internal/fixture"
)

// cannedRT answers every request with the JSON object, without a network:
// what is left is the client's own cost per request.
type cannedRT struct{ body []byte }

func (t cannedRT) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{
		StatusCode: http.StatusOK, Status: "200 OK",
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{"Content-Type": {"application/json"}},
		ContentLength: int64(len(t.body)),
		Body:          io.NopCloser(bytes.NewReader(t.body)),
		Request:       r,
	}, nil
}

// echoRT answers every request with its own body, without a network.
type echoRT struct{}

func (echoRT) RoundTrip(r *http.Request) (*http.Response, error) {
	b, err := io.ReadAll(r.Body)
	r.Body.Close()
	if err != nil {
		return nil, err
	}
	return &http.Response{
		StatusCode: http.StatusOK, Status: "200 OK",
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{"Content-Type": {"application/json"}},
		ContentLength: int64(len(b)),
		Body:          io.NopCloser(bytes.NewReader(b)),
		Request:       r,
	}, nil
}

// runInProcess runs op b.N times in this goroutine and reports allocations
// and CPU per op.
func runInProcess(b *testing.B, op func() error) {
	if err := op(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	for range b.N {
		if err := op(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
}

// BenchmarkOverhead: the GET scenario through a canned transport (no
// server, no pool), net/http's Client against a Session with its defaults
// but the transport. It isolates what the library adds per request.
func BenchmarkOverhead(b *testing.B) {
	ctx := context.Background()
	rt := cannedRT{body: fixture.SampleJSON()}
	run := runInProcess
	b.Run("nethttp", func(b *testing.B) {
		c := &http.Client{Transport: rt}
		run(b, func() error {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1:1/json", nil)
			if err != nil {
				return err
			}
			resp, err := c.Do(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			var v fixture.Object
			return json.NewDecoder(resp.Body).Decode(&v)
		})
	})
	b.Run("reqivo", func(b *testing.B) {
		s, err := reqivo.NewSession(reqivo.WithBaseURL("http://127.0.0.1:1"), reqivo.WithTransport(rt))
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		run(b, func() error {
			resp, err := s.Get(ctx, "json")
			if err != nil {
				return err
			}
			var v fixture.Object
			return resp.JSON(&v)
		})
	})
}

// BenchmarkOverheadPOST: the POST scenario through a transport that echoes
// the body, as BenchmarkOverhead.
func BenchmarkOverheadPOST(b *testing.B) {
	ctx := context.Background()
	in := fixture.Sample()
	b.Run("nethttp", func(b *testing.B) {
		c := &http.Client{Transport: echoRT{}}
		runInProcess(b, func() error {
			body, err := json.Marshal(&in)
			if err != nil {
				return err
			}
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://127.0.0.1:1/echo", bytes.NewReader(body))
			if err != nil {
				return err
			}
			req.Header.Set("Content-Type", "application/json")
			resp, err := c.Do(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			var v fixture.Object
			return json.NewDecoder(resp.Body).Decode(&v)
		})
	})
	b.Run("reqivo", func(b *testing.B) {
		s, err := reqivo.NewSession(reqivo.WithBaseURL("http://127.0.0.1:1"), reqivo.WithTransport(echoRT{}))
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		runInProcess(b, func() error {
			resp, err := s.Post(ctx, "echo", reqivo.JSON(&in))
			if err != nil {
				return err
			}
			var v fixture.Object
			return resp.JSON(&v)
		})
	})
}
