// The cassette file: human-readable, diff-friendly text, one interaction
// per entry, bodies inline when they are text.
//
//	=== 1
//	POST https://api.example.com/login?b=2&a=1
//	Authorization: Bearer REDACTED-1
//	Content-Type: application/x-www-form-urlencoded
//	body sha256:9b1c...
//	| password=REDACTED&user=ada
//	\ no newline at end of body
//	--- 200 OK
//	Content-Type: application/json
//	Set-Cookie: sid=REDACTED-2; Path=/
//	| {"ok":true}
//
// An entry starts with "=== n", then the request line and its headers
// (sorted by name), the digest of its body and the body; "--- status"
// starts the response, its headers and body. A text body is written one
// line per "| " line; a binary one in base64, in "% " lines. "\ no newline
// at end of body" means what it does in a diff. Lines starting with "#"
// before the first entry are comments.

package reqivotest

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// entry is one interaction as written in a cassette.
type entry struct {
	method     string
	url        string // redacted
	reqHeader  http.Header
	reqDigest  string // "sha256:<hex>" of the canonical body; "" with no body
	reqBody    []byte
	status     string // "200 OK"
	respHeader http.Header
	respBody   []byte
}

const fileHeader = `# reqivo cassette: HTTP interactions recorded by reqivotest.Cassette, in
# the order they were sent. Credentials and secrets are replaced by
# REDACTED placeholders. Record again with REQIVO_RECORD=1.
`

const noNewline = `\ no newline at end of body`

// writeEntries writes a cassette.
func writeEntries(w io.Writer, entries []*entry) error {
	bw := bufio.NewWriter(w)
	bw.WriteString(fileHeader)
	for i, e := range entries {
		fmt.Fprintf(bw, "\n=== %d\n%s %s\n", i+1, e.method, e.url)
		writeHeader(bw, e.reqHeader)
		if e.reqDigest != "" {
			fmt.Fprintf(bw, "body %s\n", e.reqDigest)
		}
		writeBody(bw, e.reqBody)
		fmt.Fprintf(bw, "--- %s\n", e.status)
		writeHeader(bw, e.respHeader)
		writeBody(bw, e.respBody)
	}
	return bw.Flush()
}

func writeHeader(w *bufio.Writer, h http.Header) {
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range h {
			if !yield(k) {
				return
			}
		}
	}) {
		for _, v := range h[k] {
			fmt.Fprintf(w, "%s: %s\n", k, v)
		}
	}
}

func writeBody(w *bufio.Writer, b []byte) {
	if len(b) == 0 {
		return
	}
	if !isText(b) {
		enc := base64.StdEncoding.EncodeToString(b)
		for len(enc) > 76 {
			fmt.Fprintf(w, "%% %s\n", enc[:76])
			enc = enc[76:]
		}
		fmt.Fprintf(w, "%% %s\n", enc)
		return
	}
	s := string(b)
	final := strings.HasSuffix(s, "\n")
	s = strings.TrimSuffix(s, "\n")
	for line := range strings.SplitSeq(s, "\n") {
		if line == "" {
			w.WriteString("|\n")
		} else {
			fmt.Fprintf(w, "| %s\n", line)
		}
	}
	if !final {
		fmt.Fprintln(w, noNewline)
	}
}

// isText reports whether b is written inline: UTF-8 with no control
// characters but tab and newline.
func isText(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	for _, c := range b {
		if c < 0x20 && c != '\t' && c != '\n' || c == 0x7f {
			return false
		}
	}
	return true
}

