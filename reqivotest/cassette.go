// Cassette: record a session's real traffic to a file, redacted, and
// replay it with no network.

package reqivotest

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"

	"github.com/reqivo/reqivo"
)

// RecordEnv is the environment variable that makes Cassette record when
// set to "1", even over an existing file.
const RecordEnv = "REQIVO_RECORD"

// Cassette returns an option that records the session's traffic to the
// file at path, or replays it from there.
//
// Modes: when the file does not exist, or REQIVO_RECORD=1 is set, requests
// go to the network as usual and each round trip (each redirect hop and
// retry) is written to path when t ends. Otherwise every request is
// answered from the file and nothing touches the network, whatever proxy
// or dialer the session has; a request with no interaction left in the
// file fails t and returns an error.
//
// Matching: a request is answered by the first unused interaction with
// the same method, path, query and request body digest, so the same
// request may get different answers in turn. The origin (scheme, host and
// port) is not matched, so a cassette recorded against an httptest server
// on a random port replays against another one, or against none; use
// CassetteWith and MatchOrigin to match it too. The query's order does not
// matter, nor do headers. Secret query values and form, multipart or JSON
// fields (see below) are matched as REDACTED, so a replay with dummy
// credentials still matches.
//
// Redaction happens before anything is written, and cannot be turned off:
// the credentials of Authorization and Proxy-Authorization (their scheme
// is kept), Cookie and Set-Cookie values (cookie names and attributes are
// kept), X-Api-Key, X-Auth-Token and any header whose name says token,
// key, secret, password, signature, auth, credential or session, URL
// userinfo (user name and password: a user name alone is often a token),
// and the values of query keys, fragment fields (#access_token=...) and
// form, multipart or JSON fields so named, in request URLs and in
// Location, Content-Location and Referer headers. Each secret becomes a
// placeholder such as REDACTED-3, the same for the same secret everywhere
// in the file, and is replaced wherever else it appears (a body that
// echoes it, a later URL), so that replayed code still works: a
// Set-Cookie the next request needs, a token a login returns. Other
// request headers are written as REDACTED unless known to be plain
// (Accept, Content-Type, User-Agent ...): requests are not matched on
// headers. Bodies coded with gzip, deflate, br or zstd are written
// decoded, so that their secrets are found too.
//
// The file is text meant to be read and diffed: one entry per round trip,
// request and response headers sorted, bodies inline when they are text
// (base64 otherwise). When recording, a response body is written as far
// as the code under test read it; a round trip that got no response
// (refused, timed out) is not recorded. Use it with a session's other
// options; put InstantWaits beside it so replayed retries do not wait.
func Cassette(t testing.TB, path string) reqivo.Option {
	t.Helper()
	return CassetteWith(t, path, CassetteOptions{})
}

// CassetteOptions tunes CassetteWith. The zero value is Cassette's
// behaviour.
type CassetteOptions struct {
	// MatchOrigin matches a request's scheme, host and port too, for a
	// cassette that records one path on several origins. If not set,
	// requests are matched relative to the origin.
	MatchOrigin bool
}

// CassetteWith is Cassette with options.
func CassetteWith(t testing.TB, path string, o CassetteOptions) reqivo.Option {
	t.Helper()
	c := &cassette{t: t, path: path, origin: o.MatchOrigin, reported: map[string]bool{}}
	_, statErr := os.Stat(path)
	if os.Getenv(RecordEnv) == "1" || errors.Is(statErr, os.ErrNotExist) {
		t.Cleanup(c.write)
		return reqivo.WithMiddleware(c.record)
	}
	f, err := os.Open(path)
	if err == nil {
		c.entries, err = parseEntries(f)
		f.Close()
	}
	if err != nil {
		t.Fatalf("reqivotest: cassette %s: %v", path, err)
	}
	c.used = make([]bool, len(c.entries))
	return reqivo.WithMiddleware(c.replay)
}

// cassette is one file being recorded or replayed.
type cassette struct {
	t      testing.TB
	path   string
	origin bool // match the origin too

	mu       sync.Mutex // guards the fields below
	recorded []*recording
	entries  []*entry // replay
	used     []bool   // replay: entries already answered
	reported map[string]bool
}

// recording is one round trip seen while recording; its response body
// grows as the caller reads it.
type recording struct {
	req     *http.Request
	reqBody []byte
	status  string
	header  http.Header // as received: the session changes resp.Header as it decodes
	mu      sync.Mutex
	body    bytes.Buffer
}

