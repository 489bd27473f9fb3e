// Command oauth2 shows a session authorized by an OAuth2 client-credentials
// token source, against a token endpoint and an API started inside this
// process on 127.0.0.1: concurrent requests share one token, an expired
// token is refreshed before the next request, a token the server revoked
// is replaced by one call to the token endpoint, the token never follows a
// redirect to another origin, and a token endpoint that refuses the client
// fails the request with reqivo.ErrAuth. It exits non-zero if any step does
// not get what it should.
//
//	go run ./examples/oauth2
package main

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/reqivo/reqivo"
)

const (
	clientID     = "reqivo-example"
	clientSecret = "example-secret"
	// tokenLife is what the token endpoint grants. The oauth2 package
	// counts a token as expired 10 s before its expiry, so this one is
	// refreshed after about two seconds: the example need not wait long.
	tokenLife = 12
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "oauth2:", err)
		os.Exit(1)
	}
	fmt.Println("oauth2: all steps passed")
}

// tokenServer is the authorization server's token endpoint: it grants
// client-credentials tokens and remembers when each expires.
type tokenServer struct {
	issued atomic.Int32
	mu     sync.Mutex
	expiry map[string]time.Time // access token -> expiry
}

func (ts *tokenServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id, secret, ok := r.BasicAuth()
	if r.Method != http.MethodPost || r.PostFormValue("grant_type") != "client_credentials" || !ok ||
		id != clientID || subtle.ConstantTimeCompare([]byte(secret), []byte(clientSecret)) != 1 {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"error":"invalid_client"}`)
		return
	}
	tok := fmt.Sprintf("at-%d", ts.issued.Add(1))
	ts.mu.Lock()
	ts.expiry[tok] = time.Now().Add(tokenLife * time.Second)
	ts.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": tokenLife})
}

// revoke makes tok invalid before its expiry.
func (ts *tokenServer) revoke(tok string) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	delete(ts.expiry, tok)
}

// valid reports whether tok was granted and has not expired.
func (ts *tokenServer) valid(tok string) bool {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	exp, ok := ts.expiry[tok]
	return ok && time.Now().Before(exp)
}

// serve starts h on 127.0.0.1 and returns its URL and a stop function.
func serve(h http.Handler) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), func() { _ = srv.Close() }, nil
}

// closeInto closes s and keeps its error in *err unless *err is set.
func closeInto(s *reqivo.Session, err *error) {
	if cerr := s.Close(); cerr != nil && *err == nil {
		*err = fmt.Errorf("close: %w", cerr)
	}
}

func run() (err error) {
	tokens := &tokenServer{expiry: map[string]time.Time{}}
	tokenURL, stopTokens, err := serve(tokens)
	if err != nil {
		return err
	}
	defer stopTokens()

	// elsewhere is another origin: it records any Authorization it gets.
	var leaked atomic.Value
	leaked.Store("")
	elsewhere, stopElsewhere, err := serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		leaked.Store(r.Header.Get("Authorization"))
		fmt.Fprint(w, "elsewhere")
	}))
	if err != nil {
		return err
	}
	defer stopElsewhere()

	api := http.NewServeMux()
	api.HandleFunc("/me", func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || !tokens.valid(tok) {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token", error_description="unknown or expired token"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		fmt.Fprintf(w, `{"client":%q}`, clientID)
	})
	api.HandleFunc("/away", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere+"/landed", http.StatusFound)
	})
	apiURL, stopAPI, err := serve(api)
	if err != nil {
		return err
	}
	defer stopAPI()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cc := clientcredentials.Config{ClientID: clientID, ClientSecret: clientSecret, TokenURL: tokenURL + "/token"}

	// cc.Token asks the token endpoint each time it is called; the session
	// keeps the token for all requests until it expires or is refused, and
	// calls cc.Token with the context of the request that needs a token,
	// so the request's deadline bounds the token fetch too.
	s, err := reqivo.NewSession(reqivo.WithBaseURL(apiURL), reqivo.WithTokenFunc(cc.Token))
	if err != nil {
		return err
	}
	defer closeInto(s, &err)

	// 1. Eight requests at once share one token.
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := s.Get(ctx, "/me")
			if err == nil {
				err = resp.Err()
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return fmt.Errorf("concurrent requests: %w", err)
		}
	}
	if n := tokens.issued.Load(); n != 1 {
		return fmt.Errorf("concurrent requests: %d tokens issued, want 1", n)
	}
	fmt.Println("ok   8 concurrent requests, 1 token issued")

	// 2. Once the token is (nearly) expired, the next request refreshes it.
	time.Sleep(2500 * time.Millisecond)
	resp, err := s.Get(ctx, "/me")
	if err != nil {
		return err
	}
	if err = resp.Err(); err != nil {
		return fmt.Errorf("after expiry: %w", err)
	}
	if n := tokens.issued.Load(); n != 2 {
		return fmt.Errorf("after expiry: %d tokens issued, want 2", n)
	}
	fmt.Println("ok   token refreshed after expiry:", resp.Text())

	// 3. A token the server revokes is replaced: the 401 invalid_token
	// makes the session ask the token endpoint once, and the request is
	// sent again with the new token.
	tokens.revoke(fmt.Sprintf("at-%d", tokens.issued.Load())) // the latest
	resp, err = s.Get(ctx, "/me")
	if err != nil {
		return err
	}
	if err = resp.Err(); err != nil {
		return fmt.Errorf("after revocation: %w", err)
	}
	if n := tokens.issued.Load(); n != 3 {
		return fmt.Errorf("after revocation: %d tokens issued, want 3", n)
	}
	fmt.Println("ok   revoked token replaced by one refetch")

	// 4. A redirect to another origin does not carry the token.
	resp, err = s.Get(ctx, "/away")
	if err != nil {
		return err
	}
	if got := leaked.Load().(string); resp.Text() != "elsewhere" || got != "" {
		return fmt.Errorf("redirect: body %q, Authorization %q sent to another origin", resp.Text(), got)
	}
	fmt.Println("ok   no token sent across origins on a redirect")

	// 5. A token endpoint that refuses the client fails the request with
	// ErrAuth; the request is not sent.
	bad := clientcredentials.Config{ClientID: clientID, ClientSecret: "wrong", TokenURL: tokenURL + "/token"}
	s2, err := reqivo.NewSession(reqivo.WithBaseURL(apiURL), reqivo.WithTokenFunc(bad.Token))
	if err != nil {
		return err
	}
	defer closeInto(s2, &err)
	_, err = s2.Get(ctx, "/me")
	var re *oauth2.RetrieveError
	if !errors.Is(err, reqivo.ErrAuth) || !errors.As(err, &re) {
		return fmt.Errorf("refused client: got %v, want ErrAuth with an *oauth2.RetrieveError", err)
	}
	fmt.Println("ok   refused client:", re.ErrorCode, "matches reqivo.ErrAuth")
	return nil
}
