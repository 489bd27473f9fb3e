// Command server is the benchmark's HTTP server (see package
// internal/server). It prints "BENCH_SERVER=<data addr>,<control addr>"
// once it listens, and runs until SIGINT or SIGTERM.
package main

import (
	"context"
	"log"
	"os"
	"os/signal"
	"syscall"

	"github.com/reqivo/reqivo/bench/internal/server"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := server.Run(ctx, os.Stdout); err != nil {
		log.Fatalf("bench server: %v", err)
	}
}
