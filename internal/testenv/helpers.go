//go:build linux

package testenv

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"
)

// Helper processes are this test binary re-executed with envHelper set:
// real processes with their own pid, argv and listening socket, so that the
// scan, the classifier and the cleanup meet them as they would in the wild.
const (
	envHelper     = "SPEC_KITTY_TESTENV_HELPER"
	envHelperPort = "SPEC_KITTY_TESTENV_PORT"
	envHelperBody = "SPEC_KITTY_TESTENV_BODY"
)

// Helper kinds.
const (
	helperHTTP      = "http"       // answers every request with a fixed body
	helperTCPSilent = "tcp-silent" // accepts connections, never answers
	helperLegacy    = "legacy"     // a Python-era daemon's health and shutdown
)

// LegacyScript is the -c script of a legacy Python daemon's argv.
const LegacyScript = "from specify_cli.sync.daemon import run_sync_daemon; run_sync_daemon()"

// runHelper runs this process as a helper when asked to, and reports
// whether it did.
func runHelper() bool {
	kind := os.Getenv(envHelper)
	if kind == "" {
		return false
	}
	port, _ := strconv.Atoi(os.Getenv(envHelperPort))
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(3)
	}
	switch kind {
	case helperTCPSilent:
		for {
			c, err := ln.Accept()
			if err != nil {
				os.Exit(0)
			}
			// Read whatever comes, never answer, never close.
			go func() { _, _ = io.Copy(io.Discard, c) }()
		}
	case helperLegacy:
		serveLegacy(ln, port)
	default:
		body := os.Getenv(envHelperBody)
		_ = http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, body)
		}))
	}
	os.Exit(0)
	return true
}

// serveLegacy plays a Python daemon: its health has a token field and no
// daemon_family; shutdown with that token exits.
func serveLegacy(ln net.Listener, port int) {
	token := "legacy-token"
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/health", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{
			"status": "ok", "token": token, "port": port, "pid": os.Getpid(),
			"package_version": "3.1.9", "protocol_version": 1,
		})
	})
	mux.HandleFunc("POST /api/shutdown", func(w http.ResponseWriter, r *http.Request) {
		var req struct{ Token string }
		_ = json.NewDecoder(r.Body).Decode(&req)
		if req.Token != token {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		fmt.Fprint(w, `{"status":"stopping"}`)
		go func() { time.Sleep(10 * time.Millisecond); os.Exit(0) }()
	})
	_ = http.Serve(ln, mux)
}

func (e *Env) helper(kind string, port int, body string, argv []string) *Proc {
	e.t.Helper()
	self, err := os.Executable()
	if err != nil {
		e.t.Fatal(err)
	}
	if argv == nil {
		argv = []string{self, "-test.run=^$"}
	}
	env := append(e.Environ(), envHelper+"="+kind, envHelperPort+"="+strconv.Itoa(port), envHelperBody+"="+body)
	p := e.start(self, argv, env, "", port)
	WaitListening(e.t, port)
	return p
}

// ThirdPartyHTTP starts an unrelated HTTP server answering body to every
// request, in a process that is not spawn-shaped.
func (e *Env) ThirdPartyHTTP(port int, body string) *Proc {
	return e.helper(helperHTTP, port, body, nil)
}

// SilentTCP starts a listener that accepts connections and never answers.
func (e *Env) SilentTCP(port int) *Proc {
	return e.helper(helperTCPSilent, port, "", nil)
}

// Legacy starts a process in the legacy Python spawn shape (SPEC §4.1):
// argv `python3 -c <script> [--spec-kitty-daemon-root=<root>]`.
func (e *Env) Legacy(port int, root string) *Proc {
	argv := []string{"python3", "-c", LegacyScript}
	if root != "" {
		argv = append(argv, "--spec-kitty-daemon-root="+root)
	}
	return e.helper(helperLegacy, port, "", argv)
}
