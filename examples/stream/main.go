// Command stream reads two token feeds the way LLM clients do, from a
// server it starts on 127.0.0.1: an OpenAI-style chat completion streamed
// as Server-Sent Events for a POST with a JSON prompt, and an Ollama-style
// NDJSON feed. It prints each token as it arrives and exits non-zero if a
// feed does not give what it should.
//
//	go run ./examples/stream
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/reqivo/reqivo"
)

var tokens = []string{"Streams", " arrive", " token", " by", " token", "."}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "stream:", err)
		os.Exit(1)
	}
}

func run() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: feeds(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	// The session's 30 s total timeout does not bound streams; the idle
	// timeout bounds each silence (heartbeats count).
	s, err := reqivo.NewSession(reqivo.WithBaseURL("http://"+ln.Addr().String()+"/"), reqivo.WithBearerToken("sk-example"))
	if err != nil {
		return err
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	fmt.Print("SSE:    ")
	var got strings.Builder
	prompt := map[string]any{"model": "example", "stream": true, "messages": []map[string]string{{"role": "user", "content": "Say hello"}}}
	for ev, err := range s.Events(ctx, http.MethodPost, "v1/chat/completions", reqivo.JSON(prompt), reqivo.IdleTimeout(5*time.Second)) {
		if err != nil {
			return fmt.Errorf("SSE: %w", err)
		}
		if ev.Data == "[DONE]" {
			break // the server's end marker: leaving the loop closes the connection
		}
		var chunk struct {
			Choices []struct {
				Delta struct{ Content string } `json:"delta"`
			} `json:"choices"`
		}
		if err := json.Unmarshal([]byte(ev.Data), &chunk); err != nil || len(chunk.Choices) == 0 {
			return fmt.Errorf("SSE: bad chunk %q", ev.Data)
		}
		fmt.Print(chunk.Choices[0].Delta.Content)
		got.WriteString(chunk.Choices[0].Delta.Content)
	}
	fmt.Println()
	if want := strings.Join(tokens, ""); got.String() != want {
		return fmt.Errorf("SSE: got %q, want %q", got.String(), want)
	}

	fmt.Print("NDJSON: ")
	got.Reset()
	type generated struct {
		Response string `json:"response"`
		Done     bool   `json:"done"`
	}
	for v, err := range reqivo.JSONLines[generated](ctx, s, http.MethodPost, "api/generate", reqivo.JSON(map[string]string{"prompt": "Say hello"})) {
		if err != nil {
			return fmt.Errorf("NDJSON: %w", err)
		}
		fmt.Print(v.Response)
		got.WriteString(v.Response)
	}
	fmt.Println()
	if want := strings.Join(tokens, ""); got.String() != want {
		return fmt.Errorf("NDJSON: got %q, want %q", got.String(), want)
	}

	// A failed stream gives the server's error, its reason included.
	for _, err := range s.Events(ctx, http.MethodPost, "v1/chat/completions", reqivo.JSON(map[string]any{})) {
		var he *reqivo.HTTPError
		if !errors.As(err, &he) || he.StatusCode != http.StatusBadRequest {
			return fmt.Errorf("want a 400 HTTPError, got %v", err)
		}
		fmt.Println("error: ", err)
	}
	return nil
}

// feeds is the server: each token is flushed on its own, 20 ms apart, as
// a model would write them.
func feeds() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Messages []json.RawMessage `json:"messages"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || len(req.Messages) == 0 || r.Header.Get("Authorization") != "Bearer sk-example" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"error":{"message":"messages is required"},"message":"messages is required"}`))
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = fmt.Fprint(w, ": keep-alive\n\n")
		for _, tok := range tokens {
			chunk, _ := json.Marshal(map[string]any{"choices": []any{map[string]any{"delta": map[string]string{"content": tok}}}})
			if !send(w, "data: "+string(chunk)+"\n\n") {
				return
			}
		}
		send(w, "data: [DONE]\n\n")
	})
	mux.HandleFunc("POST /api/generate", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-ndjson")
		for i, tok := range tokens {
			line, _ := json.Marshal(map[string]any{"response": tok, "done": i == len(tokens)-1})
			if !send(w, string(line)+"\n") {
				return
			}
		}
	})
	return mux
}

func send(w http.ResponseWriter, s string) bool {
	time.Sleep(20 * time.Millisecond)
	if _, err := fmt.Fprint(w, s); err != nil {
		return false
	}
	return http.NewResponseController(w).Flush() == nil
}
