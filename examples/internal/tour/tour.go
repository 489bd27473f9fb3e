// Package tour runs the steps of an example program against an embedded
// go-httpbin: it prints what each step got and exits non-zero if any step
// did not get what the guide promises.
package tour

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/reqivo/reqivo/examples/internal/embedbin"
)

// Step is one section of a guide: Run gets httpbin's base URL and returns
// what it got, or why it did not get what it should.
type Step struct {
	Name string
	Run  func(ctx context.Context, base string) (string, error)
}

// Main starts go-httpbin on 127.0.0.1, runs the steps in order, each within
// 30 s, and exits 1 if any failed.
func Main(program string, steps []Step) {
	bin, err := embedbin.Start()
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: starting httpbin: %v\n", program, err)
		os.Exit(1)
	}
	fmt.Println("httpbin on", bin.URL)
	failed := 0
	for _, st := range steps {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		got, err := st.Run(ctx, bin.URL)
		cancel()
		if err != nil {
			failed++
			fmt.Printf("FAIL %-28s %v\n", st.Name, err)
			continue
		}
		fmt.Printf("ok   %-28s %s\n", st.Name, got)
	}
	if err := bin.Close(); err != nil {
		fmt.Fprintf(os.Stderr, "%s: stopping httpbin: %v\n", program, err)
		failed++
	}
	if failed > 0 {
		fmt.Printf("%s: %d of %d steps failed\n", program, failed, len(steps))
		os.Exit(1)
	}
	fmt.Printf("%s: all %d steps passed\n", program, len(steps))
}
