package client

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spec-kitty/spec-kitty/internal/api"
)

func portOf(t *testing.T, srv *httptest.Server) int {
	t.Helper()
	_, p, err := net.SplitHostPort(srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(p)
	return port
}

// TestPublish_SlowCommitIsNotAFailure: a daemon that takes longer than the
// control-plane timeout to commit is waited for.
func TestPublish_SlowCommitIsNotAFailure(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(3 * DefaultTimeout)
		_ = json.NewEncoder(w).Encode(api.PublishResponse{EventID: "01JMBY7K8N3QRVX2DPFG5HWT4E", QueueDepth: 1})
	}))
	defer srv.Close()
	out, err := New(portOf(t, srv)).Publish(context.Background(), "tok", json.RawMessage(`{}`))
	if err != nil || out.EventID != "01JMBY7K8N3QRVX2DPFG5HWT4E" {
		t.Fatalf("Publish = %+v, %v", out, err)
	}
}

// TestPublish_UnansweredIsMaybeQueued: a request the daemon took and never
// answered may have been queued, and the error says so.
func TestPublish_UnansweredIsMaybeQueued(t *testing.T) {
	var calls atomic.Int64
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c := New(portOf(t, srv))
	// Shorten each attempt through the context: the deadline bounds all.
	_, err := c.Publish(ctx, "tok", json.RawMessage(`{}`))
	if !errors.Is(err, ErrMaybeQueued) {
		t.Fatalf("err = %v, want ErrMaybeQueued", err)
	}
	if calls.Load() < 1 {
		t.Fatal("the daemon never saw the request")
	}
}

func TestPublish_RefusedOrUnreachableIsNotQueued(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(api.ErrorResponse{Error: "invalid event: payload.wp_id: missing"})
	}))
	defer srv.Close()
	_, err := New(portOf(t, srv)).Publish(context.Background(), "tok", json.RawMessage(`{}`))
	if !errors.Is(err, ErrRefused) || errors.Is(err, ErrMaybeQueued) {
		t.Fatalf("400: err = %v, want ErrRefused", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close() // nothing listens there now, and no connection was ever made
	_, err = New(port).Publish(context.Background(), "tok", json.RawMessage(`{}`))
	if !errors.Is(err, ErrRefused) || errors.Is(err, ErrMaybeQueued) {
		t.Fatalf("nothing listening: err = %v, want ErrRefused", err)
	}
}
