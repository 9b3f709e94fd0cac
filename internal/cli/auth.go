package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/spec-kitty/spec-kitty/internal/api"
	"github.com/spec-kitty/spec-kitty/internal/lifecycle"
	"github.com/spec-kitty/spec-kitty/internal/paths"
	"github.com/spec-kitty/spec-kitty/internal/session"
	"github.com/spec-kitty/spec-kitty/internal/statefile"
)

func newAuthCmd(ios *IOStreams) *cobra.Command {
	cmd := groupCmd("auth", "Log in to a sync server, and diagnose the local daemons")
	cmd.AddCommand(newLoginCmd(ios), newAuthStatusCmd(ios), newLogoutCmd(ios), newDoctorCmd(ios))
	return cmd
}

type loginOptions struct {
	server, email, team        string
	withToken, headless, force bool
	expiresIn                  time.Duration
}

func newLoginCmd(ios *IOStreams) *cobra.Command {
	var o loginOptions
	cmd := &cobra.Command{
		Use:   "login [--server URL] [--force] [--headless | --with-token [--email EMAIL] [--team TEAM]]",
		Short: "Log in to the sync server (OAuth), or store a token for CI",
		Long: `Log in to the spec-kitty server. The login is the one the Python spec-kitty
CLI uses: it is stored encrypted in auth/session.json under the runtime root,
so a login made with either CLI serves both, and the access token is
refreshed automatically.

By default the login opens your browser (OAuth authorization code with PKCE
and a redirect to 127.0.0.1). Without a browser, or with --headless, it
prints a URL and a code to enter on any device (OAuth device code).

For CI, --with-token stores an access token read from the first line of
stdin (or asked for, unechoed, on a terminal), never from the command line.
With --email the token is stored as given, without contacting the server;
without it the server's /api/v1/me names the user and team. A token stored
this way is not refreshed: log in again when it expires.

The server is --server, else $SPEC_KITTY_SAAS_URL, else [sync].server_url of
config.toml in the runtime root.

When a usable session is already stored, login refuses to replace it
(exit 1): pass --force to log in again over it, or run spec-kitty auth
logout first. A stored session that has expired or cannot be read is
replaced.`,
		Example: `  spec-kitty auth login --server https://app.spec-kitty.ai
  spec-kitty auth login --headless
  spec-kitty auth login --force        # replace the stored session
  echo "$SPEC_KITTY_TOKEN" | spec-kitty auth login --with-token --force --server https://sk.example.com --email ci@example.com --team my-team`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.email != "" || o.team != "" {
				o.withToken = true
			}
			if o.withToken && o.headless {
				return usagef("--with-token and --headless exclude each other")
			}
			return runLogin(cmd, ios, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.server, "server", "", "sync server URL (http or https)")
	f.BoolVar(&o.headless, "headless", false, "use the device code flow instead of a browser")
	f.BoolVar(&o.force, "force", false, "replace a session that is already stored")
	f.BoolVar(&o.withToken, "with-token", false, "read an access token from stdin (CI)")
	f.StringVar(&o.email, "email", "", "with --with-token: your account's email address (no server call)")
	f.StringVar(&o.team, "team", "", "with --with-token --email: your Private Teamspace, where events go (none: they stay queued)")
	f.DurationVar(&o.expiresIn, "expires-in", time.Hour, "with --with-token: how long the token is valid")
	return cmd
}

func runLogin(cmd *cobra.Command, ios *IOStreams, o loginOptions) error {
	l, err := layout()
	if err != nil {
		return err
	}
	if !o.force {
		if err := refuseReplace(ios, l.SessionFile()); err != nil {
			return err
		}
	}
	server := session.NormalizeServerURL(o.server)
	if server == "" {
		server = session.ServerFor(l.SessionFile(), nil)
	}
	var token string
	if o.withToken {
		if token, err = readSecret(ios, "Access token: "); err != nil {
			return err
		}
	}
	if server == "" {
		return usagef("no server: pass --server URL or set %s", session.EnvServerURL)
	}
	if err := session.ValidateServerURL(server); err != nil {
		return usageError{err}
	}
	var st *session.Stored
	switch {
	case o.withToken && o.email != "":
		st, err = session.TokenLogin{ServerURL: server, Email: o.email, Team: o.team, Token: token, ExpiresIn: o.expiresIn}.Stored(time.Now())
		if err != nil {
			return usageError{err}
		}
	case o.withToken:
		if err := session.ValidateToken(token); err != nil {
			return usageError{err}
		}
		st, err = session.TokenFromServer(cmd.Context(), http.DefaultClient, server, token, o.expiresIn)
	default:
		lg := &session.Login{ServerURL: server, Out: ios.ErrOut, OpenBrowser: browserOpener()}
		if o.headless {
			st, err = lg.Device(cmd.Context())
		} else if st, err = lg.Browser(cmd.Context()); errors.Is(err, session.ErrNoBrowser) {
			fmt.Fprintln(ios.ErrOut, "no browser available here: using the device code flow")
			st, err = lg.Device(cmd.Context())
		}
	}
	if err != nil {
		if hint := unreachable(err, server); hint != nil {
			return hint
		}
		return fmt.Errorf("logging in: %w", err)
	}
	save := session.SaveNew
	if o.force {
		save = session.Save
	}
	if err := save(l.SessionFile(), st); errors.Is(err, session.ErrExists) {
		return errors.New("another login was stored while this one ran: run spec-kitty auth login --force to replace it")
	} else if err != nil {
		return fmt.Errorf("saving session: %w", err)
	}
	fmt.Fprintf(ios.Out, "logged in to %s as %s\n", server, st.Email)
	return nil
}

// refuseReplace returns login's one-line refusal when a usable session is
// stored (upstream: "Already logged in … use --force"), nil when none is.
// A session that cannot be read or has expired is replaced, as upstream
// does; an unreadable one is named on stderr first.
func refuseReplace(ios *IOStreams, sessionFile string) error {
	if _, err := os.Lstat(sessionFile); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	s, err := session.Load(sessionFile)
	switch {
	case errors.Is(err, session.ErrInvalid) || errors.Is(err, session.ErrUntrusted):
		fmt.Fprintf(ios.ErrOut, "the stored session cannot be read (%v); this login replaces it\n", err)
		return nil
	case err != nil:
		return err
	case s == nil || s.Expired(time.Now()):
		return nil
	}
	return fmt.Errorf("already logged in to %s as %s: run spec-kitty auth login --force to replace the session, or spec-kitty auth logout first", s.ServerURL, s.Email)
}

// readSecret reads one line from stdin, unechoed when it is a terminal.
func readSecret(ios *IOStreams, prompt string) (string, error) {
	if f, ok := ios.In.(*os.File); ok && ios.InTTY {
		fmt.Fprint(ios.ErrOut, prompt)
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(ios.ErrOut)
		if err != nil {
			return "", fmt.Errorf("reading token: %w", err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	line, err := bufio.NewReader(io.LimitReader(ios.In, 16<<10)).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", fmt.Errorf("reading token from stdin: %w", err)
	}
	if strings.TrimSpace(line) == "" {
		return "", usagef("no access token on stdin (pipe it in: echo $TOKEN | spec-kitty auth login --with-token …)")
	}
	return strings.TrimSpace(line), nil
}

// authStatus is `auth status --json`; it never includes a token.
type authStatus struct {
	LoggedIn       bool           `json:"logged_in"`
	ServerURL      *string        `json:"server_url"`
	Principal      *string        `json:"auth_principal"`
	Team           *string        `json:"auth_team"`
	AuthScope      *string        `json:"auth_scope"`
	Name           *string        `json:"name"`
	UserID         *string        `json:"user_id"`
	Teams          []session.Team `json:"teams"`
	AccessExpires  *time.Time     `json:"access_token_expires_at"`
	RefreshExpires *time.Time     `json:"refresh_token_expires_at"`
	AuthMethod     *string        `json:"auth_method"`
}

func newAuthStatusCmd(ios *IOStreams) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status [--json]",
		Short: "Show who is logged in, the team and the token expiry (never the token)",
		Long: `Show the session shared with the Python CLI: the server, the user, the team
events are sent for, and when the access and refresh tokens expire. An
expired access token is refreshed on next use while the refresh token lasts.`,
		Example: "  spec-kitty auth status\n  spec-kitty auth status --json",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			l, err := layout()
			if err != nil {
				return err
			}
			s, err := session.Describe(l.SessionFile(), heldSession(cmd.Context(), l))
			if err != nil {
				return err
			}
			st := authStatus{Teams: []session.Team{}}
			if s != nil {
				scope := s.AuthScope()
				st = authStatus{LoggedIn: true, ServerURL: &s.ServerURL, Principal: &s.Email, Team: &s.Team,
					AuthScope: &scope, Name: &s.Name, UserID: &s.UserID, Teams: s.Teams, AuthMethod: &s.AuthMethod}
				if st.Teams == nil {
					st.Teams = []session.Team{}
				}
				a := s.AccessExpires
				st.AccessExpires = &a
				if !s.RefreshExpires.IsZero() {
					r := s.RefreshExpires
					st.RefreshExpires = &r
				}
			}
			if asJSON {
				return writeJSON(ios.Out, st)
			}
			if s == nil {
				fmt.Fprintln(ios.Out, "not logged in")
				return nil
			}
			printAuthStatus(ios.Out, s, time.Now())
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func printAuthStatus(w io.Writer, s *session.Session, now time.Time) {
	server := s.ServerURL
	if server == "" {
		server = "(no server configured)"
	}
	fmt.Fprintf(w, "logged in to %s as %s", server, s.Email)
	if s.Team != "" {
		fmt.Fprintf(w, " (team %s)", s.Team)
	}
	fmt.Fprintln(w)
	if s.Name != "" && s.Name != s.Email {
		fmt.Fprintf(w, "  user:           %s (%s)\n", s.Email, s.Name)
	}
	for _, t := range s.Teams {
		mark := ""
		if t.ID == s.Team {
			mark = " [events]"
		}
		fmt.Fprintf(w, "  team:           %s (%s, %s)%s\n", t.Name, t.ID, t.Role, mark)
	}
	fmt.Fprintf(w, "  access token:   %s\n", expiry(s.AccessExpires, now))
	switch {
	case !s.CanRefresh:
		fmt.Fprintln(w, "  refresh token:  none (log in again when the access token expires)")
	case s.RefreshExpires.IsZero():
		fmt.Fprintln(w, "  refresh token:  expiry not given by the server")
	default:
		fmt.Fprintf(w, "  refresh token:  %s\n", expiry(s.RefreshExpires, now))
	}
	if s.AuthMethod != "" {
		fmt.Fprintf(w, "  login method:   %s\n", s.AuthMethod)
	}
	if s.Expired(now) {
		fmt.Fprintln(w, "  the login has expired: run spec-kitty auth login")
	}
}

func expiry(t, now time.Time) string {
	at := t.UTC().Format(time.RFC3339)
	if !t.After(now) {
		return "expired at " + at
	}
	return fmt.Sprintf("expires %s (in %s)", at, t.Sub(now).Round(time.Second))
}

func newLogoutCmd(ios *IOStreams) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "logout [--force]",
		Short: "Revoke and remove the session; queued events stay queued",
		Long: `Ask the server to revoke the refresh token (best effort, a few seconds at
most), then remove the session shared with the Python CLI — so both CLIs are
logged out.

--force skips the server call and does not read the session: it removes
auth/session.json, auth/session.salt and auth/session.hot-path.json even
when they cannot be read (a damaged file, a salt of the wrong size, a file
with the wrong mode), naming each file it removed. It is the way out of an
unreadable session; log in again afterwards.`,
		Example: "  spec-kitty auth logout\n  spec-kitty auth logout --force   # also removes a session that cannot be read",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			l, err := layout()
			if err != nil {
				return err
			}
			if force {
				return forceLogout(ios, l.SessionFile())
			}
			st, err := session.ReadStored(l.SessionFile())
			if err != nil {
				return logoutReadError(err)
			}
			if st == nil {
				fmt.Fprintln(ios.Out, "not logged in")
				return nil
			}
			out := session.Revoke(cmd.Context(), http.DefaultClient, session.ServerFor(l.SessionFile(), st), st)
			if out != session.Revoked && out != session.RevokeNoToken {
				fmt.Fprintf(ios.ErrOut, "server revocation not confirmed (%s); removing the local session anyway\n", out)
			}
			if _, err := session.Remove(l.SessionFile()); err != nil {
				return err
			}
			fmt.Fprintln(ios.Out, "logged out")
			return nil
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "do not ask the server to revoke the token; remove even a session that cannot be read")
	return cmd
}

// logoutReadError is plain logout's error for a session it cannot read:
// one line naming the way out, unless the auth folder itself is untrusted
// (then the error already names its fix, and --force would refuse too).
func logoutReadError(err error) error {
	var dir *paths.UntrustedError
	if errors.As(err, &dir) || (!errors.Is(err, session.ErrInvalid) && !errors.Is(err, session.ErrUntrusted)) {
		return err
	}
	return fmt.Errorf("%w; run spec-kitty auth logout --force to remove it", err)
}

// forceLogout removes the session files without reading them and names
// each one it removed.
func forceLogout(ios *IOStreams, sessionFile string) error {
	removed, err := session.Remove(sessionFile)
	for _, p := range removed {
		fmt.Fprintf(ios.Out, "removed %s\n", p)
	}
	if err != nil {
		return err
	}
	if len(removed) == 0 {
		fmt.Fprintln(ios.Out, "not logged in")
		return nil
	}
	fmt.Fprintln(ios.Out, "logged out")
	return nil
}

// heldProbe bounds asking the recorded daemon for the login it holds: a
// wedged daemon must not make `auth status` slower than deriving the key.
const heldProbe = 150 * time.Millisecond

// heldSession is the token-free summary of the login the recorded daemon
// holds, when it answers as itself and proves it holds the recorded token;
// nil otherwise (the session is then read another way).
func heldSession(ctx context.Context, l paths.Layout) *api.SessionSummary {
	rec, err := statefile.Read(l.StateFile())
	if err != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, heldProbe)
	defer cancel()
	if v, h := lifecycle.Inspect(ctx, l, rec); v == lifecycle.Healthy {
		return h.Session
	}
	return nil
}
