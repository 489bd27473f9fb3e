//go:build linux

// Package nginx runs Debian's nginx for the HTTP/2 benchmarks: on random
// 127.0.0.1 ports, with a throwaway certificate made here, from a
// temporary directory, stopped by its PID.
//
// It listens on three ports: H2 serves TLS with HTTP/2 (ALPN h2 and
// http/1.1), H1 serves TLS with HTTP/1.1 only, and Status serves nginx's
// stub_status (plain http) for the count of accepted connections. The
// files are /small (a 2 KiB body) and /blob50 (50 MiB) and /blob4 (4 MiB).
package nginx

import (
	"bufio"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/reqivo/reqivo/bench/internal/selfsigned"
)

// Sizes of the files it serves.
const (
	SmallSize  = 2 << 10
	Blob50Size = 50 << 20
	Blob4Size  = 4 << 20
)

// Server is a running nginx.
type Server struct {
	H2, H1, Status string // host:port of each listener
	CAFile         string // PEM of the certificate's CA, for clients
	Roots          *x509.CertPool
	dir            string
	cmd            *exec.Cmd
}

// Start writes the configuration, certificate and files into a temporary
// directory and starts nginx (from $PATH or /usr/sbin).
func Start() (*Server, error) {
	bin, err := exec.LookPath("nginx")
	if err != nil {
		bin = "/usr/sbin/nginx"
		if _, serr := os.Stat(bin); serr != nil {
			return nil, errors.New("nginx is not installed (apt-get install -y nginx)")
		}
	}
	dir, err := os.MkdirTemp("", "bench-nginx-")
	if err != nil {
		return nil, err
	}
	s := &Server{dir: dir}
	if err := s.setup(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	cmd := exec.Command(bin, "-p", dir, "-c", filepath.Join(dir, "nginx.conf"), "-e", filepath.Join(dir, "error.log"))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s.cmd = cmd
	if err := s.waitUp(); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

func (s *Server) setup() error {
	ports, err := freePorts(3)
	if err != nil {
		return err
	}
	s.H2 = "127.0.0.1:" + strconv.Itoa(ports[0])
	s.H1 = "127.0.0.1:" + strconv.Itoa(ports[1])
	s.Status = "127.0.0.1:" + strconv.Itoa(ports[2])
	if err := s.writeCert(); err != nil {
		return err
	}
	www := filepath.Join(s.dir, "www")
	if err := os.Mkdir(www, 0o755); err != nil {
		return err
	}
	for name, size := range map[string]int64{"small": SmallSize, "blob50": Blob50Size, "blob4": Blob4Size} {
		if err := writeRandom(filepath.Join(www, name), size); err != nil {
			return err
		}
	}
	for _, d := range []string{"tmp", "logs"} {
		if err := os.Mkdir(filepath.Join(s.dir, d), 0o755); err != nil {
			return err
		}
	}
	conf := fmt.Sprintf(confTemplate, s.dir, s.H2, s.H1, s.Status)
	return os.WriteFile(filepath.Join(s.dir, "nginx.conf"), []byte(conf), 0o644)
}

// confTemplate: one worker, no access log, keep-alive for the whole run.
// nginx 1.22 turns HTTP/2 on per listen socket.
const confTemplate = `daemon off;
master_process off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 4096; }
http {
	access_log off;
	client_body_temp_path %[1]s/tmp/body;
	proxy_temp_path %[1]s/tmp/proxy;
	fastcgi_temp_path %[1]s/tmp/fastcgi;
	uwsgi_temp_path %[1]s/tmp/uwsgi;
	scgi_temp_path %[1]s/tmp/scgi;
	default_type application/octet-stream;
	keepalive_requests 1000000;
	keepalive_timeout 300s;
	ssl_certificate %[1]s/cert.pem;
	ssl_certificate_key %[1]s/key.pem;
	ssl_protocols TLSv1.2 TLSv1.3;
	ssl_session_cache off;
	ssl_session_tickets off;
	server {
		listen %[2]s ssl http2;
		root %[1]s/www;
	}
	server {
		listen %[3]s ssl;
		root %[1]s/www;
	}
	server {
		listen %[4]s;
		location = /status { stub_status; }
	}
}
`

// writeCert makes a self-signed ECDSA P-256 certificate for 127.0.0.1.
func (s *Server) writeCert() error {
	var err error
	s.CAFile, s.Roots, err = selfsigned.Write(s.dir)
	return err
}

func writeRandom(path string, size int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.CopyN(f, rand.Reader, size); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// freePorts finds n free loopback ports (by listening and closing).
func freePorts(n int) ([]int, error) {
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	var ports []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func (s *Server) waitUp() error {
	for range 100 {
		if _, err := s.Accepts(); err == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	log, _ := os.ReadFile(filepath.Join(s.dir, "error.log"))
	return fmt.Errorf("nginx did not start: %s", log)
}

var statusClient = &http.Client{Transport: &http.Transport{}, Timeout: 5 * time.Second}

// Accepts is how many connections nginx has accepted on all its ports,
// the status requests included (one each, no keep-alive).
func (s *Server) Accepts() (int64, error) {
	req, err := http.NewRequest(http.MethodGet, "http://"+s.Status+"/status", nil)
	if err != nil {
		return 0, err
	}
	req.Close = true
	resp, err := statusClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	// Active connections: 1
	// server accepts handled requests
	//  5 5 5
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "server accepts") && sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) >= 1 {
				return strconv.ParseInt(f[0], 10, 64)
			}
		}
	}
	return 0, errors.New("nginx: no accepts in stub_status")
}

// Stop stops nginx by its PID and removes its directory.
func (s *Server) Stop() {
	if s.cmd != nil {
		s.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { s.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			s.cmd.Process.Kill()
			<-done
		}
		s.cmd = nil
	}
	os.RemoveAll(s.dir)
}
