// Download: a GET whose body goes to a file, all of it or none.

package reqivo

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
)

// downloadFileMode is the mode of a downloaded file.
const downloadFileMode = 0o644

// Download GETs rawURL and writes the body to path. The body goes first to
// a temporary file in path's directory, renamed to path once the whole body
// is written and synced, and removed on any failure, so path holds either
// the complete body or what it held before (nothing, or an older file, which
// a success replaces). The file's mode is 0644.
//
// opts are those of Get (OnDownloadProgress shows the transfer); the body
// is streamed, not held in memory, and is not bounded by
// Limits.MaxResponseBytes. The session's total timeout (30 s unless set)
// covers the whole transfer: give a large download a longer Timeout, or
// Timeout(0) for none (the read timeout still ends a transfer that
// stalls). A status other than 2xx writes nothing and is
// returned as an *HTTPError. On success the returned Response has its
// status and headers, and no body. A path whose directory cannot take a
// file fails with ErrInvalidOption before anything is sent; a failure to
// write the file is a *RequestError whose cause is the *fs.PathError.
func (s *Session) Download(ctx context.Context, rawURL, path string, opts ...RequestOption) (*Response, error) {
	fail := func(err error) (*Response, error) {
		return nil, &RequestError{Method: http.MethodGet, URL: RedactURL(rawURL), Err: err}
	}
	if path == "" {
		return fail(errorf(ErrInvalidOption, "empty download path"))
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return fail(errorf(ErrInvalidOption, "download path "+quote(path)+" is a directory"))
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".*.part")
	if err != nil {
		return fail(wrapKind(ErrInvalidOption, "download path "+quote(path), err))
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()

	resp, err := s.Request(ctx, http.MethodGet, rawURL, append(opts[:len(opts):len(opts)], Stream())...)
	if err != nil {
		return nil, err
	}
	defer resp.Close()
	if !resp.OK() {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		return nil, httpError(http.MethodGet, resp.Request.URL, resp.StatusCode, resp.Status, body)
	}
	if _, err := io.Copy(tmp, resp.Body); err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return fail(err) // writing the file, not the transfer, failed
		}
		return nil, requestError(ctx, http.MethodGet, resp.Request.URL, err)
	}
	if err := resp.Close(); err != nil {
		return nil, requestError(ctx, http.MethodGet, resp.Request.URL, err)
	}
	for _, step := range []func() error{
		func() error { return tmp.Chmod(downloadFileMode) },
		tmp.Sync,
		tmp.Close,
		func() error { return os.Rename(tmp.Name(), path) },
	} {
		if err := step(); err != nil {
			return fail(err)
		}
	}
	done = true
	resp.Body = http.NoBody
	return resp, nil
}