// parseEntries reads a cassette.
func parseEntries(r io.Reader) ([]*entry, error) {
	var (
		entries  []*entry
		e        *entry
		inResp   bool
		body     *bodyReader
		expectRL bool // the next line is the request line
		n        int
	)
	finishBody := func() error {
		if body == nil {
			return nil
		}
		b, err := body.bytes()
		if err != nil {
			return err
		}
		if inResp {
			e.respBody = b
		} else {
			e.reqBody = b
		}
		body = nil
		return nil
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	for sc.Scan() {
		n++
		line := sc.Text()
		fail := func(msg string) error { return fmt.Errorf("line %d: %s", n, msg) }
		switch {
		case strings.HasPrefix(line, "=== "):
			if err := finishBody(); err != nil {
				return nil, fail(err.Error())
			}
			if e != nil && e.status == "" {
				return nil, fail("entry without a response")
			}
			e = &entry{reqHeader: http.Header{}, respHeader: http.Header{}}
			entries = append(entries, e)
			inResp, expectRL = false, true
		case e == nil:
			if line != "" && !strings.HasPrefix(line, "#") {
				return nil, fail("text before the first entry")
			}
		case expectRL:
			method, u, ok := strings.Cut(line, " ")
			if !ok || method == "" || u == "" {
				return nil, fail("bad request line")
			}
			e.method, e.url, expectRL = method, u, false
		case line == "":
		case strings.HasPrefix(line, "--- "):
			if inResp {
				return nil, fail("second response in an entry")
			}
			if err := finishBody(); err != nil {
				return nil, fail(err.Error())
			}
			e.status, inResp = strings.TrimPrefix(line, "--- "), true
			if _, err := statusCode(e.status); err != nil {
				return nil, fail(err.Error())
			}
		case line == "|" || strings.HasPrefix(line, "| "), strings.HasPrefix(line, "% "), line == noNewline:
			if body == nil {
				body = &bodyReader{}
			}
			if err := body.add(line); err != nil {
				return nil, fail(err.Error())
			}
		case !inResp && strings.HasPrefix(line, "body "):
			e.reqDigest = strings.TrimPrefix(line, "body ")
		default:
			if body != nil {
				return nil, fail("header after the body")
			}
			k, v, ok := strings.Cut(line, ": ")
			if !ok || k == "" {
				return nil, fail("not a header: " + strconv.Quote(line))
			}
			if inResp {
				e.respHeader.Add(k, v)
			} else {
				e.reqHeader.Add(k, v)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if err := finishBody(); err != nil {
		return nil, fmt.Errorf("line %d: %v", n, err)
	}
	if e != nil && e.status == "" {
		return nil, fmt.Errorf("line %d: entry without a response", n)
	}
	return entries, nil
}

// bodyReader gathers the lines of one body.
type bodyReader struct {
	text, b64 bool
	buf       bytes.Buffer
	noNewline bool
}

func (b *bodyReader) add(line string) error {
	switch {
	case line == noNewline:
		if !b.text || b.noNewline {
			return fmt.Errorf("misplaced %q", noNewline)
		}
		b.noNewline = true
		return nil
	case b.noNewline:
		return fmt.Errorf("body line after %q", noNewline)
	case strings.HasPrefix(line, "% "):
		if b.text {
			return fmt.Errorf("base64 line in a text body")
		}
		b.b64 = true
		b.buf.WriteString(line[2:])
	default:
		if b.b64 {
			return fmt.Errorf("text line in a base64 body")
		}
		b.text = true
		if len(line) > 2 {
			b.buf.WriteString(line[2:])
		}
		b.buf.WriteByte('\n')
	}
	return nil
}

func (b *bodyReader) bytes() ([]byte, error) {
	if b.b64 {
		return base64.StdEncoding.DecodeString(b.buf.String())
	}
	out := b.buf.Bytes()
	if b.noNewline {
		out = out[:len(out)-1]
	}
	return out, nil
}

// statusCode reads the code of a status such as "200 OK".
func statusCode(status string) (int, error) {
	code, _, _ := strings.Cut(status, " ")
	n, err := strconv.Atoi(code)
	if err != nil || n < 100 || n > 999 {
		return 0, fmt.Errorf("bad status %q", status)
	}
	return n, nil
}
