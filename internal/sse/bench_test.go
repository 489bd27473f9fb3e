package sse

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

// benchStream is n events of the two shapes of bench/sse_test.go, in
// memory: small events, or events with an id, a type and a comment every
// tenth.
func benchStream(shape string, n int) string {
	var b strings.Builder
	for i := range n {
		switch shape {
		case "small":
			b.WriteString("data: " + strings.Repeat("x", 24) + "\n\n")
		case "spec":
			if i%10 == 9 {
				b.WriteString(": keep-alive\n")
			}
			fmt.Fprintf(&b, "id: %d\nevent: update\ndata: %s\n\n", i, strings.Repeat("abcdefgh", 8))
		}
	}
	return b.String()
}

// BenchmarkParser: an op is one event, parsed from memory by the Parser or
// by a bufio.Scanner that copies nothing (the floor of bench/sse_test.go
// without its network), so that the parser's own cost shows.
func BenchmarkParser(b *testing.B) {
	const events = 10_000
	for _, shape := range []string{"small", "spec"} {
		stream := benchStream(shape, events)
		r := strings.NewReader(stream)
		b.Run(shape+"/parser", func(b *testing.B) {
			p := NewParser(1<<20, time.Hour)
			b.ReportAllocs()
			for left := b.N; left > 0; left -= events {
				r.Reset(stream)
				p.Reset(r)
				for range min(left, events) {
					if _, err := p.Next(); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
		b.Run(shape+"/floor", func(b *testing.B) {
			buf := make([]byte, 64<<10)
			b.ReportAllocs()
			for left := b.N; left > 0; left -= events {
				r.Reset(stream)
				if n := scanEvents(r, buf, min(left, events)); n != min(left, events) {
					b.Fatalf("%d events of %d", n, min(left, events))
				}
			}
		})
	}
}

// scanEvents counts up to n events of r with a bufio.Scanner, data lines
// gathered per event as the floor in bench/ does, nothing else kept.
func scanEvents(r io.Reader, buf []byte, n int) int {
	sc := bufio.NewScanner(r)
	sc.Buffer(buf, 1<<20)
	var data []byte
	got := 0
	for got < n && sc.Scan() {
		line := sc.Bytes()
		switch {
		case len(line) == 0:
			if len(data) > 0 {
				got++
				data = data[:0]
			}
		case line[0] == ':':
		default:
			field, value, _ := bytes.Cut(line, []byte(":"))
			if string(field) == "data" {
				data = append(append(data, bytes.TrimPrefix(value, []byte(" "))...), '\n')
			}
		}
	}
	return got
}
