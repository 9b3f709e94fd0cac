// Package loopback holds what every daemon's control plane shares: the guard
// that refuses non-loopback Host headers and browser origins, bounded JSON
// request decoding and the one JSON error path.
package loopback

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/spec-kitty/spec-kitty/internal/api"
)

// MaxControlBody bounds a control request (shutdown, challenge, trigger): a
// valid one is under 200 bytes.
const MaxControlBody = 16 << 10

// Addr is the only address daemons listen on.
const Addr = "127.0.0.1"

// IsLoopbackHost reports whether a Host header names this machine's loopback
// interface. Anything else is refused as a DNS-rebinding defence.
func IsLoopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Guard refuses requests whose Host is not loopback. allowOrigin says whether
// browser requests from the daemon's own origin are acceptable (the dashboard
// page); the sync control plane refuses every request that carries an Origin.
func Guard(next http.Handler, allowSameOrigin bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !IsLoopbackHost(r.Host) {
			WriteError(w, http.StatusForbidden, "refused: host %q is not loopback", r.Host)
			return
		}
		if o := r.Header.Get("Origin"); o != "" && !(allowSameOrigin && originMatches(o, r.Host)) {
			WriteError(w, http.StatusForbidden, "refused: cross-origin request from %q", o)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func originMatches(origin, host string) bool {
	return origin == "http://"+host && IsLoopbackHost(host)
}

// DecodeJSON reads a bounded JSON body into v. It writes the error answer
// itself and reports whether decoding succeeded.
func DecodeJSON(w http.ResponseWriter, r *http.Request, limit int64, v any) bool {
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			WriteError(w, http.StatusRequestEntityTooLarge, "request body larger than %d bytes", limit)
			return false
		}
		WriteError(w, http.StatusBadRequest, "invalid JSON body: %v", err)
		return false
	}
	return true
}

// WriteJSON writes v as a JSON answer.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// WriteError is the one error path: a JSON body {"error": …}.
func WriteError(w http.ResponseWriter, status int, format string, args ...any) {
	WriteJSON(w, status, api.ErrorResponse{Error: fmt.Sprintf(format, args...)})
}
