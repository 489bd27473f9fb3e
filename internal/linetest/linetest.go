// Package linetest holds what the tests of the line readers share: the
// reference splitter their fuzz targets compare against, and a reader
// that hands its input over in small pieces. Only tests import it.
package linetest

import (
	"io"
	"regexp"
	"strings"
)

var (
	sseSep  = regexp.MustCompile("\r\n|\r|\n")
	jsonSep = regexp.MustCompile("\r?\n")
)

// Lines splits in as the SSE standard does (CRLF, CR or LF), or with sse
// false as JSON Lines does (LF only, a CR before it dropped), with a
// leading BOM skipped; last is the unended last line.
func Lines(in string, sse bool) (lines []string, last string) {
	in = strings.TrimPrefix(in, "\xEF\xBB\xBF")
	sep := sseSep
	if !sse {
		sep = jsonSep
	}
	parts := sep.Split(in, -1)
	return parts[:len(parts)-1], parts[len(parts)-1]
}

// Chunked reads from R in pieces of 1 to 7 bytes, their sizes taken from
// Sizes round and round (all at once when Sizes is empty), so a fuzzer
// chooses where the reads split the input.
type Chunked struct {
	R     io.Reader
	Sizes []byte
	i     int
}

func (c *Chunked) Read(p []byte) (int, error) {
	if len(c.Sizes) > 0 {
		n := int(c.Sizes[c.i%len(c.Sizes)])%7 + 1
		c.i++
		p = p[:min(len(p), n)]
	}
	return c.R.Read(p)
}
