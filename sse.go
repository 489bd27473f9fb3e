// Stream parsing: the line splitter shared by Server-Sent Events and JSON
// Lines, and the SSE event parser of the WHATWG HTML standard
// (https://html.spec.whatwg.org/multipage/server-sent-events.html).

package reqivo

import (
	"bytes"
	"io"
	"math"
	"strings"
	"time"
	"unicode/utf8"
)

// errLineTooLong is what the line splitter returns for a line over its
// limit; callers wrap it with their context.
var errLineTooLong = errorf(ErrBodyTooLarge, "line over Limits.MaxEventBytes")

// initialLineBuffer is the first size of a line splitter's buffer; it grows
// (up to the line limit) only for longer lines.
const initialLineBuffer = 32 << 10

var utf8BOM = []byte("\xEF\xBB\xBF")

// lineReader splits a byte stream into lines. In SSE mode a line ends with
// CRLF, LF or a lone CR; otherwise (JSON Lines) only with LF, and a CR
// before it is dropped. A leading UTF-8 BOM is skipped. The buffer holds at
// most one line of max bytes plus what one read brings, so memory stays
// bounded whatever the server sends. A lineReader allocates only when a
// line outgrows its buffer.
type lineReader struct {
	r          io.Reader
	buf        []byte
	start, end int   // the unread bytes are buf[start:end]
	scanned    int   // buf[start:scanned] holds no line end
	max        int   // longest line, its end excluded
	sse        bool  // a lone CR ends a line
	skipLF     bool  // the last line ended with a CR at the end of the data: an LF next is its pair
	checkBOM   bool  // the stream's first bytes are still to be checked for a BOM
	discarding bool  // skipping the rest of a line over the limit
	err        error // the error of the last read, kept until the buffer is used up
}

// reset makes lr read a new stream from r, keeping its buffer.
func (lr *lineReader) reset(r io.Reader) {
	lr.r = r
	lr.start, lr.end, lr.scanned = 0, 0, 0
	lr.skipLF, lr.discarding = false, false
	lr.checkBOM = true
	lr.err = nil
}

// next returns the next line without its end, valid until the next call;
// terminated is false for a last line the stream ended without ending (a
// read that failed drops what it cut short instead). At
// the end of the stream the error is io.EOF, or the read's error. A line
// over the limit gives errLineTooLong, and the next call goes on after
// that line.
func (lr *lineReader) next() (line []byte, terminated bool, err error) {
	for {
		if lr.checkBOM {
			avail := lr.buf[lr.start:lr.end]
			if len(avail) < len(utf8BOM) && bytes.HasPrefix(utf8BOM, avail) && lr.err == nil {
				if err := lr.fill(); err != nil {
					return nil, false, err
				}
				continue
			}
			if bytes.HasPrefix(avail, utf8BOM) {
				lr.start += len(utf8BOM)
				lr.scanned = lr.start
			}
			lr.checkBOM = false
		}
		if lr.skipLF && lr.start < lr.end {
			if lr.buf[lr.start] == '\n' {
				lr.start++
				lr.scanned = max(lr.scanned, lr.start)
			}
			lr.skipLF = false
		}
		if i := lr.lineEnd(); i >= 0 {
			line = lr.buf[lr.start:i]
			lr.start = i + 1
			if lr.buf[i] == '\r' {
				if i+1 < lr.end {
					if lr.buf[i+1] == '\n' {
						lr.start++
					}
				} else {
					lr.skipLF = true
				}
			} else if !lr.sse && len(line) > 0 && line[len(line)-1] == '\r' {
				line = line[:len(line)-1]
			}
			lr.scanned = lr.start
			if lr.discarding {
				lr.discarding = false
				continue
			}
			if len(line) > lr.max {
				return nil, true, errLineTooLong
			}
			return line, true, nil
		}
		lr.scanned = lr.end
		if lr.discarding {
			lr.start, lr.scanned = lr.end, lr.end
		} else if lr.end-lr.start > lr.max {
			lr.discarding = true
			lr.start, lr.scanned = lr.end, lr.end
			return nil, false, errLineTooLong
		}
		if lr.err != nil {
			if lr.start < lr.end && lr.err == io.EOF {
				line = lr.buf[lr.start:lr.end]
				lr.start, lr.scanned = lr.end, lr.end
				return line, false, nil
			}
			return nil, false, lr.err
		}
		if err := lr.fill(); err != nil {
			return nil, false, err
		}
	}
}

// lineEnd returns the index in buf of the first line end after start, or
// -1. Bytes already scanned are not scanned again.
func (lr *lineReader) lineEnd() int {
	b := lr.buf[lr.scanned:lr.end]
	i := bytes.IndexByte(b, '\n')
	if lr.sse {
		head := b
		if i >= 0 {
			head = b[:i]
		}
		if j := bytes.IndexByte(head, '\r'); j >= 0 {
			i = j
		}
	}
	if i < 0 {
		return -1
	}
	return lr.scanned + i
}

