// Package lines splits the byte streams of Server-Sent Events and JSON
// Lines into lines, with memory bounded by the longest line allowed, and
// decodes JSON Lines with one json.Decoder per stream.
package lines

import (
	"bytes"
	"errors"
	"io"
	"math"
)

// ErrTooLong is what a Reader returns for a line over its limit.
var ErrTooLong = errors.New("line over the limit")

// initialLineBuffer is the first size of a line splitter's buffer; it grows
// (up to the line limit) only for longer lines.
const initialLineBuffer = 32 << 10

var utf8BOM = []byte("\xEF\xBB\xBF")

// Reader splits a byte stream into lines. In SSE mode a line ends with
// CRLF, LF or a lone CR; otherwise (JSON Lines) only with LF, and a CR
// before it is dropped. A leading UTF-8 BOM is skipped. The buffer holds at
// most one line of max bytes plus what one read brings, so memory stays
// bounded whatever the server sends. A Reader allocates only when a
// line outgrows its buffer.
type Reader struct {
	// Max is the longest line, its end excluded (see Limit).
	Max int
	// SSE makes a lone CR end a line, as the SSE standard does.
	SSE bool

	r          io.Reader
	buf        []byte
	start, end int   // the unread bytes are buf[start:end]
	scanned    int   // buf[start:scanned] holds no line end
	cr         int   // SSE, between calls unless cr < scanned: buf[scanned:cr] holds no CR, and buf[cr] is one if cr < end
	skipLF     bool  // the last line ended with a CR at the end of the data: an LF next is its pair
	checkBOM   bool  // the stream's first bytes are still to be checked for a BOM
	discarding bool  // skipping the rest of a line over the limit
	err        error // the error of the last read, kept until the buffer is used up
}

// Reset makes lr read a new stream from r, keeping its buffer.
func (lr *Reader) Reset(r io.Reader) {
	lr.r = r
	lr.start, lr.end, lr.scanned, lr.cr = 0, 0, 0, 0
	lr.skipLF, lr.discarding = false, false
	lr.checkBOM = true
	lr.err = nil
}

// Next returns the next line without its end, valid until the next call;
// terminated is false for a last line the stream ended without ending (a
// read that failed drops what it cut short instead). At
// the end of the stream the error is io.EOF, or the read's error. A line
// over the limit gives ErrTooLong, and the next call goes on after
// that line.
func (lr *Reader) Next() (line []byte, terminated bool, err error) {
	// The way of almost every line: whole in the buffer, ending in an LF
	// before the next CR. The rest (a BOM, a CR, a line cut by a read or
	// over the limit) goes the general way.
	if !lr.checkBOM && !lr.skipLF && !lr.discarding {
		stop := lr.end
		if lr.SSE {
			if lr.cr < lr.scanned { // the last line ended with the CR at cr
				lr.nextCR()
			}
			stop = lr.cr
		}
		if i := bytes.IndexByte(lr.buf[lr.scanned:stop], '\n'); i >= 0 {
			if line = lr.cutLF(lr.scanned + i); len(line) > lr.Max {
				return nil, true, ErrTooLong
			}
			return line, true, nil
		}
		lr.scanned = stop
	}
	return lr.next()
}

// next is Next's general way.
func (lr *Reader) next() (line []byte, terminated bool, err error) {
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
			if lr.buf[i] == '\n' {
				line = lr.cutLF(i)
			} else { // a CR (SSE)
				line = lr.buf[lr.start:i]
				lr.start = i + 1
				if i+1 < lr.end {
					if lr.buf[i+1] == '\n' {
						lr.start++
					}
				} else {
					lr.skipLF = true
				}
				lr.scanned = lr.start
			}
			if lr.discarding {
				lr.discarding = false
				continue
			}
			if len(line) > lr.Max {
				return nil, true, ErrTooLong
			}
			return line, true, nil
		}
		lr.scanned = lr.end
		if lr.discarding {
			lr.start, lr.scanned = lr.end, lr.end
		} else if lr.end-lr.start > lr.Max {
			lr.discarding = true
			lr.start, lr.scanned = lr.end, lr.end
			return nil, false, ErrTooLong
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

// cutLF returns the line that ends with the LF at buf[i] and moves past
// it. In JSON mode a CR before the LF is not part of the line.
func (lr *Reader) cutLF(i int) []byte {
	line := lr.buf[lr.start:i]
	lr.start, lr.scanned = i+1, i+1
	if !lr.SSE && len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	return line
}

// lineEnd returns the index in buf of the first line end after start, or
// -1. Bytes already scanned are not scanned again: in SSE mode, the next CR
// is looked for once per read, not once per line, as most streams have none.
func (lr *Reader) lineEnd() int {
	i := bytes.IndexByte(lr.buf[lr.scanned:lr.end], '\n')
	if i >= 0 {
		i += lr.scanned
	}
	if lr.SSE {
		if cr := lr.nextCR(); cr < lr.end && (i < 0 || cr < i) {
			i = cr
		}
	}
	return i
}

// nextCR returns the index in buf of the first CR at or after scanned, or
// end.
// It looks once per read, not once per line, as most streams have none.
func (lr *Reader) nextCR() int {
	lr.cr = max(lr.cr, lr.scanned)
	if lr.cr < lr.end && lr.buf[lr.cr] != '\r' { // bytes read since the last look
		if j := bytes.IndexByte(lr.buf[lr.cr:lr.end], '\r'); j >= 0 {
			lr.cr += j
		} else {
			lr.cr = lr.end
		}
	}
	return lr.cr
}

// fill reads more data into the buffer, moving the unread part to its
// front or growing it (up to what one line of max bytes needs) when full.
// It returns an error only when a read gives nothing and no error (which
// io.Reader allows), many times in a row.
func (lr *Reader) fill() error {
	if lr.start > 0 {
		n := copy(lr.buf, lr.buf[lr.start:lr.end])
		lr.scanned -= lr.start
		lr.cr = max(lr.cr-lr.start, 0)
		lr.start, lr.end = 0, n
	}
	if lr.end == len(lr.buf) {
		size := max(2*len(lr.buf), initialLineBuffer)
		if limit := lr.Max + 2; limit > 0 && size > limit { // the line and its CRLF
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

// Limit turns a byte limit into a line length for Reader.Max: 0 or less
// (no limit) is the largest.
func Limit(n int64) int {
	if n <= 0 || n > math.MaxInt32 {
		return math.MaxInt32
	}
	return int(n)
}
