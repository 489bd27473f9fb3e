package sse

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"time"
	"unicode/utf8"

	"github.com/reqivo/reqivo/internal/lines"
	"github.com/reqivo/reqivo/internal/linetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// parseSSE parses in whole with a parser capped at maxEvent bytes, reading
// through wrap, and returns the events, the last event ID string, and the
// error that ended the stream (nil for io.EOF).
func parseSSE(in string, maxEvent int64, wrap func(io.Reader) io.Reader) ([]Event, *Parser, error) {
	p := NewParser(maxEvent, time.Hour)
	p.Reset(wrap(strings.NewReader(in)))
	var evs []Event
	for {
		ev, err := p.Next()
		if err == io.EOF {
			return evs, p, nil
		}
		if err != nil {
			return evs, p, err
		}
		evs = append(evs, ev)
	}
}

func msg(id, data string) Event { return Event{ID: id, Type: "message", Data: data} }

// TestSSEParserSpec runs the parsing rules of the WHATWG standard, each
// input read whole, one byte at a time, and in reads of every other size,
// so that a line end split across reads is covered.
func TestSSEParserSpec(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		in     string
		want   []Event
		lastID string
	}{
		{"data with and without a space", "data: a\n\ndata:b\n\ndata:  c\n\n", []Event{msg("", "a"), msg("", "b"), msg("", " c")}, ""},
		{"multi-line data joined with LF", "data: one\ndata: two\ndata\n\n", []Event{msg("", "one\ntwo\n")}, ""},
		{"empty data field is an event", "data\n\ndata:\n\n", []Event{msg("", ""), msg("", "")}, ""},
		{"two empty data lines", "data:\ndata:\n\n", []Event{msg("", "\n")}, ""},
		{"event type, reset after dispatch", "event: add\ndata: 1\n\ndata: 2\n\n", []Event{{Type: "add", Data: "1"}, msg("", "2")}, ""},
		{"empty event field is message", "event:\ndata: x\n\n", []Event{msg("", "x")}, ""},
		{"no data, no event", "event: x\n\nid: 7\n\nretry: 10\n\n", nil, "7"},
		{"id carried across events", "id: 1\ndata: a\n\ndata: b\n\nid\ndata: c\n\n", []Event{msg("1", "a"), msg("1", "b"), msg("", "c")}, ""},
		{"id with NUL ignored", "id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n", []Event{msg("1", "a"), msg("1", "b")}, "1"},
		{"id without data updates the last ID", "id: 5\n\ndata: x\n\n", []Event{msg("5", "x")}, "5"},
		{"retry on its event", "retry: 1500\ndata: x\n\ndata: y\n\n", []Event{{Type: "message", Data: "x", Retry: 1500 * time.Millisecond}, msg("", "y")}, ""},
		{"retry not all digits ignored", "retry: 15x\ndata: x\n\nretry: -1\ndata: y\n\nretry:\ndata: z\n\n", []Event{msg("", "x"), msg("", "y"), msg("", "z")}, ""},
		{"comments are heartbeats", ": ping\n:\n\ndata: x\n: in the middle\ndata: y\n\n", []Event{msg("", "x\ny")}, ""},
		{"unknown fields and case ignored", "Data: no\nfoo: bar\ndata: yes\n\n", []Event{msg("", "yes")}, ""},
		{"field without colon", "data\nevent\n\n", []Event{msg("", "")}, ""},
		{"colon in value kept", "data: a: b\n\n", []Event{msg("", "a: b")}, ""},
		{"CR line ends", "data: a\rdata: b\r\rdata: c\r\r", []Event{msg("", "a\nb"), msg("", "c")}, ""},
		{"CRLF line ends", "data: a\r\ndata: b\r\n\r\ndata: c\r\n\r\n", []Event{msg("", "a\nb"), msg("", "c")}, ""},
		{"mixed line ends", "data: a\r\n\ndata: b\r\rdata: c\n\r\n", []Event{msg("", "a"), msg("", "b"), msg("", "c")}, ""},
		{"LF CR is two line ends", "data: a\n\rdata: b\n\n", []Event{msg("", "a"), msg("", "b")}, ""},
		{"BOM skipped", "\xEF\xBB\xBFdata: a\n\n", []Event{msg("", "a")}, ""},
		{"second BOM is part of the field name", "\xEF\xBB\xBF\xEF\xBB\xBFdata: a\n\ndata: b\n\n", []Event{msg("", "b")}, ""},
		{"BOM alone", "\xEF\xBB\xBF", nil, ""},
		{"unterminated last event dropped", "data: a\n\ndata: b\n", []Event{msg("", "a")}, ""},
		{"unterminated last line dropped", "data: a\n\ndata: b", []Event{msg("", "a")}, ""},
		{"unterminated id not dispatched", "data: a\n\nid: 9\n", []Event{msg("", "a")}, ""},
		{"invalid UTF-8 replaced", "data: a\xffb\n\n", []Event{msg("", "a\uFFFDb")}, ""},
		{"invalid UTF-8 in a new id", "id: 1\xff\ndata: a\n\ndata: b\n\n", []Event{{ID: "1\uFFFD", Type: "message", Data: "a"}, {ID: "1\uFFFD", Type: "message", Data: "b"}}, "1\uFFFD"},
		{"invalid UTF-8 in data with a new id", "id: 2\ndata: \xff\n\n", []Event{{ID: "2", Type: "message", Data: "\uFFFD"}}, "2"},
		{"ids change and carry", "id: 1\ndata: a\n\nid: 22\ndata: bb\n\ndata: c\n\n", []Event{{ID: "1", Type: "message", Data: "a"}, {ID: "22", Type: "message", Data: "bb"}, {ID: "22", Type: "message", Data: "c"}}, "22"},
		{"empty stream", "", nil, ""},
		{"leading blank lines", "\n\n\r\ndata: x\n\n", []Event{msg("", "x")}, ""},
	}
	readers := map[string]func(io.Reader) io.Reader{
		"whole":    func(r io.Reader) io.Reader { return r },
		"one byte": iotest.OneByteReader,
		"half":     iotest.HalfReader,
		"data+EOF": iotest.DataErrReader,
	}
	for _, tt := range tests {
		for rname, wrap := range readers {
			t.Run(tt.name+"/"+rname, func(t *testing.T) {
				t.Parallel()
				got, p, err := parseSSE(tt.in, 1<<20, wrap)
				require.NoError(t, err)
				assert.Equal(t, tt.want, got)
				assert.Equal(t, tt.lastID, p.LastID())
			})
		}
	}
}

