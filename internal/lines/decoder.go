// JSON Lines decoding: one json.Decoder for a whole stream (its scanner and
// state reused from line to line, as a hand-written decoder loop has them),
// fed one line at a time so that each value is still held to its line.

package lines

import (
	"encoding/json"
	"errors"
	"io"
	"strconv"
)

// errCutValue is the feed's answer when a value does not end on its line.
var errCutValue = errors.New("unexpected end of JSON input")

// feed hands a json.Decoder the lines of a stream one at a time, each
// with its LF, skipping blank ones, and refuses to hand over the next line
// while a value is open: a value must end on the line it starts on.
type feed struct {
	lines Reader
	n     int    // lines taken from the stream, blank ones included
	line  []byte // the current line, valid until the next is taken
	start int64  // the stream offset the decoder sees at the current line's start
	rest  []byte // the part of the current line not yet handed over
	lf    bool   // the current line's LF is still to be handed over
	off   int64  // bytes handed over to the current decoder
	open  bool   // a line was handed over whose value is not decoded yet
	fault error  // why the feed stopped: errCutValue, ErrTooLong or the read's error
}

func (f *feed) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for len(f.rest) == 0 && !f.lf {
		if f.open {
			f.fault = errCutValue
			return 0, f.fault
		}
		line, _, err := f.lines.Next()
		if err != nil {
			if err == ErrTooLong {
				f.n++
			}
			f.fault = err
			return 0, err
		}
		f.n++
		if len(trimJSONSpace(line)) == 0 {
			continue
		}
		f.line, f.rest, f.lf, f.start, f.open = line, line, true, f.off, true
	}
	n := copy(p, f.rest)
	f.rest = f.rest[n:]
	if n < len(p) && len(f.rest) == 0 && f.lf {
		p[n] = '\n'
		n++
		f.lf = false
	}
	f.off += int64(n)
	return n, nil
}

// Decoder decodes the values of a JSON Lines stream.
type Decoder struct {
	feed feed
	dec  *json.Decoder
}

// NewDecoder returns a decoder of the lines of r, each at most max bytes.
func NewDecoder(r io.Reader, max int) *Decoder {
	d := &Decoder{feed: feed{lines: Reader{Max: max}}}
	d.feed.lines.Reset(r)
	d.dec = json.NewDecoder(&d.feed)
	return d
}

// Next decodes the next line's value into v and returns its line number.
// A line that does not hold exactly one value, or is over the limit, gives
// an *Error (its Err ErrTooLong for the latter); the next call goes on with
// the next line. At the end of the stream the error is io.EOF; a read that
// failed gives its error as it is.
func (d *Decoder) Next(v any) (int, error) {
	f := &d.feed
	err := d.dec.Decode(v)
	if err == nil {
		f.open = false
		// What the decoder has not consumed of the line must be space: a
		// second value on the line makes the line bad, as json.Unmarshal
		// of the line would say.
		if used := d.dec.InputOffset() - f.start; used >= 0 && used <= int64(len(f.line)) {
			if len(trimJSONSpace(f.line[used:])) == 0 {
				return f.n, nil
			}
		}
		err = errors.New("invalid character after top-level value")
	}
	switch {
	case err == io.EOF && f.fault == io.EOF:
		return f.n, io.EOF
	case f.fault == ErrTooLong:
		err = &Error{Line: f.n, Err: ErrTooLong}
	case f.fault != nil && f.fault != errCutValue:
		return f.n, f.fault // the read failed
	default:
		err = &Error{Line: f.n, Err: err}
	}
	// The decoder stops at its first syntax error: a new one goes on
	// with the next line (this costs its buffer, on the error path only).
	f.rest, f.lf, f.open, f.fault, f.off = nil, false, false, nil, 0
	d.dec = json.NewDecoder(f) // its offsets count from 0 again
	return f.n, err
}

// Error is about one line of the stream; the stream goes on after it.
type Error struct {
	Line int   // from 1, blank lines counted
	Err  error // ErrTooLong, or why the line is not one JSON value
}

func (e *Error) Error() string { return "line " + strconv.Itoa(e.Line) + ": " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// trimJSONSpace trims the bytes JSON counts as white space.
func trimJSONSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\r' || b[0] == '\n') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t' || b[len(b)-1] == '\r' || b[len(b)-1] == '\n') {
		b = b[:len(b)-1]
	}
	return b
}
