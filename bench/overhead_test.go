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

// BenchmarkOverhead: the GET scenario through a canned transport (no
// server, no pool), net/http's Client against a Session with its defaults
// but the transport. It isolates what the library adds per request.
func BenchmarkOverhead(b *testing.B) {
	ctx := context.Background()
	rt := cannedRT{body: fixture.SampleJSON()}
	run := func(b *testing.B, op func() error) {
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
