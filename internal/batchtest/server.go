// Package batchtest is a test double of the hosted sync server's batch
// endpoint that follows the batch contract: it checks every request the way
// the server does (gzip, protocol header, bearer token, one project, at
// most 1,000 events and 512 KiB decompressed, every envelope valid against
// the spec-kitty-events schemas), deduplicates by event_id, counts
// deliveries, and answers with whatever the test scripts.
package batchtest

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"path"
	"sync"

	"github.com/spec-kitty/spec-kitty/third_party/jsonschema"

	"github.com/spec-kitty/spec-kitty/internal/events"
)

// Contract limits the server enforces.
const (
	Path          = "/api/v1/events/batch/"
	MaxEvents     = 1000
	MaxBodyBytes  = 512 << 10
	ProtocolValue = "2.0"
)

// Answer is a scripted reply. A zero Status means "apply the contract":
// 200 with results[] accepted or duplicate.
type Answer struct {
	Status int
	Header map[string]string
	Body   any
}

// Request is what a Script sees.
type Request struct {
	N      int // 1-based request number
	Token  string
	IDs    []string
	Events []map[string]any
}

// Script decides the answer to a valid request. nil always applies the
// contract.
type Script func(Request) Answer

// Server is the fake batch endpoint.
type Server struct {
	*httptest.Server

	mu         sync.Mutex
	script     Script
	token      string
	requests   int
	deliveries map[string]int // event_id -> times stored (accepted)
	seen       map[string]int // event_id -> times received
	violations []string
	batches    [][]string
	validated  int            // envelopes checked against the schemas
	extra      *http.ServeMux // other endpoints of the same server (HandleFunc)
}

// New starts a server that accepts bearer token and answers by script.
func New(token string, script Script) *Server {
	s := &Server{token: token, script: script, deliveries: map[string]int{}, seen: map[string]int{}, extra: http.NewServeMux()}
	s.Server = httptest.NewServer(http.HandlerFunc(s.handle))
	return s
}

// SetScript replaces the script.
func (s *Server) SetScript(script Script) {
	s.mu.Lock()
	s.script = script
	s.mu.Unlock()
}

// HandleFunc serves pattern (an http.ServeMux pattern) on the same server
// besides the batch endpoint, for a test that needs the rest of the hosted
// server at the same URL, such as its OAuth token endpoint.
func (s *Server) HandleFunc(pattern string, fn http.HandlerFunc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.extra.HandleFunc(pattern, fn)
}

// SetToken replaces the token the server accepts.
func (s *Server) SetToken(token string) {
	s.mu.Lock()
	s.token = token
	s.mu.Unlock()
}

func (s *Server) violate(format string, args ...any) {
	s.mu.Lock()
	s.violations = append(s.violations, fmt.Sprintf(format, args...))
	s.mu.Unlock()
}

func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != Path {
		s.mu.Lock()
		h, pattern := s.extra.Handler(r)
		s.mu.Unlock()
		if pattern != "" {
			h.ServeHTTP(w, r)
			return
		}
	}
	if r.Method != http.MethodPost || r.URL.Path != Path {
		s.violate("request to %s %s", r.Method, r.URL.Path)
		http.Error(w, `{"error":"not found"}`, http.StatusNotFound)
		return
	}
	if r.Header.Get("X-Spec-Kitty-Sync-Protocol") != ProtocolValue {
		s.violate("protocol header %q", r.Header.Get("X-Spec-Kitty-Sync-Protocol"))
	}
	if r.Header.Get("Content-Encoding") != "gzip" {
		s.violate("content encoding %q", r.Header.Get("Content-Encoding"))
		http.Error(w, `{"error":"gzip required"}`, http.StatusBadRequest)
		return
	}
	zr, err := gzip.NewReader(r.Body)
	if err != nil {
		s.violate("body not gzip: %v", err)
		http.Error(w, `{"error":"bad gzip"}`, http.StatusBadRequest)
		return
	}
	plain, err := io.ReadAll(io.LimitReader(zr, 4*MaxBodyBytes))
	if err != nil {
		s.violate("reading body: %v", err)
		return
	}
	if len(plain) > MaxBodyBytes {
		s.violate("decompressed body of %d bytes", len(plain))
	}
	var body struct {
		Events []json.RawMessage `json:"events"`
	}
	if err := json.Unmarshal(plain, &body); err != nil {
		s.violate("body not JSON: %v", err)
		http.Error(w, `{"error":"bad json"}`, http.StatusBadRequest)
		return
	}
	if len(body.Events) > MaxEvents {
		s.violate("batch of %d events", len(body.Events))
	}
	req := Request{Token: bearer(r)}
	projects := map[string]bool{}
	for _, raw := range body.Events {
		if err := events.Validate(raw); err != nil {
			s.violate("invalid envelope sent: %v", err)
		}
		if err := schemaCheck(raw); err != nil {
			s.violate("envelope breaks the schemas: %v", err)
		}
		s.mu.Lock()
		s.validated++
		s.mu.Unlock()
		var m map[string]any
		_ = json.Unmarshal(raw, &m)
		id, _ := m["event_id"].(string)
		p, _ := m["project_uuid"].(string)
		projects[p] = true
		req.IDs = append(req.IDs, id)
		req.Events = append(req.Events, m)
	}
	if len(projects) > 1 {
		s.violate("batch spans %d projects", len(projects))
	}
	s.mu.Lock()
	s.requests++
	req.N = s.requests
	script, token := s.script, s.token
	for _, id := range req.IDs {
		s.seen[id]++
	}
	s.batches = append(s.batches, req.IDs)
	s.mu.Unlock()

	if req.Token != token {
		writeJSON(w, http.StatusUnauthorized, nil, map[string]string{"error": "Token expired or invalid"})
		return
	}
	a := Answer{}
	if script != nil {
		a = script(req)
	}
	if a.Status == 0 {
		a = Answer{Status: http.StatusOK, Body: map[string]any{"results": s.Store(req.IDs, nil)}}
	}
	writeJSON(w, a.Status, a.Header, a.Body)
}

