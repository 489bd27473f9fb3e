package reqivo_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/andybalholm/brotli"
	"github.com/reqivo/reqivo"
)

func ExampleWithCompression() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Println("Accept-Encoding:", r.Header.Get("Accept-Encoding"))
		w.Header().Set("Content-Encoding", "br")
		bw := brotli.NewWriter(w)
		fmt.Fprint(bw, "decoded from brotli")
		bw.Close()
	}))
	defer srv.Close()

	s, err := reqivo.NewSession(reqivo.WithCompression(
		reqivo.EncodingBrotli, reqivo.EncodingZstd, reqivo.EncodingGzip, reqivo.EncodingDeflate))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	resp, err := s.Get(context.Background(), srv.URL)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(resp.Text())
	// Output:
	// Accept-Encoding: br, zstd, gzip, deflate
	// decoded from brotli
}
