package reqivo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type jsonValue struct {
	N int `json:"n"`
}

// TestJSONLines: values arrive as lines do; blank lines are skipped; a bad
// line yields an error with its number and the loop goes on.
func TestJSONLines(t *testing.T) {
	t.Parallel()
	next := make(chan struct{})
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Accept") != jsonLinesAccept {
			w.WriteHeader(400)
			return
		}
		w.Header().Set("Content-Type", "application/x-ndjson")
		sseSend(w, "{\"n\":1}\n")
		<-next // the client has the first value before the rest is sent
		sseSend(w, "\n{\"n\":2}\r\n{bad\n"+strings.Repeat("7", 2<<10)+"\n  \n{\"n\":4}")
	})
	s := newTestSession(t, WithTimeout(50*time.Millisecond), WithLimits(Limits{MaxEventBytes: 1 << 10}))
	var got []int
	var errs []error
	for v, err := range JSONLines[jsonValue](context.Background(), s, http.MethodGet, srv.URL) {
		if err != nil {
			errs = append(errs, err)
			continue
		}
		got = append(got, v.N)
		if v.N == 1 {
			time.Sleep(100 * time.Millisecond) // past the session's total timeout: streams have none
			next <- struct{}{}
		}
	}
	assert.Equal(t, []int{1, 2, 4}, got)
	require.Len(t, errs, 2)
	var le *LineError
	assert.ErrorIs(t, errs[0], ErrInvalidResponse)
	require.ErrorAs(t, errs[0], &le)
	assert.Equal(t, 4, le.Line)
	assert.ErrorIs(t, errs[1], ErrBodyTooLarge)
	require.ErrorAs(t, errs[1], &le)
	assert.Equal(t, 5, le.Line)
	var re *RequestError
	assert.ErrorAs(t, errs[0], &re)
	assert.Contains(t, errs[0].Error(), "line 4")
}

func TestJSONLinesEnds(t *testing.T) {
	t.Parallel()
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/err":
			w.WriteHeader(500)
			_, _ = io.WriteString(w, `{"error":"boom"}`)
		case "/empty":
			w.WriteHeader(204)
		case "/drop":
			sseSend(w, "{\"n\":1}\n{\"n\":")
			abort()
		default:
			for i := range 100 {
				if !sseSend(w, fmt.Sprintf("{\"n\":%d}\n", i)) {
					return
				}
			}
		}
	})
	s := newTestSession(t)
	ctx := context.Background()

	_, errs := collect(JSONLines[jsonValue](ctx, s, http.MethodGet, srv.URL+"/err"))
	require.Len(t, errs, 1)
	var he *HTTPError
	require.ErrorAs(t, errs[0], &he)
	assert.Equal(t, `{"error":"boom"}`, string(he.Body))

	vals, errs := collect(JSONLines[jsonValue](ctx, s, http.MethodGet, srv.URL+"/empty"))
	assert.Empty(t, vals)
	assert.Empty(t, errs)

	vals, errs = collect(JSONLines[jsonValue](ctx, s, http.MethodGet, srv.URL+"/drop"))
	assert.Len(t, vals, 1)
	require.Len(t, errs, 1)
	var re *RequestError
	assert.ErrorAs(t, errs[0], &re)

	n := 0
	for _, err := range JSONLines[jsonValue](ctx, s, http.MethodGet, srv.URL+"/many") {
		require.NoError(t, err)
		if n++; n == 3 {
			break
		}
	}
	assert.Equal(t, 3, n)

	_, errs = collect(JSONLines[jsonValue](ctx, s, http.MethodGet, "::bad"))
	require.Len(t, errs, 1)
	assert.ErrorIs(t, errs[0], ErrInvalidURL)
	_, errs = collect(JSONLines[jsonValue](ctx, &Session{}, http.MethodGet, srv.URL))
	require.Len(t, errs, 1)
	assert.ErrorIs(t, errs[0], ErrInvalidOption)
	_, errs = collect((&Session{}).Events(ctx, http.MethodGet, srv.URL))
	require.Len(t, errs, 1)
	assert.ErrorIs(t, errs[0], ErrInvalidOption)
	//lint:ignore SA1012 a nil context is what is tested
	_, errs = collect(s.Events(nil, http.MethodGet, srv.URL)) //nolint:staticcheck
	require.Len(t, errs, 1)
	assert.ErrorIs(t, errs[0], ErrInvalidOption)
	//lint:ignore SA1012 a nil context is what is tested
	_, errs = collect(JSONLines[jsonValue](nil, s, http.MethodGet, srv.URL)) //nolint:staticcheck
	require.Len(t, errs, 1)
	assert.ErrorIs(t, errs[0], ErrInvalidOption)
	assert.True(t, errors.Is(errs[0], ErrInvalidOption))
}

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
	lr := lineReader{max: max}
	lr.reset(strings.NewReader(input))
	for n := 1; ; n++ {
		line, _, err := lr.next()
		if err == errLineTooLong {
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
	d := newJSONLineDecoder(r, max)
	for range 10_000 {
		var v any
		n, err := d.next(&v)
		switch {
		case err == io.EOF:
			return out
		case errors.Is(err, ErrBodyTooLarge):
			out = append(out, lineResult{n, "too long"})
		case errors.Is(err, ErrInvalidResponse):
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
		d := newJSONLineDecoder(strings.NewReader(stream), 1<<20)
		for {
			var v rec
			if _, err := d.next(&v); err != nil {
				return
			}
		}
	}
	floor := testing.AllocsPerRun(5, decoderLoop)
	got := testing.AllocsPerRun(5, ours)
	assert.LessOrEqual(t, got, floor+8, "per stream: the decoder's own set-up, then nothing per line beyond the floor's")
}