func TestSSEParserRetrySetsReconnectionTime(t *testing.T) {
	t.Parallel()
	_, p, err := parseSSE("retry: 250\n\n", 1<<20, func(r io.Reader) io.Reader { return r })
	require.NoError(t, err)
	d, ok := p.Reconnect()
	assert.True(t, ok)
	assert.Equal(t, 250*time.Millisecond, d)

	_, p, err = parseSSE("retry: 99999999999999999999999\n\n", 1<<20, func(r io.Reader) io.Reader { return r })
	require.NoError(t, err)
	d, _ = p.Reconnect()
	assert.Equal(t, time.Hour, d, "a huge retry is capped, never wraps negative")
}

func TestSSEParserKeepsIDAndTypeAcrossConnections(t *testing.T) {
	t.Parallel()
	p := NewParser(1<<20, time.Hour)
	p.Reset(strings.NewReader("id: 4\nevent: tick\ndata: a\n\nevent: half\ndata: unfinished"))
	ev, err := p.Next()
	require.NoError(t, err)
	assert.Equal(t, Event{ID: "4", Type: "tick", Data: "a"}, ev)
	_, err = p.Next()
	assert.Equal(t, io.EOF, err)

	p.Reset(strings.NewReader("data: b\n\n"))
	ev, err = p.Next()
	require.NoError(t, err)
	assert.Equal(t, msg("4", "b"), ev, "the ID stays; the dropped connection's unfinished event does not")
}

func TestSSEParserEventCap(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"at the cap in one line", "data:" + strings.Repeat("x", 59) + "\n\n", true},
		{"at the cap in lines", "data:" + strings.Repeat("x", 31) + "\ndata:" + strings.Repeat("x", 32) + "\n\n", true},
		{"over the cap in lines", "data:" + strings.Repeat("x", 32) + "\ndata:" + strings.Repeat("x", 32) + "\n\n", false},
		{"a line over the cap", "data:" + strings.Repeat("x", 100) + "\n\n", false},
		{"a comment over the cap", ":" + strings.Repeat("x", 100) + "\n\ndata: x\n\n", false},
		{"an endless line", "data:" + strings.Repeat("x", 10000), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, _, err := parseSSE(tt.in, 64, iotest.HalfReader)
			if tt.ok {
				assert.NoError(t, err)
				return
			}
			assert.True(t, errors.Is(err, ErrEventTooLarge) || errors.Is(err, lines.ErrTooLong), "%v", err)
		})
	}
}

// refSSE is a plain reading of the standard's algorithm, the oracle of the
// fuzz target.
func refSSE(in string) (evs []Event, lastID string) {
	lines, _ := linetest.Lines(in, true)
	var data, typ, idBuf strings.Builder
	hasData := false
	var retry time.Duration
	for _, l := range lines {
		if l == "" {
			lastID = strings.ToValidUTF8(idBuf.String(), "\uFFFD")
			if hasData {
				d := strings.TrimSuffix(data.String(), "\n")
				ty := strings.ToValidUTF8(typ.String(), "\uFFFD")
				if ty == "" {
					ty = "message"
				}
				evs = append(evs, Event{ID: lastID, Type: ty, Data: strings.ToValidUTF8(d, "\uFFFD"), Retry: retry})
			}
			data.Reset()
			typ.Reset()
			hasData, retry = false, 0
			continue
		}
		if l[0] == ':' {
			continue
		}
		f, v, found := strings.Cut(l, ":")
		if found {
			v = strings.TrimPrefix(v, " ")
		}
		switch f {
		case "data":
			data.WriteString(v + "\n")
			hasData = true
		case "event":
			typ.Reset()
			typ.WriteString(v)
		case "id":
			if !strings.Contains(v, "\x00") {
				idBuf.Reset()
				idBuf.WriteString(v)
			}
		case "retry":
			if d, ok := ParseRetry([]byte(v), time.Hour); ok {
				retry = d
			}
		}
	}
	return evs, lastID
}

