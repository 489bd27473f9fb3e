// Package sse parses Server-Sent Events as the WHATWG HTML standard says
// (https://html.spec.whatwg.org/multipage/server-sent-events.html).
package sse

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/reqivo/reqivo/internal/lines"
)

// Event is one event: what reqivo.Event holds, field for field.
type Event struct {
	ID    string
	Type  string
	Data  string
	Retry time.Duration
}

// ErrEventTooLarge is what Parser.Next returns for an event whose data
// passes the limit.
var ErrEventTooLarge = errors.New("event over the limit")

// Parser turns a stream of SSE lines into events. It keeps what the
// standard carries across events and reconnections: the last event ID and
// the reconnection time.
type Parser struct {
	lines lines.Reader
	max   int // largest event, data counted

	data  []byte        // the data buffer
	typ   []byte        // the event type buffer
	retry time.Duration // this event's retry field, or 0
	id    []byte        // the last event ID buffer

	block strings.Builder // where small strings are cut from (see text)

	lastID       string        // the last event ID string, sent as Last-Event-ID
	lastType     string        // the previous event's type, reused when the next has the same
	reconnect    time.Duration // the reconnection time the server asked for
	reconnectSet bool          // the server has set one
	maxRetry     time.Duration // the largest retry field taken
}

// LastID is the last event ID, sent as Last-Event-ID on reconnection.
func (p *Parser) LastID() string { return p.lastID }

// Reconnect is the reconnection time the server asked for, if it did.
func (p *Parser) Reconnect() (time.Duration, bool) { return p.reconnect, p.reconnectSet }

// NewParser returns a parser of events of at most maxEvent bytes (data
// counted), whose retry field is capped at maxRetry.
func NewParser(maxEvent int64, maxRetry time.Duration) *Parser {
	return &Parser{lines: lines.Reader{SSE: true, Max: lines.Limit(maxEvent)}, max: lines.Limit(maxEvent), maxRetry: maxRetry, lastType: "message"}
}

// Reset starts a new connection's stream: what a dropped connection left
// unfinished is discarded; the last event ID and reconnection time stay.
func (p *Parser) Reset(r io.Reader) {
	p.lines.Reset(r)
	p.data, p.typ = p.data[:0], p.typ[:0]
	p.retry = 0
}

// Next returns the next event. At the end of the stream it returns io.EOF
// (or the read's error), and an event the stream did not end with a blank
// line is dropped, as the standard says. An event over the limit gives an
// error matching ErrBodyTooLarge.
func (p *Parser) Next() (Event, error) {
	for {
		line, terminated, err := p.lines.Next()
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
				return Event{}, ErrEventTooLarge
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
			if d, ok := ParseRetry(value, p.maxRetry); ok {
				p.retry, p.reconnect, p.reconnectSet = d, d, true
			}
		}
	}
}

// dispatch ends the event the blank line closes; ok is false when it has no
// data (a block of comments, or of id or retry alone). A new id and a new
// type become strings; ones that repeat are reused.
func (p *Parser) dispatch() (ev Event, ok bool) {
	if string(p.id) != p.lastID {
		p.lastID = p.text(p.id)
	}
	if len(p.data) == 0 {
		p.typ, p.retry = p.typ[:0], 0
		return Event{}, false
	}
	ev.Data = p.text(p.data[:len(p.data)-1]) // without its last LF
	typ := p.typ
	if len(typ) == 0 {
		typ = []byte("message") // no allocation: it does not escape
	}
	if string(typ) != p.lastType {
		p.lastType = p.text(typ)
	}
	ev.ID, ev.Type, ev.Retry = p.lastID, p.lastType, p.retry
	p.data, p.typ, p.retry = p.data[:0], p.typ[:0], 0
	return ev, true
}

// Events' strings are cut from shared blocks of sharedBlock bytes: a small
// event then costs a part of an allocation, not one. A string kept keeps
// its block (at most sharedBlock bytes) alive; one over maxShared has its
// own allocation.
const (
	sharedBlock = 1 << 10
	maxShared   = sharedBlock / 4
)

// text returns b as a string, bytes that are not UTF-8 replaced by U+FFFD
// (the stream is UTF-8 by the standard). A small string is written to the
// shared block: a strings.Builder only appends, so the strings it gave out
// never change.
func (p *Parser) text(b []byte) string {
	switch {
	case !validUTF8(b):
		return strings.ToValidUTF8(string(b), "\uFFFD")
	case len(b) > maxShared:
		return string(b)
	}
	if p.block.Cap()-p.block.Len() < len(b) {
		p.block.Reset()
		p.block.Grow(sharedBlock)
	}
	start := p.block.Len()
	p.block.Write(b)
	return p.block.String()[start:]
}

// validUTF8 is utf8.Valid with a faster way through short ASCII strings,
// 8 bytes at a time, as most event fields are: utf8.Valid goes byte by byte
// through the last 8 to 31 bytes of a string, and is faster only on strings
// of over 128 bytes, which it goes through 32 bytes at a time.
func validUTF8(b []byte) bool {
	if len(b) > 128 {
		return utf8.Valid(b)
	}
	for ; len(b) >= 8; b = b[8:] {
		if binary.LittleEndian.Uint64(b)&0x8080808080808080 != 0 {
			return utf8.Valid(b)
		}
	}
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return utf8.Valid(b)
		}
	}
	return true
}

// ParseRetry reads a retry field: ASCII digits only, in milliseconds. A
// value over max is max: a server cannot park a client for centuries, nor
// overflow the waits computed from it.
func ParseRetry(v []byte, max time.Duration) (time.Duration, bool) {
	if len(v) == 0 {
		return 0, false
	}
	limit := int64(max / time.Millisecond)
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
