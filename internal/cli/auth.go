package cli

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/spec-kitty/spec-kitty/internal/session"
)

func newAuthCmd(ios *IOStreams) *cobra.Command {
	cmd := groupCmd("auth", "Log in to a sync server, and diagnose the local daemons")
	cmd.AddCommand(newLoginCmd(ios), newAuthStatusCmd(ios), newLogoutCmd(ios), newDoctorCmd(ios))
	return cmd
}

func newLoginCmd(ios *IOStreams) *cobra.Command {
	var server, email, team string
	cmd := &cobra.Command{
		Use:   "login --server URL --email EMAIL [--team TEAM]",
		Short: "Store a session; the access token is read from stdin",
		Long: `Store the session the sync daemon uploads with. The access token is read
from the first line of stdin (or asked for, unechoed, on a terminal), never
from the command line.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if server == "" || email == "" {
				return usagef("--server and --email are required")
			}
			token, err := readSecret(ios, "Access token: ")
			if err != nil {
				return err
			}
			s, err := session.New(server, email, team, token)
			if err != nil {
				return usageError{err}
			}
			l, err := layout()
			if err != nil {
				return err
			}
			if err := session.Save(l.SessionFile(), s); err != nil {
				return fmt.Errorf("saving session: %w", err)
			}
			fmt.Fprintf(ios.Out, "logged in to %s as %s\n", s.ServerURL, s.Email)
			return nil
		},
	}
	cmd.Flags().StringVar(&server, "server", "", "sync server URL (http or https)")
	cmd.Flags().StringVar(&email, "email", "", "your account's email address")
	cmd.Flags().StringVar(&team, "team", "", "team to act for")
	return cmd
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
		return "", usagef("no access token on stdin (pipe it in: echo $TOKEN | spec-kitty auth login …)")
	}
	return strings.TrimSpace(line), nil
}

// authStatus is `auth status --json`; it never includes the token.
type authStatus struct {
	LoggedIn  bool    `json:"logged_in"`
	ServerURL *string `json:"server_url"`
	Principal *string `json:"auth_principal"`
	Team      *string `json:"auth_team"`
	AuthScope *string `json:"auth_scope"`
}

func newAuthStatusCmd(ios *IOStreams) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the stored session (never the token)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			l, err := layout()
			if err != nil {
				return err
			}
			s, err := session.Load(l.SessionFile())
			if err != nil {
				return err
			}
			st := authStatus{}
			if s != nil {
				scope := s.AuthScope()
				st = authStatus{LoggedIn: true, ServerURL: &s.ServerURL, Principal: &s.Email, Team: &s.Team, AuthScope: &scope}
			}
			if asJSON {
				return writeJSON(ios.Out, st)
			}
			if s == nil {
				fmt.Fprintln(ios.Out, "not logged in")
				return nil
			}
			fmt.Fprintf(ios.Out, "logged in to %s as %s", s.ServerURL, s.Email)
			if s.Team != "" {
				fmt.Fprintf(ios.Out, " (team %s)", s.Team)
			}
			fmt.Fprintln(ios.Out)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newLogoutCmd(ios *IOStreams) *cobra.Command {
	return &cobra.Command{
		Use:   "logout",
		Short: "Remove the stored session; queued events stay queued",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			l, err := layout()
			if err != nil {
				return err
			}
			if err := session.Remove(l.SessionFile()); err != nil {
				return fmt.Errorf("removing session: %w", err)
			}
			fmt.Fprintln(ios.Out, "logged out")
			return nil
		},
	}
}
