package lines

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
)

// lineResult is what a JSON Lines reader made of one line: its number and
// the value, or the kind of error.
type lineResult struct {
	line  int
	value string
}

// unmarshalLines is the reference the decoder is held to: each line on
// its own through json.Unmarshal.
func unmarshalLines(input string, max int) []lineResult {
	var out []lineResult
	lr := Reader{Max: max}
	lr.Reset(strings.NewReader(input))
	for n := 1; ; n++ {
		line, _, err := lr.Next()
		if err == ErrTooLong {
			out = append(out, lineResult{n, "too long"})
			continue
		}
		if err != nil {
			return out
		}
		if len(trimJSONSpace(line)) == 0 {
			continue
		}
		var v any
		if err := json.Unmarshal(line, &v); err != nil {
			out = append(out, lineResult{n, "invalid"})
			continue
		}
		out = append(out, lineResult{n, fmt.Sprintf("%#v", v)})
	}
}

func decodeLines(t testing.TB, r io.Reader, max int) []lineResult {
	var out []lineResult
	d := NewDecoder(r, max)
	for range 10_000 {
		var v any
		n, err := d.Next(&v)
		switch {
		case err == io.EOF:
			return out
		case errors.Is(err, ErrTooLong):
			out = append(out, lineResult{n, "too long"})
		case isLineError(err):
			out = append(out, lineResult{n, "invalid"})
		case err != nil:
			t.Fatalf("line %d: %v", n, err)
		default:
			out = append(out, lineResult{n, fmt.Sprintf("%#v", v)})
		}
	}
	t.Fatal("the decoder did not end")
	return nil
}

var jsonLinesSeeds = []string{
	"{\"n\":1}\n{\"n\":2}\n",
	"1\n2\n3",
	"{\"a\":1} {\"b\":2}\n{\"c\":3}\n",
	"{\"a\":1}x\n4\n",
	"[1,\n2]\n5\n",
	"\n \t\r\n{\"a\":\"\xff\"}\r\n",
	"\"unterminated\n7\n",
	"{\"n\":1}\n" + strings.Repeat("8", 40) + "\n9\n",
	"[" + strings.Repeat("1,", 30) + "1]\n",
	"{\"n\":",
	"nul\nnull\ntrue false\n",
	"{}\n[]\n\"\"\n0.5e3\n-0\n",
}

// TestJSONLineDecoderMatchesUnmarshal: reading a stream with one decoder
// gives, line for line, what json.Unmarshal of each line gives: the same
// values, and errors on the same lines.
func TestJSONLineDecoderMatchesUnmarshal(t *testing.T) {
	t.Parallel()
	for i, in := range jsonLinesSeeds {
		for name, wrap := range map[string]func(io.Reader) io.Reader{
			"whole":    func(r io.Reader) io.Reader { return r },
			"one byte": iotest.OneByteReader,
		} {
			t.Run(fmt.Sprintf("%d/%s", i, name), func(t *testing.T) {
				want := unmarshalLines(in, 32)
				got := decodeLines(t, wrap(strings.NewReader(in)), 32)
				assert.Equal(t, want, got, "%q", in)
			})
		}
	}
}

func FuzzJSONLineDecoder(f *testing.F) {
	for _, s := range jsonLinesSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		want := unmarshalLines(in, 32)
		got := decodeLines(t, strings.NewReader(in), 32)
		if len(want) == 0 {
			want = nil
		}
		if len(got) == 0 {
			got = nil
		}
		if !assert.Equal(t, want, got, "%q", in) {
			t.FailNow()
		}
	})
}

// TestJSONLinesAllocs: a stream of records costs what a json.Decoder loop
// over the body costs, line for line.
func TestJSONLinesAllocs(t *testing.T) {
	type rec struct {
		ID   int      `json:"id"`
		Name string   `json:"name"`
		Tags []string `json:"tags"`
	}
	const lines = 500
	stream := strings.Repeat(`{"id":12345,"name":"record","tags":["a","b"]}`+"\n", lines)
	decoderLoop := func() {
		dec := json.NewDecoder(strings.NewReader(stream))
		for {
			var v rec
			if dec.Decode(&v) != nil {
				return
			}
		}
	}
	ours := func() {
		d := NewDecoder(strings.NewReader(stream), 1<<20)
		for {
			var v rec
			if _, err := d.Next(&v); err != nil {
				return
			}
		}
	}
	floor := testing.AllocsPerRun(5, decoderLoop)
	got := testing.AllocsPerRun(5, ours)
	assert.LessOrEqual(t, got, floor+8, "per stream: the decoder's own set-up, then nothing per line beyond the floor's")
}

func isLineError(err error) bool {
	var le *Error
	return errors.As(err, &le)
}