// Store records ids as delivered, except those in skip, and returns their
// contract results: "success" the first time, "duplicate" after.
func (s *Server) Store(ids []string, skip map[string]bool) []map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]string
	for _, id := range ids {
		if skip[id] {
			continue
		}
		status := "success"
		if s.deliveries[id] > 0 {
			status = "duplicate"
		}
		s.deliveries[id]++
		out = append(out, map[string]string{"event_id": id, "status": status})
	}
	return out
}

// Result is one per-event result for a scripted answer.
func Result(id, status string, extra ...string) map[string]string {
	m := map[string]string{"event_id": id, "status": status}
	for i := 0; i+1 < len(extra); i += 2 {
		m[extra[i]] = extra[i+1]
	}
	return m
}

var (
	schemaOnce sync.Once
	schemaSet  map[string]*jsonschema.Schema
	schemaErr  error
)

// schemaCheck validates an envelope against event.schema.json and its
// payload schema with a compiler of its own, independent of the events
// package's validator.
func schemaCheck(raw []byte) error {
	schemaOnce.Do(func() {
		c := jsonschema.NewCompiler()
		c.AssertFormat()
		files, err := fs.Glob(events.Schemas(), "schemas/*.json")
		if err != nil {
			schemaErr = err
			return
		}
		for _, f := range files {
			data, err := fs.ReadFile(events.Schemas(), f)
			if err != nil {
				schemaErr = err
				return
			}
			doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
			if err != nil {
				schemaErr = err
				return
			}
			if err := c.AddResource("file:///"+f, doc); err != nil {
				schemaErr = err
				return
			}
		}
		schemaSet = map[string]*jsonschema.Schema{}
		for _, f := range files {
			sch, err := c.Compile("file:///" + f)
			if err != nil {
				schemaErr = err
				return
			}
			schemaSet[path.Base(f)] = sch
		}
	})
	if schemaErr != nil {
		return schemaErr
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return err
	}
	if err := schemaSet["event.schema.json"].Validate(doc); err != nil {
		return err
	}
	typ, _ := doc.(map[string]any)["event_type"].(string)
	name, ok := events.PayloadSchema(typ)
	if !ok {
		return fmt.Errorf("unknown event type %q", typ)
	}
	if name == "" {
		return nil
	}
	return schemaSet[name].Validate(doc.(map[string]any)["payload"])
}

func writeJSON(w http.ResponseWriter, status int, header map[string]string, body any) {
	for k, v := range header {
		w.Header().Set(k, v)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if body != nil {
		_ = json.NewEncoder(w).Encode(body)
	}
}

func bearer(r *http.Request) string {
	const prefix = "Bearer "
	h := r.Header.Get("Authorization")
	if len(h) > len(prefix) && h[:len(prefix)] == prefix {
		return h[len(prefix):]
	}
	return ""
}

// Delivered returns how many times each event was stored (accepted).
func (s *Server) Delivered() map[string]int {
	return s.counts(s.deliveries)
}

// Seen returns how many times each event was received, stored or not.
func (s *Server) Seen() map[string]int {
	return s.counts(s.seen)
}

// counts copies one of the server's per-event counters under its lock, so
// a caller never reads a map the handler is writing.
func (s *Server) counts(m map[string]int) map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Requests is the number of requests received.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// Batches returns the event ids of every request, in order.
func (s *Server) Batches() [][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]string(nil), s.batches...)
}

// Validated is how many envelopes were checked against event.schema.json
// and their payload schema, valid or not: a test asserts it to show the
// check ran on what it sent.
func (s *Server) Validated() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.validated
}

// Violations lists every way a request broke the contract.
func (s *Server) Violations() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.violations...)
}