func (r *recording) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.body.Write(p)
}

// record sends each request and keeps a copy of it and its response.
func (c *cassette) record(next http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		body, req, err := requestBody(req)
		if err != nil {
			return nil, err
		}
		resp, err := next.RoundTrip(req)
		if err != nil {
			return nil, err
		}
		rec := &recording{req: req, reqBody: body, status: resp.Status, header: resp.Header.Clone()}
		resp.Body = &teeBody{ReadCloser: resp.Body, w: rec}
		c.mu.Lock()
		c.recorded = append(c.recorded, rec)
		c.mu.Unlock()
		return resp, nil
	})
}

// teeBody copies what is read from a body to w.
type teeBody struct {
	io.ReadCloser
	w io.Writer
}

func (b *teeBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		_, _ = b.w.Write(p[:n])
	}
	return n, err
}

// requestBody returns a copy of req's body, and a request that still has
// all of it to send: req itself when its body can be had again.
func requestBody(req *http.Request) ([]byte, *http.Request, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return nil, req, nil
	}
	if req.GetBody != nil {
		rc, err := req.GetBody()
		if err != nil {
			return nil, nil, err
		}
		defer rc.Close()
		b, err := io.ReadAll(rc)
		return b, req, err
	}
	b, err := io.ReadAll(req.Body)
	req.Body.Close()
	if err != nil {
		return nil, nil, err
	}
	r2 := req.Clone(req.Context())
	r2.Body = io.NopCloser(bytes.NewReader(b))
	r2.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	return b, r2, nil
}

// write redacts what was recorded and writes it to the file.
func (c *cassette) write() {
	c.mu.Lock()
	recs := slices.Clone(c.recorded)
	c.mu.Unlock()

	red := newRedactor()
	entries := make([]*entry, len(recs))
	for i, r := range recs { // first the headers, so that placeholders number in order
		header, body := decodedResponse(r)
		ct := r.req.Header.Get("Content-Type")
		entries[i] = &entry{
			method:     r.req.Method,
			url:        redactRawURL(r.req.URL.String()),
			reqHeader:  red.requestHeader(r.req.Header),
			reqBody:    canonicalBody(ct, r.reqBody),
			status:     r.status,
			respHeader: red.responseHeader(header),
			respBody:   body,
		}
		if mediaType(ct) == "multipart/form-data" && bytes.HasPrefix(entries[i].reqBody, []byte("--"+canonicalBoundary)) {
			entries[i].reqHeader.Set("Content-Type", "multipart/form-data; boundary="+canonicalBoundary)
		}
		red.learnURL(r.req.URL)
		red.learnBody(r.req.Header.Get("Content-Type"), r.reqBody)
		red.learnBody(header.Get("Content-Type"), body)
	}
	for _, e := range entries { // then every secret wherever it appears
		e.url = red.replaceString(e.url)
		e.reqBody = red.replaceAll(e.reqBody)
		e.respBody = red.replaceAll(e.respBody)
		for _, h := range []http.Header{e.reqHeader, e.respHeader} {
			for k, vs := range h {
				for i, v := range vs {
					vs[i] = red.replaceString(v)
				}
				h[k] = vs
			}
		}
		e.reqDigest = digest(e.reqBody)
		if n := e.respHeader.Get("Content-Length"); n != "" {
			e.respHeader.Set("Content-Length", strconv.Itoa(len(e.respBody)))
		}
	}
	if err := writeFile(c.path, entries); err != nil {
		c.t.Errorf("reqivotest: cassette %s: %v", c.path, err)
	}
}

// decodedResponse returns the header and the body read of a recorded
// response, decoded when it is coded with codings a session can decode
// (gzip, deflate, br, zstd, in any order), so that redaction sees what
// the code under test saw; a body read in part is decoded as far as it
// goes. A body in another coding is kept as it came.
func decodedResponse(r *recording) (http.Header, []byte) {
	r.mu.Lock()
	body := bytes.Clone(r.body.Bytes())
	r.mu.Unlock()
	h := r.header.Clone()
	var codings []string
	for _, v := range h.Values("Content-Encoding") {
		for c := range strings.SplitSeq(v, ",") {
			if c = strings.ToLower(strings.TrimSpace(c)); c != "" && c != "identity" {
				codings = append(codings, c)
			}
		}
	}
	if len(codings) == 0 || len(body) == 0 {
		return h, body
	}
	dec := body
	for _, c := range slices.Backward(codings) { // the last coding applied is undone first
		var ok bool
		if dec, ok = decodeBody(c, dec); !ok {
			return h, body
		}
	}
	h.Del("Content-Encoding")
	return h, dec
}

