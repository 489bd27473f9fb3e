// Compression: the content codings a session advertises in
// Accept-Encoding, and the decoders that undo them on the response body.

package reqivo

import (
	"bufio"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"
)

// Encoding is a content coding a session can ask for and decode (RFC 9110,
// 8.4.1), as named in Accept-Encoding and Content-Encoding.
type Encoding string

// The content codings WithCompression accepts.
const (
	EncodingGzip    Encoding = "gzip"
	EncodingDeflate Encoding = "deflate" // zlib-wrapped, or raw deflate as some servers send it
	EncodingBrotli  Encoding = "br"
	EncodingZstd    Encoding = "zstd"
)

// zstdMaxWindow is the largest zstd window accepted: RFC 9659 caps it at
// 8 MiB for HTTP, which bounds the decoder's memory whatever the server
// sends.
const zstdMaxWindow = 8 << 20

// compression is what WithCompression configures; a nil *compression is
// the default, gzip and deflate.
type compression struct {
	value string // the Accept-Encoding value
	codes map[string]bool
}

var defaultCompression = newCompression([]Encoding{EncodingGzip, EncodingDeflate})

func newCompression(encs []Encoding) *compression {
	c := &compression{codes: map[string]bool{}}
	names := make([]string, 0, len(encs))
	for _, e := range encs {
		names = append(names, string(e))
		c.codes[string(e)] = true
	}
	v := strings.Join(names, ", ")
	if v == "" {
		v = "identity"
	}
	c.value = v
	return c
}

// WithCompression sets the content codings the session asks for in
// Accept-Encoding, in order of preference, and decodes in response bodies:
// any of EncodingGzip, EncodingDeflate, EncodingBrotli and EncodingZstd.
// The body limit (Limits.MaxResponseBytes) counts decoded bytes, whatever
// the coding. With no encodings, "Accept-Encoding: identity" is sent and
// nothing is decoded. An unknown or repeated encoding is an error.
//
// If not set, gzip and deflate. Brotli and zstd are advertised only when
// given here.
//
// A request that sets its own Accept-Encoding (as a session or request
// header) gets the body as the server sent it, as with net/http.
func WithCompression(encs ...Encoding) Option {
	return func(c *config) error {
		seen := map[Encoding]bool{}
		for _, e := range encs {
			switch e {
			case EncodingGzip, EncodingDeflate, EncodingBrotli, EncodingZstd:
			default:
				return errorf(ErrInvalidOption, "unsupported encoding "+quote(string(e)))
			}
			if seen[e] {
				return errorf(ErrInvalidOption, "encoding "+quote(string(e))+" given twice")
			}
			seen[e] = true
		}
		c.compression = newCompression(encs)
		return nil
	}
}

// accept returns the Accept-Encoding value to send.
func (c *compression) accept() string {
	if c == nil {
		c = defaultCompression
	}
	return c.value
}

// decode replaces resp.Body with its decoded form when the response is
// coded with one of c's codings. The call decides once whether to decode
// (prepare: the session asked for the coding; a caller who set their own
// Accept-Encoding gets the raw body). Like net/http's transparent gzip, it
// drops Content-Encoding and Content-Length and sets Uncompressed.
func (c *compression) decode(resp *http.Response) {
	ce := resp.Header["Content-Encoding"]
	if len(ce) == 0 {
		return
	}
	if c == nil {
		c = defaultCompression
	}
	if len(ce) != 1 || resp.Body == nil || resp.Body == http.NoBody || resp.ContentLength == 0 ||
		resp.StatusCode == http.StatusNoContent || resp.StatusCode == http.StatusNotModified {
		return
	}
	if req := resp.Request; req != nil && req.Method == http.MethodHead {
		return
	}
	code := strings.ToLower(strings.TrimSpace(ce[0]))
	if code == "x-gzip" {
		code = "gzip"
	}
	if !c.codes[code] {
		return
	}
	resp.Body = &decodedBody{code: code, src: &sourceReader{r: resp.Body}, body: resp.Body}
	resp.Header.Del("Content-Encoding")
	resp.Header.Del("Content-Length")
	resp.ContentLength = -1
	resp.Uncompressed = true
}

// sourceReader remembers the last error of the coded body, so that a
// decoder passing it through is told apart from one failing on bad data.
type sourceReader struct {
	r   io.Reader
	err error
}

func (s *sourceReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		s.err = err
	}
	return n, err
}

// decodedBody decodes a coded body. The decoder is made on the first Read,
// so that nothing is read from the wire before the caller reads, and an
// empty body stays empty.
//
// Close may run while a Read waits on the wire (another goroutine aborting
// a stream): it closes the wire body first, which ends that Read, then
// releases the decoder under mu, which Read holds while it decodes.
type decodedBody struct {
	code string
	src  *sourceReader
	body io.Closer
	mu   sync.Mutex // guards the fields below
	dec  io.Reader
	zdec *zstd.Decoder // closed with the body
	err  error         // sticky
}

// errReadAfterClose is what a decoded body's Read returns once closed.
var errReadAfterClose = errors.New("reqivo: read on a closed response body")

func (d *decodedBody) Read(p []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.err != nil {
		return 0, d.err
	}
	if d.dec == nil {
		if err := d.init(); err != nil {
			d.err = err
			return 0, err
		}
	}
	n, err := d.dec.Read(p)
	if err != nil && err != io.EOF {
		if d.src.err == nil || err != d.src.err {
			// The decoder failed on the data, not the wire.
			err = wrapKind(ErrInvalidResponse, "decoding "+d.code+" body", err)
		}
		d.err = err
	}
	return n, err
}

func (d *decodedBody) init() error {
	br := bufio.NewReader(d.src)
	head, err := br.Peek(2)
	if len(head) == 0 {
		if err == io.EOF {
			d.dec = eofReader{}
			return nil
		}
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	switch d.code {
	case "gzip":
		zr, err := gzip.NewReader(br)
		if err != nil {
			return d.fail(err)
		}
		d.dec = zr
	case "deflate":
		// RFC 9110 deflate is zlib-wrapped; some servers send raw deflate.
		if len(head) == 2 && head[0]&0x0f == 8 && (uint16(head[0])<<8|uint16(head[1]))%31 == 0 {
			zr, err := zlib.NewReader(br)
			if err != nil {
				return d.fail(err)
			}
			d.dec = zr
		} else {
			d.dec = flate.NewReader(br)
		}
	case "br":
		d.dec = brotli.NewReader(br)
	case "zstd":
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(zstdMaxWindow))
		if err != nil {
			return d.fail(err)
		}
		d.dec, d.zdec = zr, zr
	}
	return nil
}

func (d *decodedBody) fail(err error) error {
	if d.src.err != nil && err == d.src.err {
		return err
	}
	return wrapKind(ErrInvalidResponse, "decoding "+d.code+" body", err)
}

func (d *decodedBody) Close() error {
	err := d.body.Close() // first, without mu: a Read waiting on the wire ends
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.err == nil {
		d.err = errReadAfterClose
	}
	if d.zdec != nil {
		d.zdec.Close()
		d.zdec = nil
	}
	if c, ok := d.dec.(io.Closer); ok {
		c.Close()
	}
	return err
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }
