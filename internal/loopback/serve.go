package loopback

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Server timeouts: a control request is a few hundred bytes, so slow
// headers or bodies are a misbehaving peer, not a slow network.
const (
	readHeaderTimeout = 2 * time.Second
	readTimeout       = 10 * time.Second
	writeTimeout      = 15 * time.Second
	maxHeaderBytes    = 16 << 10
)

// Serve serves h on ln until ctx ends ("signal") or stop delivers a reason,
// then shuts down gracefully within grace: in-flight requests finish, new
// ones are refused. It returns why it stopped.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, log *slog.Logger, stop <-chan string, grace time.Duration) (string, error) {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	reason := ""
	select {
	case <-ctx.Done():
		reason = "signal"
	case reason = <-stop:
	case err := <-serveErr:
		return "", fmt.Errorf("serving: %w", err)
	}
	log.Info("stopping", "reason", reason)
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return reason, fmt.Errorf("shutting down: %w", err)
	}
	return reason, nil
}
