// Command download fetches a file with a progress bar in the terminal,
// from an embedded go-httpbin on 127.0.0.1 that drips the bytes out slowly.
//
//	go run ./examples/download [-bytes 2000] [-duration 2s] [-o file]
//
// It exits non-zero if anything fails; the target file is then left as it
// was (Session.Download writes it whole or not at all).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/reqivo/reqivo"
	"github.com/reqivo/reqivo/examples/internal/embedbin"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "download:", err)
		os.Exit(1)
	}
}

func run() error {
	size := flag.Int("bytes", 2000, "bytes to download (the server sends them one by one)")
	duration := flag.Duration("duration", 2*time.Second, "how long the server takes to send them")
	out := flag.String("o", "", "file to write (default: a new temporary folder)")
	flag.Parse()
	if *size <= 0 || *duration < 0 || *duration > 9*time.Second {
		return errors.New("-bytes must be positive and -duration from 0 to 9s")
	}

	// The server: go-httpbin on a free loopback port.
	bin, err := embedbin.Start()
	if err != nil {
		return err
	}
	defer bin.Close()

	path := *out
	if path == "" {
		dir, err := os.MkdirTemp("", "reqivo-download")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		path = filepath.Join(dir, "drip.bin")
	}

	s, err := reqivo.NewSession(reqivo.WithBaseURL(bin.URL), reqivo.WithTimeout(*duration+time.Minute))
	if err != nil {
		return err
	}
	defer s.Close()

	start := time.Now()
	bar := newProgressBar(os.Stdout, 40)
	url := fmt.Sprintf("/drip?numbytes=%d&duration=%s&delay=0", *size, *duration)
	resp, err := s.Download(context.Background(), url, path, reqivo.OnDownloadProgress(bar.update))
	bar.finish()
	if err != nil {
		return err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if fi.Size() != int64(*size) {
		return fmt.Errorf("wrote %d bytes, want %d", fi.Size(), *size)
	}
	fmt.Printf("%s %s: %d bytes in %s -> %s\n", resp.Request.Method, resp.Status, fi.Size(), time.Since(start).Round(time.Millisecond), path)
	return nil
}

// progressBar redraws one terminal line, at most every 50 ms.
type progressBar struct {
	w     io.Writer
	width int
	last  time.Time
	done  int64
	total int64
	stale bool // done or total changed since the last draw
}

func newProgressBar(w io.Writer, width int) *progressBar { return &progressBar{w: w, width: width} }

func (b *progressBar) update(done, total int64) {
	b.done, b.total, b.stale = done, total, true
	if now := time.Now(); now.Sub(b.last) >= 50*time.Millisecond || done == total {
		b.last = now
		b.draw()
	}
}

func (b *progressBar) draw() {
	b.stale = false
	if b.total <= 0 {
		fmt.Fprintf(b.w, "\r%d bytes", b.done)
		return
	}
	filled := int(int64(b.width) * b.done / b.total)
	fmt.Fprintf(b.w, "\r[%s%s] %3d%% %d/%d bytes",
		strings.Repeat("=", filled), strings.Repeat(" ", b.width-filled), b.done*100/b.total, b.done, b.total)
}

func (b *progressBar) finish() {
	if b.last.IsZero() {
		return // nothing was drawn
	}
	if b.stale {
		b.draw()
	}
	fmt.Fprintln(b.w)
}
