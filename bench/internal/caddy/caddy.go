//go:build linux

// Package caddy runs Debian's Caddy for the HTTP/3 benchmarks: HTTP/1.1,
// HTTP/2 and HTTP/3 on one random 127.0.0.1 port (TCP and UDP), the
// throwaway certificate of internal/selfsigned, the files of a temporary
// directory (/small, 2 KiB, and /blob50, 50 MiB). The admin endpoint,
// automatic HTTPS and OCSP stapling are off, so it makes no outbound
// connection. It is stopped by its PID.
package caddy

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/reqivo/reqivo/bench/internal/selfsigned"
)

// Sizes of the files it serves.
const (
	SmallSize  = 2 << 10
	Blob50Size = 50 << 20
)

// Server is a running Caddy.
type Server struct {
	URL    string // https://127.0.0.1:port
	CAFile string
	Roots  *x509.CertPool
	dir    string
	cmd    *exec.Cmd
	done   chan struct{}
}

// Start writes the files, certificate and configuration into a temporary
// directory and starts caddy.
func Start() (*Server, error) {
	bin, err := exec.LookPath("caddy")
	if err != nil {
		return nil, errors.New("caddy is not installed (apt-get install -y caddy)")
	}
	dir, err := os.MkdirTemp("", "bench-caddy-")
	if err != nil {
		return nil, err
	}
	s := &Server{dir: dir, done: make(chan struct{})}
	conf, err := s.setup()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	cmd := exec.Command(bin, "run", "--config", conf)
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s.cmd = cmd
	go func() { _ = cmd.Wait(); close(s.done) }()
	if err := s.waitUp(); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

func (s *Server) setup() (string, error) {
	port, err := freePort()
	if err != nil {
		return "", err
	}
	httpPort, err := freePort() // never bound (no automatic HTTPS); not 80
	if err != nil {
		return "", err
	}
	s.URL = "https://127.0.0.1:" + strconv.Itoa(port)
	if s.CAFile, s.Roots, err = selfsigned.Write(s.dir); err != nil {
		return "", err
	}
	www := filepath.Join(s.dir, "www")
	if err := os.Mkdir(www, 0o755); err != nil {
		return "", err
	}
	for name, size := range map[string]int64{"small": SmallSize, "blob50": Blob50Size} {
		f, err := os.Create(filepath.Join(www, name))
		if err != nil {
			return "", err
		}
		_, err = io.CopyN(f, rand.Reader, size)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return "", err
		}
	}
	conf := map[string]any{
		"admin":   map[string]any{"disabled": true, "config": map[string]any{"persist": false}},
		"logging": map[string]any{"logs": map[string]any{"default": map[string]any{"level": "ERROR"}}},
		"storage": map[string]any{"module": "file_system", "root": filepath.Join(s.dir, "storage")},
		"apps": map[string]any{
			"http": map[string]any{
				"http_port": httpPort, "https_port": port,
				"servers": map[string]any{"bench": map[string]any{
					"listen":                  []string{"127.0.0.1:" + strconv.Itoa(port)},
					"protocols":               []string{"h1", "h2", "h3"},
					"routes":                  []any{map[string]any{"handle": []any{map[string]any{"handler": "file_server", "root": www}}}},
					"tls_connection_policies": []any{map[string]any{"certificate_selection": map[string]any{"any_tag": []string{"bench"}}}},
					"automatic_https":         map[string]any{"disable": true},
				}},
			},
			"tls": map[string]any{
				"certificates": map[string]any{"load_files": []any{map[string]any{
					"certificate": s.CAFile, "key": filepath.Join(s.dir, "key.pem"), "tags": []string{"bench"},
				}}},
				"disable_ocsp_stapling": true,
			},
		},
	}
	b, err := json.Marshal(conf)
	if err != nil {
		return "", err
	}
	path := filepath.Join(s.dir, "caddy.json")
	return path, os.WriteFile(path, b, 0o600)
}

// freePort finds a loopback port free for both TCP and UDP.
func freePort() (int, error) {
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", "127.0.0.1:"+strconv.Itoa(port))
		l.Close()
		if err == nil {
			u.Close()
			return port, nil
		}
	}
	return 0, errors.New("caddy: no port free for TCP and UDP")
}

func (s *Server) waitUp() error {
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: s.Roots}}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 2 * time.Second}
	var err error
	for range 300 {
		select {
		case <-s.done:
			return errors.New("caddy exited")
		default:
		}
		var resp *http.Response
		if resp, err = c.Get(s.URL + "/small"); err == nil {
			resp.Body.Close()
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("caddy did not start: %w", err)
}

// Stop stops caddy by its PID and removes its directory.
func (s *Server) Stop() {
	if s.cmd != nil {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(5 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
		}
		s.cmd = nil
	}
	os.RemoveAll(s.dir)
}
