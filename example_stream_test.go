package reqivo_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/reqivo/reqivo"
)

func ExampleSession_Events() {
	// An LLM-style token stream: a POST with a JSON prompt, answered with
	// Server-Sent Events.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for _, tok := range []string{"Hello", ",", " world"} {
			fmt.Fprintf(w, "event: token\ndata: %s\n\n", tok)
			w.(http.Flusher).Flush()
		}
		fmt.Fprint(w, "data: [DONE]\n\n")
	}))
	defer srv.Close()

	s, err := reqivo.NewSession(reqivo.WithBaseURL(srv.URL))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()

	prompt := map[string]string{"prompt": "Say hello"}
	for ev, err := range s.Events(context.Background(), http.MethodPost, "/v1/chat", reqivo.JSON(prompt)) {
		if err != nil {
			fmt.Println(err)
			return
		}
		if ev.Data == "[DONE]" {
			break // closes the connection
		}
		fmt.Printf("%s %q\n", ev.Type, ev.Data)
	}
	// Output:
	// token "Hello"
	// token ","
	// token " world"
}

func ExampleJSONLines() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-ndjson")
		fmt.Fprint(w, "{\"status\":\"pulling\",\"done\":false}\n\n{\"status\":\"success\",\"done\":true}\n")
	}))
	defer srv.Close()

	s, err := reqivo.NewSession()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()

	type progress struct {
		Status string `json:"status"`
		Done   bool   `json:"done"`
	}
	for p, err := range reqivo.JSONLines[progress](context.Background(), s, http.MethodGet, srv.URL+"/api/pull") {
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(p.Status, p.Done)
	}
	// Output:
	// pulling false
	// success true
}
