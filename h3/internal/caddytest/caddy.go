//go:build linux

// Package caddytest starts Debian's Caddy on 127.0.0.1 for tests and
// benchmarks: HTTP/1.1, HTTP/2 and HTTP/3 on one free port (TCP and UDP),
// a certificate generated for 127.0.0.1, files served from a directory.
// The admin endpoint, automatic HTTPS (ACME) and OCSP are off, so Caddy
// makes no outbound connection; it is stopped by its PID.
package caddytest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// ErrNotInstalled is returned by Start when there is no caddy binary.
var ErrNotInstalled = errors.New("caddytest: caddy is not installed")

// Server is a running Caddy.
type Server struct {
	URL   string         // https://127.0.0.1:port
	Port  int            // TCP and UDP
	Roots *x509.CertPool // trusts its certificate
	Dir   string         // the directory it serves
	cmd   *exec.Cmd
	done  chan struct{}
}

// Start starts Caddy serving the files of dir (made by the caller), with
// its state and logs in work, a scratch directory. It returns once Caddy
// answers over TCP.
func Start(dir, work string) (*Server, error) {
	bin, err := exec.LookPath("caddy")
	if err != nil {
		return nil, ErrNotInstalled
	}
	certFile, keyFile := filepath.Join(work, "cert.pem"), filepath.Join(work, "key.pem")
	roots, err := writeCert(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	httpPort, err := freePort()
	if err != nil {
		return nil, err
	}
	conf := config(port, httpPort, dir, certFile, keyFile, filepath.Join(work, "storage"))
	confFile := filepath.Join(work, "caddy.json")
	b, err := json.MarshalIndent(conf, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(confFile, b, 0o600); err != nil {
		return nil, err
	}
	logFile, err := os.Create(filepath.Join(work, "caddy.log"))
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	cmd := exec.Command(bin, "run", "--config", confFile)
	cmd.Env = append(os.Environ(), "HOME="+work, "XDG_DATA_HOME="+work, "XDG_CONFIG_HOME="+work)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &Server{URL: "https://127.0.0.1:" + strconv.Itoa(port), Port: port, Roots: roots, Dir: dir, cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(s.done) }()
	if err := s.waitReady(); err != nil {
		s.Stop()
		log, _ := os.ReadFile(logFile.Name())
		return nil, fmt.Errorf("caddytest: caddy did not start: %w\n%s", err, log)
	}
	return s, nil
}

// Stop stops Caddy by its PID: SIGTERM, then SIGKILL after 10 s.
func (s *Server) Stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

func (s *Server) waitReady() error {
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: s.Roots}}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 2 * time.Second}
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-s.done:
			return errors.New("caddy exited")
		default:
		}
		resp, err := c.Get(s.URL + "/")
		if err == nil {
			resp.Body.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// config is Caddy's JSON config: one server on 127.0.0.1:port.
func config(port, httpPort int, dir, certFile, keyFile, storage string) map[string]any {
	addr := "127.0.0.1:" + strconv.Itoa(port)
	return map[string]any{
		"admin":   map[string]any{"disabled": true, "config": map[string]any{"persist": false}},
		"logging": map[string]any{"logs": map[string]any{"default": map[string]any{"level": "ERROR"}}},
		"storage": map[string]any{"module": "file_system", "root": storage},
		"apps": map[string]any{
			"http": map[string]any{
				"http_port":  httpPort,
				"https_port": port,
				"servers": map[string]any{
					"reqivo": map[string]any{
						"listen":    []string{addr},
						"protocols": []string{"h1", "h2", "h3"},
						"routes": []any{map[string]any{
							"handle": []any{map[string]any{"handler": "file_server", "root": dir}},
						}},
						"tls_connection_policies": []any{map[string]any{
							"certificate_selection": map[string]any{"any_tag": []string{"reqivo"}},
						}},
						"automatic_https": map[string]any{"disable": true},
					},
				},
			},
			"tls": map[string]any{
				"certificates": map[string]any{"load_files": []any{map[string]any{
					"certificate": certFile, "key": keyFile, "tags": []string{"reqivo"},
				}}},
				"disable_ocsp_stapling": true,
			},
		},
	}
}

// freePort returns a port free on 127.0.0.1 for both TCP and UDP.
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
	return 0, errors.New("caddytest: no port free for TCP and UDP")
}

// writeCert writes a self-signed ECDSA certificate for 127.0.0.1 and
// returns a pool that trusts it.
func writeCert(certFile, keyFile string) (*x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "reqivo test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	return roots, nil
}
