package lines

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/reqivo/reqivo/internal/linetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestLineReaderBufferBounded feeds an endless line: the buffer never
// grows past the limit and what one line end needs.
func TestLineReaderBufferBounded(t *testing.T) {
	t.Parallel()
	lr := Reader{Max: 100 << 10}
	lr.Reset(io.LimitReader(neverEnding('x'), 10<<20))
	_, _, err := lr.Next()
	assert.ErrorIs(t, err, ErrTooLong)
	assert.LessOrEqual(t, len(lr.buf), 100<<10+2)
}

type neverEnding byte

func (b neverEnding) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(b)
	}
	return len(p), nil
}

func TestLineReaderJSONMode(t *testing.T) {
	t.Parallel()
	lr := Reader{Max: 8}
	lr.Reset(strings.NewReader("\xEF\xBB\xBFa\r\nb\rc\n" + strings.Repeat("x", 20) + "\nd\n\ne"))
	type line struct {
		s    string
		term bool
		err  error
	}
	var got []line
	for {
		l, term, err := lr.Next()
		if err == io.EOF {
			break
		}
		got = append(got, line{string(l), term, err})
	}
	assert.Equal(t, []line{
		{"a", true, nil},
		{"b\rc", true, nil}, // a lone CR ends no JSON line
		{"", false, ErrTooLong},
		{"d", true, nil},
		{"", true, nil},
		{"e", false, nil},
	}, got)
}

// TestLineReaderNoProgress: a reader that returns nothing forever is an
// error, not a hang.
func TestLineReaderNoProgress(t *testing.T) {
	t.Parallel()
	lr := Reader{Max: 8}
	lr.Reset(emptyReader{})
	_, _, err := lr.Next()
	assert.ErrorIs(t, err, io.ErrNoProgress)
}

type emptyReader struct{}

func (emptyReader) Read([]byte) (int, error) { return 0, nil }

func FuzzLineReader(f *testing.F) {
	for _, s := range []string{"a\nb\r\nc\rd", "\r\n\r\n", "\xEF\xBB\xBF\n", "\xEF\xBB", "x\r", "\r"} {
		f.Add(s, []byte{1, 2}, true)
		f.Add(s, []byte{5}, false)
	}
	f.Fuzz(func(t *testing.T, in string, sizes []byte, sse bool) {
		wantLines, wantLast := linetest.Lines(in, sse)
		lr := Reader{Max: 1 << 20, SSE: sse}
		lr.Reset(&linetest.Chunked{R: strings.NewReader(in), Sizes: sizes})
		var got []string
		last := ""
		for {
			l, term, err := lr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			require.NoError(t, err)
			if !term {
				last = string(l)
				continue
			}
			got = append(got, string(l))
		}
		if len(wantLines) == 0 {
			wantLines = nil
		}
		require.Equal(t, wantLines, got)
		require.Equal(t, wantLast, last)
	})
}

// TestLineReaderLimitWholeLine: a line over the limit that is whole in
// the buffer, between lines that end with LF, CR and CRLF, is ErrTooLong
// and the lines around it are as they were.
func TestLineReaderLimitWholeLine(t *testing.T) {
	t.Parallel()
	for _, sse := range []bool{true, false} {
		lr := Reader{Max: 4, SSE: sse}
		lr.Reset(strings.NewReader("ab\nabcde\ncd\r\nef\n"))
		var got []string
		for {
			l, term, err := lr.Next()
			if err == io.EOF {
				break
			}
			got = append(got, fmt.Sprintf("%s %v %v", l, term, err))
		}
		assert.Equal(t, []string{"ab true <nil>", " true line over the limit", "cd true <nil>", "ef true <nil>"}, got, "SSE %v", sse)
	}
}