// fill reads more data into the buffer, moving the unread part to its
// front or growing it (up to what one line of max bytes needs) when full.
// It returns an error only when a read gives nothing and no error (which
// io.Reader allows), many times in a row.
func (lr *lineReader) fill() error {
	if lr.start > 0 {
		n := copy(lr.buf, lr.buf[lr.start:lr.end])
		lr.scanned -= lr.start
		lr.start, lr.end = 0, n
	}
	if lr.end == len(lr.buf) {
		size := max(2*len(lr.buf), initialLineBuffer)
		if limit := lr.max + 2; limit > 0 && size > limit { // the line and its CRLF
			size = max(limit, lr.end+1)
		}
		nb := make([]byte, size)
		copy(nb, lr.buf[:lr.end])
		lr.buf = nb
	}
	for range 100 {
		n, err := lr.r.Read(lr.buf[lr.end:])
		lr.end += n
		if err != nil {
			lr.err = err
			return nil
		}
		if n > 0 {
			return nil
		}
	}
	return io.ErrNoProgress
}

// lineLimit turns a byte limit into a line length for lineReader.
func lineLimit(n int64) int {
	if n <= 0 || n > math.MaxInt32 {
		return math.MaxInt32
	}
	return int(n)
}

// sseParser turns a stream of SSE lines into events. It keeps what the
// standard carries across events and reconnections: the last event ID and
// the reconnection time.
type sseParser struct {
	lines lineReader
	max   int // largest event, data counted

	data  []byte        // the data buffer
	typ   []byte        // the event type buffer
	retry time.Duration // this event's retry field, or 0
	id    []byte        // the last event ID buffer

	lastID       string        // the last event ID string, sent as Last-Event-ID
	lastType     string        // the previous event's type, reused when the next has the same
	reconnect    time.Duration // the reconnection time the server asked for
	reconnectSet bool          // the server has set one
}

func newSSEParser(maxEvent int64) *sseParser {
	return &sseParser{lines: lineReader{sse: true, max: lineLimit(maxEvent)}, max: lineLimit(maxEvent), lastType: "message"}
}

// reset starts a new connection's stream: what a dropped connection left
// unfinished is discarded; the last event ID and reconnection time stay.
func (p *sseParser) reset(r io.Reader) {
	p.lines.reset(r)
	p.data, p.typ = p.data[:0], p.typ[:0]
	p.retry = 0
}

// next returns the next event. At the end of the stream it returns io.EOF
// (or the read's error), and an event the stream did not end with a blank
// line is dropped, as the standard says. An event over the limit gives an
// error matching ErrBodyTooLarge.
func (p *sseParser) next() (Event, error) {
	for {
		line, terminated, err := p.lines.next()
		if err != nil {
			return Event{}, err
		}
		if !terminated {
			continue // the stream ended in the middle of a line: dropped
		}
		if len(line) == 0 {
			if ev, ok := p.dispatch(); ok {
				return ev, nil
			}
			continue
		}
		if line[0] == ':' {
			continue // a comment: servers send them as heartbeats
		}
		field, value := line, line[len(line):]
		if i := bytes.IndexByte(line, ':'); i >= 0 {
			field, value = line[:i], line[i+1:]
			if len(value) > 0 && value[0] == ' ' {
				value = value[1:]
			}
		}
		switch string(field) {
		case "data":
			if len(p.data)+len(value)+1 > p.max+1 { // the last LF is not the event's
				return Event{}, errorf(ErrBodyTooLarge, "event over Limits.MaxEventBytes")
			}
			p.data = append(p.data, value...)
			p.data = append(p.data, '\n')
		case "event":
			p.typ = append(p.typ[:0], value...)
		case "id":
			if bytes.IndexByte(value, 0) < 0 {
				p.id = append(p.id[:0], value...)
			}
		case "retry":
			if d, ok := parseRetryField(value); ok {
				p.retry, p.reconnect, p.reconnectSet = d, d, true
			}
		}
	}
}

// dispatch ends the event the blank line closes; ok is false when it has no
// data (a block of comments, or of id or retry alone).
func (p *sseParser) dispatch() (ev Event, ok bool) {
	if string(p.id) != p.lastID {
		p.lastID = text(p.id)
	}
	if len(p.data) == 0 {
		p.typ, p.retry = p.typ[:0], 0
		return Event{}, false
	}
	ev = Event{ID: p.lastID, Type: p.lastType, Data: text(p.data[:len(p.data)-1]), Retry: p.retry}
	typ := p.typ
	if len(typ) == 0 {
		typ = []byte("message") // no allocation: it does not escape
	}
	if string(typ) != p.lastType {
		p.lastType = text(typ)
		ev.Type = p.lastType
	}
	p.data, p.typ, p.retry = p.data[:0], p.typ[:0], 0
	return ev, true
}

// text returns b as a string, bytes that are not UTF-8 replaced by U+FFFD
// (the stream is UTF-8 by the standard).
func text(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

// parseRetryField reads a retry field: ASCII digits only, in milliseconds.
// A value over maxServerWait (an hour) is an hour: a server cannot park a
// client for centuries, nor overflow the waits computed from it.
func parseRetryField(v []byte) (time.Duration, bool) {
	if len(v) == 0 {
		return 0, false
	}
	const limit = int64(maxServerWait / time.Millisecond)
	var ms int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		if ms <= limit {
			ms = ms*10 + int64(c-'0')
		}
	}
	return time.Duration(min(ms, limit)) * time.Millisecond, true
}
