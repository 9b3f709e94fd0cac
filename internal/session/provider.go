package session

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/spec-kitty/spec-kitty/internal/paths"
)

// Credentials are what one upload needs from the login.
type Credentials struct {
	ServerURL   string
	AccessToken string
	// Team is the Private Teamspace the events are sent for; "" when the
	// login has none: the events are then withheld, never sent to a shared
	// team.
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
// root. Its errors say what the uploader should do: one wrapping
// ErrNotLoggedIn means there is no usable login (none, untrusted, refused
// by the server, expired without a refresh token, or no server configured):
// keep the events queued until someone logs in. One wrapping
// ErrRefreshRetry means the login is fine but could not be refreshed just
// now (server unreachable, refresh.lock held too long): back off and retry.
func NewProvider(layout paths.Layout) Provider {
	return newFileProvider(layout.SessionFile(), http.DefaultClient)
}

func newFileProvider(sessionFile string, client *http.Client) *fileProvider {
	return &fileProvider{r: refresher{
		store: storeFor(sessionFile), root: rootOf(sessionFile), client: client, now: time.Now,
	}}
}

// fileProvider reads the encrypted session for every call, so it never
// holds a token another process has since replaced.
type fileProvider struct{ r refresher }

func (p *fileProvider) Credentials(ctx context.Context) (Credentials, error) {
	st, err := p.r.store.Read()
	if err != nil {
		return Credentials{}, fmt.Errorf("%w: %w", ErrNotLoggedIn, err)
	}
	if st == nil {
		return Credentials{}, ErrNotLoggedIn
	}
	if st.AccessExpired(p.r.now(), refreshBuffer) {
		st, err = p.r.refresh(ctx, func(s *Stored) bool { return s.AccessExpired(p.r.now(), refreshBuffer) })
		if err != nil {
			return Credentials{}, err
		}
	}
	return p.credentials(st)
}

func (p *fileProvider) Refresh(ctx context.Context, rejected string) (Credentials, error) {
	st, err := p.r.refresh(ctx, func(s *Stored) bool {
		return s.AccessToken == rejected || s.AccessExpired(p.r.now(), refreshBuffer)
	})
	if err != nil {
		return Credentials{}, err
	}
	return p.credentials(st)
}

func (p *fileProvider) credentials(st *Stored) (Credentials, error) {
	server := ResolveServerURL(p.r.root, st)
	if server == "" {
		return Credentials{}, fmt.Errorf("%w: %w", ErrNotLoggedIn, errNoServer)
	}
	return Credentials{ServerURL: server, AccessToken: st.AccessToken, Team: st.PrivateTeamID(), Principal: st.Email}, nil
}
