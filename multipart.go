// Multipart: multipart/form-data bodies streamed from fields and files
// through a pipe, never held whole in memory.

package reqivo

import (
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// Part is one part of a multipart/form-data body: a field (FormField) or a
// file (FormFile, FormFileFromPath). The zero Part is invalid: Multipart
// refuses it.
type Part struct {
	name        string
	value       string
	isFile      bool
	filename    string
	contentType string
	r           io.Reader // FormFile
	path        string    // FormFileFromPath
	size        int64     // -1: unknown
}

// FormField is a form field part.
func FormField(name, value string) Part {
	return Part{name: name, value: value, size: int64(len(value))}
}

// FormFile is a file part named filename, with the content read from r
// while the request is sent. A *bytes.Reader, *bytes.Buffer or
// *strings.Reader gives its length; any other reader makes the body
// chunked. If r is an io.Closer it is closed when the request is done, sent
// or not. The Content-Type is guessed from filename's extension
// (application/octet-stream when unknown); ContentType sets it.
func FormFile(field, filename string, r io.Reader) Part {
	p := Part{name: field, isFile: true, filename: filename, r: r, size: -1}
	if l, ok := r.(interface{ Len() int }); ok {
		p.size = int64(l.Len())
	}
	return p
}

// FormFileFromPath is a file part with the content of the file at path,
// named by its base name. The file is checked when the request is built
// (a missing file fails it before anything is sent), and opened only while
// its part is sent. If the file changes size in between, the request
// fails.
func FormFileFromPath(field, path string) Part {
	return Part{name: field, isFile: true, filename: filepath.Base(path), path: path, size: -1}
}

// ContentType returns a copy of p with its Content-Type set to ct. A file
// part has one guessed from its file name if not set; a field has none
// unless set (RFC 7578 allows one, text/plain being the default).
func (p Part) ContentType(ct string) Part {
	p.contentType = ct
	return p
}

// Multipart sends parts as a multipart/form-data body, with the matching
// Content-Type and boundary. The body is streamed through an io.Pipe as
// the transport sends it, so no file is held in memory; it is therefore
// sent once: a multipart request is not retried, and a 307 or 308
// redirect is handed back rather than followed. The Content-Length is set
// when every part's size is known (fields, files from a path, byte
// readers), so OnUploadProgress gets a total; otherwise the body is
// chunked.
//
// A part without a name, a file part without a reader or path, a name or
// file name with CR, LF or NUL, or a path that is not a readable regular
// file is an error, before anything is sent.
func Multipart(parts ...Part) RequestOption {
	return func(rc *requestConfig) error {
		b := &multipartBody{parts: make([]Part, len(parts))}
		copy(b.parts, parts)
		// Closers given to FormFile are closed on every path from here on.
		if err := rc.setBody(); err != nil {
			b.closeReaders()
			return err
		}
		if err := b.check(); err != nil {
			b.closeReaders()
			return err
		}
		b.boundary = multipart.NewWriter(io.Discard).Boundary()
		rc.body = b
		rc.getBody = nil
		rc.contentLength = b.length()
		rc.contentType = "multipart/form-data; boundary=" + b.boundary
		return nil
	}
}

// check validates the parts and sizes the files given by path.
func (b *multipartBody) check() error {
	for i := range b.parts {
		p := &b.parts[i]
		if p.name == "" {
			return errorf(ErrInvalidOption, "multipart part without a name")
		}
		if strings.ContainsAny(p.name, "\r\n\x00") || strings.ContainsAny(p.filename, "\r\n\x00") ||
			strings.ContainsAny(p.contentType, "\r\n\x00") {
			return errorf(ErrInvalidHeader, "CR, LF or NUL in multipart part "+quote(p.name))
		}
		if !p.isFile {
			continue
		}
		switch {
		case p.path != "":
			fi, err := os.Stat(p.path)
			if err != nil {
				return wrapKind(ErrInvalidOption, "multipart file", err)
			}
			if !fi.Mode().IsRegular() {
				return errorf(ErrInvalidOption, "multipart file "+quote(p.path)+" is not a regular file")
			}
			p.size = fi.Size()
		case p.r == nil:
			return errorf(ErrInvalidOption, "multipart file part "+quote(p.name)+" without a reader")
		}
		if p.contentType == "" {
			p.contentType = mime.TypeByExtension(filepath.Ext(p.filename))
			if p.contentType == "" {
				p.contentType = "application/octet-stream"
			}
		}
	}
	return nil
}

// length is the exact length of the body, or -1 when a part's is unknown:
// the parts' headers and boundaries, written with empty contents, plus the
// contents' sizes.
func (b *multipartBody) length() int64 {
	var sizes int64
	for _, p := range b.parts {
		if p.size < 0 {
			return -1
		}
		sizes += p.size
	}
	var c countingWriter
	mw := multipart.NewWriter(&c)
	if mw.SetBoundary(b.boundary) != nil {
		return -1
	}
	for _, p := range b.parts {
		if _, err := mw.CreatePart(p.header()); err != nil {
			return -1
		}
	}
	if mw.Close() != nil {
		return -1
	}
	return c.n + sizes
}

type countingWriter struct{ n int64 }

func (c *countingWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}

var quoteEscaper = strings.NewReplacer("\\", "\\\\", `"`, "\\\"")

func (p *Part) header() textproto.MIMEHeader {
	h := make(textproto.MIMEHeader, 2)
	if p.isFile {
		h.Set("Content-Disposition", multipart.FileContentDisposition(p.name, p.filename))
		h.Set("Content-Type", p.contentType)
	} else {
		h.Set("Content-Disposition", `form-data; name="`+quoteEscaper.Replace(p.name)+`"`)
		if p.contentType != "" {
			h.Set("Content-Type", p.contentType)
		}
	}
	return h
}

// errBodyClosed is what a read of a closed multipart body returns, and
// what stops its writer.
var errBodyClosed = errors.New("reqivo: multipart body closed")

// multipartBody is the request body of Multipart. Its writer goroutine
// starts on the first Read, so a request that fails before sending starts
// none; Close stops it (its next write fails) and closes the parts'
// readers.
type multipartBody struct {
	parts    []Part
	boundary string

	mu      sync.Mutex // guards the fields below
	pr      *io.PipeReader
	closed  bool
	started bool
}

func (b *multipartBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return 0, errBodyClosed
	}
	if !b.started {
		b.started = true
		pr, pw := io.Pipe()
		b.pr = pr
		go b.write(pw)
	}
	pr := b.pr
	b.mu.Unlock()
	return pr.Read(p)
}

