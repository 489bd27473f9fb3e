package reqivo_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"golang.org/x/oauth2"

	"github.com/reqivo/reqivo"
)

// Digest auth against go-httpbin: the first request answers the challenge,
// the next ones reuse its nonce.
func ExampleWithDigestAuth() {
	bin := startHTTPBin()
	defer bin.Close()

	s, err := reqivo.NewSession(reqivo.WithBaseURL(bin.URL), reqivo.WithDigestAuth("user", "passwd"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	for i := 0; i < 2; i++ {
		resp, err := s.Get(context.Background(), "/digest-auth/auth/user/passwd/SHA-256")
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(resp.StatusCode)
	}
	// Output:
	// 200
	// 200
}

// A token source: each attempt gets its token from it. Pass a reusing
// source (oauth2.ReuseTokenSource; oauth2.Config and clientcredentials
// give one) so that concurrent requests share a refresh.
func ExampleWithTokenSource() {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, r.Header.Get("Authorization"))
	}))
	defer api.Close()

	ts := oauth2.ReuseTokenSource(nil, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "t0k3n"}))
	s, err := reqivo.NewSession(reqivo.WithBaseURL(api.URL), reqivo.WithTokenSource(ts))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	resp, err := s.Get(context.Background(), "/")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(resp.Text())
	// Output: Bearer t0k3n
}
