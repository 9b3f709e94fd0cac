package dashboard

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/spec-kitty/spec-kitty/internal/api"
	"github.com/spec-kitty/spec-kitty/internal/loopback"
)

// shutdownGrace bounds a graceful exit: open page requests finish. Shorter
// than a cleaner's wait before it escalates to SIGTERM.
const shutdownGrace = 2 * time.Second

// Overview produces the read-only report the page shows: the `auth doctor
// --json` report of the scope's sync range and the daemon's sync state.
type Overview func(ctx context.Context) (api.SyncOverview, error)

// Config is what a dashboard daemon is started with.
type Config struct {
	Port    int
	Project string // absolute, symlink-resolved
	Token   string
	Version string
	Exe     string // reported as owner.executable_path
	// Overview feeds GET /api/sync-overview; nil answers 503.
	Overview Overview
	Logger   *slog.Logger
	// Ready, when set, is told once whether the listener is bound.
	Ready func(error)
}

// Server is one running dashboard daemon.
type Server struct {
	cfg       Config
	startedAt time.Time
	log       *slog.Logger
	overview  *overviewCache
	control   loopback.Control

	stopOnce sync.Once
	stop     chan string
}

// NewServer prepares a dashboard daemon; Run starts it.
func NewServer(cfg Config) *Server {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		cfg:       cfg,
		startedAt: time.Now().UTC(),
		log:       log.With("pid", os.Getpid(), "port", cfg.Port, "family", api.FamilyDashboard),
		overview:  newOverviewCache(cfg.Overview),
		stop:      make(chan string, 1),
	}
	s.control = loopback.Control{Token: cfg.Token, Stop: s.requestStop}
	return s
}

// Run binds the port and serves until ctx ends or an authenticated shutdown
// arrives.
func (s *Server) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", net.JoinHostPort(loopback.Addr, strconv.Itoa(s.cfg.Port)))
	if s.cfg.Ready != nil {
		s.cfg.Ready(err)
	}
	if err != nil {
		return fmt.Errorf("binding port %d: %w", s.cfg.Port, err)
	}
	s.log.Info("dashboard started", "version", s.cfg.Version, "project", s.cfg.Project)
	_, err = loopback.Serve(ctx, ln, s.Handler(), s.log, s.stop, shutdownGrace)
	return err
}

// Handler is the dashboard's whole HTTP surface behind the loopback guard.
// Browser requests from the page's own origin are allowed; the control
// endpoints still need the token, which the page never has.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/health", s.handleHealth)
	mux.HandleFunc("POST /api/shutdown", s.control.HandleShutdown)
	mux.HandleFunc("POST /api/auth/challenge", s.control.HandleChallenge)
	mux.HandleFunc("GET /api/sync-overview", s.handleOverview)
	page := pageHandler()
	for _, path := range pagePaths {
		mux.Handle("GET "+path, page)
	}
	return loopback.Guard(mux, true)
}

// Health is the health payload: family dashboard and the project. It never
// contains the token.
func (s *Server) Health() api.Health {
	return api.Health{
		Status:          "ok",
		DaemonFamily:    api.FamilyDashboard,
		ProtocolVersion: api.ProtocolVersion,
		PackageVersion:  s.cfg.Version,
		ProjectPath:     s.cfg.Project,
		Owner: &api.Owner{
			PID:            os.Getpid(),
			Port:           s.cfg.Port,
			PackageVersion: s.cfg.Version,
			ExecutablePath: s.cfg.Exe,
			StartedAt:      s.startedAt,
		},
	}
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	loopback.WriteJSON(w, http.StatusOK, s.Health())
}

func (s *Server) handleOverview(w http.ResponseWriter, r *http.Request) {
	rep, err := s.overview.get(r.Context())
	if err != nil {
		loopback.WriteError(w, http.StatusServiceUnavailable, "scanning the sync range: %v", err)
		return
	}
	loopback.WriteJSON(w, http.StatusOK, rep)
}

// requestStop ends Run with reason; later calls are ignored.
func (s *Server) requestStop(reason string) {
	s.stopOnce.Do(func() { s.stop <- reason })
}
