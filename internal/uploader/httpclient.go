package uploader

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
)

// maxRedirects bounds a redirect chain, as net/http's default does.
const maxRedirects = 10

// NewHTTPClient returns the uploader's HTTP client. It follows a redirect
// only within the origin (scheme, host and port) of the first request: the
// bearer token must never reach another server, nor travel over http after
// https. net/http alone would keep the Authorization header for another port
// of the same host, for a subdomain, and across a downgrade to http.
func NewHTTPClient() *http.Client {
	return &http.Client{CheckRedirect: sameOriginRedirect}
}

// ErrCrossOriginRedirect reports a redirect the uploader refused to follow.
var ErrCrossOriginRedirect = errors.New("refusing a redirect to another origin")

func sameOriginRedirect(req *http.Request, via []*http.Request) error {
	if len(via) == 0 {
		return nil
	}
	if len(via) >= maxRedirects {
		return fmt.Errorf("stopped after %d redirects", maxRedirects)
	}
	from := via[0].URL
	if origin(req.URL) != origin(from) {
		return fmt.Errorf("%w: %s to %s", ErrCrossOriginRedirect, origin(from), origin(req.URL))
	}
	return nil
}

// origin is scheme://host:port with the scheme's default port made explicit.
func origin(u *url.URL) string {
	port := u.Port()
	if port == "" {
		switch u.Scheme {
		case "https":
			port = "443"
		case "http":
			port = "80"
		}
	}
	return u.Scheme + "://" + u.Hostname() + ":" + port
}
