// JSON Lines decoding: one json.Decoder for a whole stream (its scanner and
// state reused from line to line, as a hand-written decoder loop has them),
// fed one line at a time so that each value is still held to its line.

package reqivo

import (
	"encoding/json"
	"errors"
	"io"
)

// errCutValue is the feed's answer when a value does not end on its line.
var errCutValue = errors.New("unexpected end of JSON input")

// lineFeed hands a json.Decoder the lines of a stream one at a time, each
// with its LF, skipping blank ones, and refuses to hand over the next line
// while a value is open: a value must end on the line it starts on.
type lineFeed struct {
	lines lineReader
	n     int    // lines taken from the stream, blank ones included
	line  []byte // the current line, valid until the next is taken
	start int64  // the stream offset the decoder sees at the current line's start
	rest  []byte // the part of the current line not yet handed over
	lf    bool   // the current line's LF is still to be handed over
	off   int64  // bytes handed over to the current decoder
	open  bool   // a line was handed over whose value is not decoded yet
	fault error  // why the feed stopped: errCutValue, errLineTooLong or the read's error
}

func (f *lineFeed) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for len(f.rest) == 0 && !f.lf {
		if f.open {
			f.fault = errCutValue
			return 0, f.fault
		}
		line, _, err := f.lines.next()
		if err != nil {
			if err == errLineTooLong {
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

// jsonLineDecoder decodes the values of a JSON Lines stream.
type jsonLineDecoder struct {
	feed lineFeed
	dec  *json.Decoder
}

func newJSONLineDecoder(r io.Reader, max int) *jsonLineDecoder {
	d := &jsonLineDecoder{feed: lineFeed{lines: lineReader{max: max}}}
	d.feed.lines.reset(r)
	d.dec = json.NewDecoder(&d.feed)
	return d
}

// next decodes the next line's value into v and returns its line number.
// A line that does not hold exactly one value gives a *LineError matching
// ErrInvalidResponse, a line over the limit one matching ErrBodyTooLarge;
// the next call goes on with the next line. At the end of the stream the
// error is io.EOF; a read that failed gives its error, unwrapped.
func (d *jsonLineDecoder) next(v any) (int, error) {
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
	case f.fault == errLineTooLong:
		err = wrapKind(ErrBodyTooLarge, "", &LineError{Line: f.n, Err: errors.New("longer than Limits.MaxEventBytes")})
	case f.fault != nil && f.fault != errCutValue:
		return f.n, f.fault // the read failed
	default:
		err = wrapKind(ErrInvalidResponse, "", &LineError{Line: f.n, Err: err})
	}
	// The decoder stops at its first syntax error: a new one goes on
	// with the next line (this costs its buffer, on the error path only).
	f.rest, f.lf, f.open, f.fault, f.off = nil, false, false, nil, 0
	d.dec = json.NewDecoder(f) // its offsets count from 0 again
	return f.n, err
}

// isLineError reports whether err is about one line (the stream goes on)
// rather than the stream.
func isLineError(err error) bool {
	var le *LineError
	return errors.As(err, &le)
}
