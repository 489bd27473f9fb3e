// Command http3 shows a Reqivo session moving an origin to HTTP/3: the
// origin (quic-go's HTTP/3 server and an HTTP/2 server on one port, with a
// certificate made at start) runs inside this process on 127.0.0.1, so no
// network is needed. The first request goes over TCP and learns the
// origin's Alt-Svc header; the next ones go over QUIC. It exits non-zero if
// any step does not get what it expects.
//
//	cd h3 && go run ./examples/http3
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"

	"github.com/quic-go/quic-go/http3"
	"github.com/reqivo/reqivo"

	reqivoh3 "github.com/reqivo/reqivo/h3"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "http3:", err)
		os.Exit(1)
	}
}

func run() error {
	url, roots, stop, err := startOrigin()
	if err != nil {
		return err
	}
	defer stop()

	s, err := reqivo.NewSession(
		reqivoh3.Option(), // HTTP/3 once the origin advertises it
		reqivo.WithTLSConfig(&tls.Config{RootCAs: roots}),
	)
	if err != nil {
		return err
	}
	defer s.Close()

	ctx := context.Background()
	want := []string{"HTTP/2.0", "HTTP/3.0", "HTTP/3.0"}
	for i, w := range want {
		resp, err := s.Get(ctx, url+"/hello")
		if err != nil {
			return err
		}
		fmt.Printf("request %d: %s, %q\n", i+1, resp.Proto, resp.Text())
		if resp.Proto != w {
			return fmt.Errorf("request %d came over %s, want %s", i+1, resp.Proto, w)
		}
	}
	st := s.Stats()
	fmt.Printf("TCP connections: %d, QUIC connections: %d\n", st.ConnsOpened, st.QUICConnsOpened)
	if st.ConnsOpened != 1 || st.QUICConnsOpened != 1 {
		return fmt.Errorf("want one connection of each kind")
	}
	return nil
}

// startOrigin starts an https origin on 127.0.0.1 serving HTTP/2 over TCP
// and HTTP/3 over UDP on the same port; over TCP it advertises HTTP/3.
func startOrigin() (url string, roots *x509.CertPool, stop func(), err error) {
	hello := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello over %s", r.Proto)
	})
	tcp := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// HTTP/3 is on this same port, over UDP.
		local := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
		w.Header().Set("Alt-Svc", `h3=":`+strconv.Itoa(local.(*net.TCPAddr).Port)+`"; ma=3600`)
		hello(w, r)
	}))
	tcp.EnableHTTP2 = true
	tcp.StartTLS()
	port := tcp.Listener.Addr().(*net.TCPAddr).Port
	udp, err := net.ListenPacket("udp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		tcp.Close()
		return "", nil, nil, err
	}
	h3 := &http3.Server{
		Handler:   hello,
		TLSConfig: http3.ConfigureTLSConfig(&tls.Config{Certificates: tcp.TLS.Certificates}),
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = h3.Serve(udp) }()
	roots = x509.NewCertPool()
	roots.AddCert(tcp.Certificate())
	return tcp.URL, roots, func() {
		h3.Close()
		udp.Close()
		<-done
		tcp.Close()
	}, nil
}
