// Command demo issues a real certificate through CNAME delegation on embedded defaults (`make demo`): see
// internal/demo.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/demo"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "\ndemo failed: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	return demo.Run(ctx, os.Stdout)
}
