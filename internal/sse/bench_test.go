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

// benchStreams are the two shapes of bench/sse_test.go, in memory: small
// events, and events with an id, a type and a comment every tenth.
func benchStream(shape string, events int) string {
	var b strings.Builder
	for i := range events {
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
// by the bench module's floor (a bufio.Scanner, nothing copied).
func BenchmarkParser(b *testing.B) {
	report := func(b *testing.B, f func()) {
		b.ReportAllocs()
		var cpu0 time.Duration
		if cpuNow != nil {
			cpu0 = cpuNow()
		}
		f()
		if cpuNow != nil {
			b.ReportMetric(float64(cpuNow()-cpu0)/float64(b.N), "cpu-ns/op")
		}
	}
	const events = 10_000
	for _, shape := range []string{"small", "spec"} {
		stream := benchStream(shape, events)
		r := strings.NewReader(stream)
		b.Run(shape+"/parser", func(b *testing.B) {
			p := NewParser(1<<20, time.Hour)
			report(b, func() {
				for left := b.N; left > 0; left -= events {
					r.Reset(stream)
					p.Reset(r)
					for n := 0; n < min(left, events); n++ {
						if _, err := p.Next(); err != nil {
							b.Fatal(err)
						}
					}
				}
			})
		})
		b.Run(shape+"/floor", func(b *testing.B) {
			buf := make([]byte, 64<<10)
			report(b, func() {
				for left := b.N; left > 0; left -= events {
					r.Reset(stream)
					if n := scanFloor(r, buf, min(left, events)); n != min(left, events) {
						b.Fatal(n)
					}
				}
			})
		})
	}
}

func scanFloor(r io.Reader, buf []byte, want int) int {
	sc := bufio.NewScanner(r)
	sc.Buffer(buf, 1<<20)
	var data []byte
	n := 0
	for n < want && sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 {
			if len(data) > 0 {
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
		case "id", "event":
		}
	}
	return n
}

// cpuNow, when set, reads the process's CPU time, so that a benchmark
// reports it beside wall time.
var cpuNow func() time.Duration