func FuzzSSEParser(f *testing.F) {
	for _, s := range []string{
		"data: a\n\n", "id: 1\r\nevent: x\r\ndata: y\r\n\r\n", "\xEF\xBB\xBFdata:a\r\r", ": hb\n\nretry: 10\ndata\n\n",
		"id: a\x00\ndata: b\n\n", "data: a\n\ndata: b", "data:\ndata:\n\n\n\r\n\r",
	} {
		f.Add(s, []byte{3, 1, 4})
	}
	f.Fuzz(func(t *testing.T, in string, sizes []byte) {
		wantEvs, wantID := refSSE(in)
		p := NewParser(1<<20, time.Hour)
		p.Reset(&linetest.Chunked{R: strings.NewReader(in), Sizes: sizes})
		var got []Event
		for {
			ev, err := p.Next()
			if err == io.EOF {
				break
			}
			require.NoError(t, err)
			got = append(got, ev)
		}
		if len(wantEvs) == 0 {
			wantEvs = nil
		}
		require.Equal(t, wantEvs, got)
		require.Equal(t, wantID, p.LastID())
	})
}

// TestSSEParserAllocs: the strings of small events are cut from shared
// blocks, so an event costs far less than one allocation, whether its id
// repeats or changes; the ID and Type strings are reused while they do not
// change.
func TestSSEParserAllocs(t *testing.T) {
	const events = 1000
	p := NewParser(1<<20, time.Hour)
	r := strings.NewReader("")
	allocs := func(stream string) float64 {
		parseAll := func() {
			r.Reset(stream)
			p.Reset(r)
			for {
				if _, err := p.Next(); err != nil {
					return
				}
			}
		}
		parseAll() // the buffers grow once
		return testing.AllocsPerRun(5, parseAll)
	}
	assert.LessOrEqual(t, allocs(strings.Repeat("id: 7\nevent: token\ndata: hello\n\n", events)), float64(events/10))

	// An id that changes with every event, as servers number them.
	var b strings.Builder
	for i := range events {
		fmt.Fprintf(&b, "id: %d\nevent: token\ndata: hello\n\n", i)
	}
	assert.LessOrEqual(t, allocs(b.String()), float64(events/10))

	// An event over maxShared has its own allocation, its id none.
	b.Reset()
	for i := range events {
		fmt.Fprintf(&b, "id: %d\ndata: %s\n\n", i, strings.Repeat("x", maxShared+1))
	}
	assert.LessOrEqual(t, allocs(b.String()), float64(events+events/10))
}

// TestSSEParserStringsStayPut: strings cut from a shared block are not
// changed by the events parsed after them, across blocks, for events on both
// sides of maxShared and of the block size, and for ones replaced as
// invalid UTF-8.
func TestSSEParserStringsStayPut(t *testing.T) {
	t.Parallel()
	sizes := []int{0, 1, 7, maxShared - 1, maxShared, maxShared + 1, sharedBlock - 1, sharedBlock, 2 * sharedBlock}
	var in strings.Builder
	var want []Event
	for i := range 300 {
		data := strings.Repeat(string(rune('a'+i%26)), sizes[i%len(sizes)])
		id := strconv.Itoa(i)
		if i%17 == 0 {
			data += "\xff"
			id += "\xfe"
		}
		fmt.Fprintf(&in, "id: %s\nevent: t%d\ndata: %s\n\n", id, i%3, data)
		want = append(want, Event{
			ID:   strings.ToValidUTF8(id, "\uFFFD"),
			Type: "t" + strconv.Itoa(i%3),
			Data: strings.ToValidUTF8(data, "\uFFFD"),
		})
	}
	got, p, err := parseSSE(in.String(), 1<<20, func(r io.Reader) io.Reader { return r })
	require.NoError(t, err)
	assert.Equal(t, want, got)
	assert.Equal(t, want[len(want)-1].ID, p.LastID())
}

// FuzzValidUTF8: the ASCII way through agrees with utf8.Valid, whatever
// where the first byte over 0x7F falls.
func FuzzValidUTF8(f *testing.F) {
	for _, s := range []string{"", "a", "abcdefgh", "abcdefg\xff", "abcdefgh\xff", "abcdefghé", "\xe2\x82", "abcdefghijklmno\xe2\x82\xac", "\xed\xa0\x80", strings.Repeat("a", 70) + "\xff", strings.Repeat("a", 130) + "\xff"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		require.Equal(t, utf8.Valid(b), validUTF8(b))
	})
}
