package session

import (
	"context"
	"errors"
	"fmt"

	"github.com/spec-kitty/spec-kitty/internal/paths"
)

// Credentials are what one upload needs from the login.
type Credentials struct {
	ServerURL   string
	AccessToken string
	// Team is the team slug the events are sent for.
	Team      string
	Principal string
}

// ErrNotLoggedIn reports that there is no usable session: events stay
// queued locally until there is one.
var ErrNotLoggedIn = errors.New("not logged in")

// Provider hands the daemon's uploader the credentials to use. It is
// called for every batch, so a login, logout or refresh by another process
// (the Python CLI included) takes effect without a restart.
type Provider interface {
	// Credentials returns the credentials to use now, refreshing the access
	// token first when it is about to expire. It returns an error wrapping
	// ErrNotLoggedIn when there is no session.
	Credentials(ctx context.Context) (Credentials, error)
	// Refresh is called after the server answered 401 to the access token
	// rejected. Unless the stored token has changed since (another process
	// refreshed it), it refreshes under the shared refresh lock, and it
	// returns the credentials to retry with.
	Refresh(ctx context.Context, rejected string) (Credentials, error)
}

// NewProvider returns the provider over the session of layout's runtime
// root.
func NewProvider(layout paths.Layout) Provider { return fileProvider{path: layout.SessionFile()} }

// fileProvider reads the session file for every call and cannot refresh.
type fileProvider struct{ path string }

func (p fileProvider) Credentials(context.Context) (Credentials, error) {
	s, err := Load(p.path)
	if err != nil {
		return Credentials{}, err
	}
	if s == nil {
		return Credentials{}, ErrNotLoggedIn
	}
	return Credentials{ServerURL: s.ServerURL, AccessToken: s.AccessToken, Team: s.Team, Principal: s.Email}, nil
}

func (p fileProvider) Refresh(ctx context.Context, rejected string) (Credentials, error) {
	c, err := p.Credentials(ctx)
	if err != nil {
		return Credentials{}, err
	}
	if c.AccessToken == rejected {
		return Credentials{}, fmt.Errorf("refreshing the session: %w", errors.ErrUnsupported)
	}
	return c, nil
}