// decodeBody undoes coding c on b; ok is false for a coding it does not
// know or data that is not in it. A truncated body gives what decodes.
func decodeBody(c string, b []byte) (out []byte, ok bool) {
	var zr io.Reader
	switch c {
	case "gzip", "x-gzip":
		gz, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return nil, false
		}
		zr = gz
	case "deflate":
		// RFC 9110 deflate is zlib-wrapped; some servers send raw deflate.
		if z, err := zlib.NewReader(bytes.NewReader(b)); err == nil {
			zr = z
		} else {
			zr = flate.NewReader(bytes.NewReader(b))
		}
	case "br":
		zr = brotli.NewReader(bytes.NewReader(b))
	case "zstd":
		zd, err := zstd.NewReader(bytes.NewReader(b), zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, false
		}
		defer zd.Close()
		zr = zd
	default:
		return nil, false
	}
	out, err := io.ReadAll(zr)
	if err != nil && len(out) == 0 {
		return nil, false
	}
	return out, true
}

// writeFile writes the entries to a temporary file and renames it to path,
// so that a reader never sees half a cassette.
func writeFile(path string, entries []*entry) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".cassette-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := writeEntries(f, entries); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// replay answers each request from the file; next is never called.
func (c *cassette) replay(http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		body, _, err := requestBody(req)
		if err != nil {
			return nil, err
		}
		d := digest(canonicalBody(req.Header.Get("Content-Type"), body))
		key := matchKey(req.URL.String(), c.origin)
		c.mu.Lock()
		var found *entry
		sameURL, usedURL := 0, 0
		for i, e := range c.entries {
			if e.method != req.Method || matchKey(e.url, c.origin) != key {
				continue
			}
			sameURL++
			if c.used[i] {
				usedURL++
				continue
			}
			if e.reqDigest == d {
				c.used[i], found = true, e
				break
			}
		}
		c.mu.Unlock()
		if found == nil {
			msg := fmt.Sprintf("cassette %s has no interaction left for %s %s", c.path, req.Method, reqivo.RedactURL(req.URL.String()))
			switch {
			case sameURL == 0:
				msg += " (none with this method and URL; record again with " + RecordEnv + "=1)"
			case usedURL == sameURL:
				msg += fmt.Sprintf(" (its %d were all used)", sameURL)
			default:
				msg += " (none with this body, " + d + ")"
			}
			c.mu.Lock()
			first := !c.reported[msg]
			c.reported[msg] = true
			c.mu.Unlock()
			if first { // retries of the request fail it the same way
				c.t.Errorf("reqivotest: %s", msg)
			}
			return nil, errors.New("reqivotest: " + msg)
		}
		return found.response(req)
	})
}

// response builds the recorded response for req.
func (e *entry) response(req *http.Request) (*http.Response, error) {
	code, err := statusCode(e.status)
	if err != nil {
		return nil, err
	}
	resp := &http.Response{
		Status:     e.status,
		StatusCode: code,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     e.respHeader.Clone(),
		Request:    req,
	}
	if req.Method == http.MethodHead {
		resp.Body, resp.ContentLength = http.NoBody, -1
		if n, err := strconv.ParseInt(resp.Header.Get("Content-Length"), 10, 64); err == nil {
			resp.ContentLength = n
		}
		return resp, nil
	}
	resp.Body = io.NopCloser(bytes.NewReader(e.respBody))
	resp.ContentLength = int64(len(e.respBody))
	return resp, nil
}

// matchKey is the form of a URL requests are matched on: redacted, with
// the query's pairs sorted, no userinfo or fragment, and no origin unless
// origin is set.
func matchKey(rawURL string, origin bool) string {
	u, err := url.Parse(redactRawURL(rawURL))
	if err != nil {
		return rawURL
	}
	if u.RawQuery != "" {
		pairs := strings.Split(u.RawQuery, "&")
		slices.Sort(pairs)
		u.RawQuery = strings.Join(pairs, "&")
	}
	u.Fragment, u.RawFragment = "", ""
	if u.Path == "" && u.Opaque == "" {
		u.Path = "/" // http://h and http://h/ ask for the same thing
	}
	u.User = nil // a credential, not where the request goes
	if !origin {
		u.Scheme, u.Host = "", ""
	}
	return u.String()
}

// digest names a canonical request body; "" for none.
func digest(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}
