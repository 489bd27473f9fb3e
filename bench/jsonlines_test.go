// The JSON Lines scenario: one NDJSON stream of many records of about 96
// bytes over loopback, read by Reqivo's JSONLines and by the floor a
// careful engineer writes by hand (net/http and a json.Decoder on the
// body). An op is one record.
package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/reqivo/reqivo"
)

type ndRecord struct {
	ID    int      `json:"id"`
	Name  string   `json:"name"`
	OK    bool     `json:"ok"`
	Score float64  `json:"score"`
	Tags  []string `json:"tags"`
	Note  string   `json:"note"`
}

const ndStreamLen = 100_000

func BenchmarkJSONLines(b *testing.B) {
	clients := []struct {
		name string
		new  func() (read func(url string) (int, error), close func())
	}{
		{"floor", func() (func(string) (int, error), func()) {
			hc := &http.Client{Transport: sseTransport()}
			return func(url string) (int, error) {
				resp, err := hc.Get(url)
				if err != nil {
					return 0, err
				}
				defer resp.Body.Close()
				dec := json.NewDecoder(resp.Body)
				n := 0
				for {
					var v ndRecord
					if err := dec.Decode(&v); err == io.EOF {
						return n, nil
					} else if err != nil {
						return n, err
					}
					if v.Name == "" {
						return n, fmt.Errorf("empty record")
					}
					n++
				}
			}, hc.CloseIdleConnections
		}},
		{"reqivo", func() (func(string) (int, error), func()) {
			s, err := reqivo.NewSession()
			if err != nil {
				b.Fatal(err)
			}
			return func(url string) (int, error) {
				n := 0
				for v, err := range reqivo.JSONLines[ndRecord](context.Background(), s, http.MethodGet, url) {
					if err != nil {
						return n, err
					}
					if v.Name == "" {
						return n, fmt.Errorf("empty record")
					}
					n++
				}
				return n, nil
			}, func() { s.Close() }
		}},
	}
	for _, c := range clients {
		b.Run(c.name, func(b *testing.B) {
			data, _ := serverAddrs(b)
			read, closeFn := c.new()
			defer closeFn()
			streamBench(b, "records", ndStreamLen, func(n int) (int, error) {
				return read(fmt.Sprintf("http://%s/ndjson?n=%d", data, n))
			})
		})
	}
}