// Close stops the body. It does not wait for the writer, which may be
// blocked in a caller's reader; the writer ends at its next write.
func (b *multipartBody) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	started, pr := b.started, b.pr
	b.mu.Unlock()
	if !started {
		b.closeReaders()
		return nil
	}
	return pr.CloseWithError(errBodyClosed)
}

// write runs on its own goroutine: it writes the parts into pw, and
// closes it and the parts' readers when done.
func (b *multipartBody) write(pw *io.PipeWriter) {
	err := b.writeParts(pw)
	b.closeReaders()
	pw.CloseWithError(err) // nil: the reader sees EOF
}

func (b *multipartBody) writeParts(w io.Writer) error {
	mw := multipart.NewWriter(w)
	if err := mw.SetBoundary(b.boundary); err != nil {
		return err
	}
	for i := range b.parts {
		p := &b.parts[i]
		pw, err := mw.CreatePart(p.header())
		if err != nil {
			return err
		}
		if !p.isFile {
			if _, err := io.WriteString(pw, p.value); err != nil {
				return err
			}
			continue
		}
		if err := p.copyTo(pw); err != nil {
			return err
		}
	}
	return mw.Close()
}

// copyTo writes a file part's content; a part of known size must have
// exactly that many bytes, as the Content-Length counted them.
func (p *Part) copyTo(w io.Writer) error {
	r := p.r
	if p.path != "" {
		f, err := os.Open(p.path)
		if err != nil {
			return err
		}
		defer f.Close()
		r = f
	}
	if p.size < 0 {
		_, err := io.Copy(w, r)
		return err
	}
	n, err := io.Copy(w, io.LimitReader(r, p.size))
	if err != nil {
		return err
	}
	var one [1]byte
	if n < p.size {
		return errorf(ErrInvalidOption, "multipart file "+quote(p.filename)+" shrank while being sent")
	}
	if m, _ := io.ReadFull(r, one[:]); m > 0 {
		return errorf(ErrInvalidOption, "multipart file "+quote(p.filename)+" grew while being sent")
	}
	return nil
}

// closeReaders closes the readers given to FormFile that are io.Closers.
// It runs once the body is done with them, or when it is never sent.
func (b *multipartBody) closeReaders() {
	for _, p := range b.parts {
		if c, ok := p.r.(io.Closer); ok {
			c.Close()
		}
	}
}
