// Progress: callbacks that count the bytes of a request body as it is sent
// and of a response body as it is read.

package reqivo

import (
	"io"
	"net/http"
)

// requestExtra holds the per-request options of tracing and progress; a
// request without them has none, so the default path pays nothing.
type requestExtra struct {
	trace    bool
	upload   func(done, total int64)
	download func(done, total int64)
}

func (rc *requestConfig) extras() *requestExtra {
	if rc.extra == nil {
		rc.extra = &requestExtra{}
	}
	return rc.extra
}

// OnUploadProgress calls f as the request body is sent, with the bytes sent
// so far and the body's length (-1 when unknown, as for a chunked body). A
// body sent again (a retry, a 307 redirect) counts from zero again. f runs
// on the goroutine that writes the body, not the caller's: it must be quick
// and safe for concurrent use with the caller's code. A nil f is an error.
func OnUploadProgress(f func(done, total int64)) RequestOption {
	return func(rc *requestConfig) error {
		if f == nil {
			return errorf(ErrInvalidOption, "nil upload progress func")
		}
		rc.extras().upload = f
		return nil
	}
}

// OnDownloadProgress calls f as the response body is read, with the bytes
// read so far and the body's length (-1 when unknown, or when the body is
// decompressed: the counts are of decoded bytes). Without Stream, the body
// is read before the request returns; with it, as the caller reads. A nil
// f is an error.
func OnDownloadProgress(f func(done, total int64)) RequestOption {
	return func(rc *requestConfig) error {
		if f == nil {
			return errorf(ErrInvalidOption, "nil download progress func")
		}
		rc.extras().download = f
		return nil
	}
}

// wrapUpload counts req's body, and each copy GetBody makes of it.
func (x *requestExtra) wrapUpload(req *http.Request) {
	f := x.upload
	if f == nil || req.Body == nil || req.Body == http.NoBody {
		return
	}
	total := req.ContentLength
	if total == 0 {
		total = -1
	}
	req.Body = &progressReader{r: req.Body, total: total, f: f}
	if gb := req.GetBody; gb != nil {
		req.GetBody = func() (io.ReadCloser, error) {
			b, err := gb()
			if err != nil || b == http.NoBody {
				return b, err
			}
			return &progressReader{r: b, total: total, f: f}, nil
		}
	}
}

// wrapDownload counts resp's body.
func (x *requestExtra) wrapDownload(resp *http.Response) {
	f := x.download
	if f == nil || resp.Body == nil || resp.Body == http.NoBody {
		return
	}
	resp.Body = &progressReader{r: resp.Body, total: resp.ContentLength, f: f}
}

// progressReader calls f after each read that returned bytes.
type progressReader struct {
	r     io.ReadCloser
	done  int64
	total int64
	f     func(done, total int64)
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 {
		p.done += int64(n)
		p.f(p.done, p.total)
	}
	return n, err
}

func (p *progressReader) Close() error { return p.r.Close() }
