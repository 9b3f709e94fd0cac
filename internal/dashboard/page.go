package dashboard

import (
	"embed"
	"io/fs"
	"net/http"
)

// web is the page: HTML, CSS and JS, no external assets, works offline.
//
//go:embed web
var web embed.FS

// contentSecurityPolicy allows only the page's own files and requests to its
// own origin: no inline script, nothing fetched from elsewhere.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; " +
	"connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// pagePaths are the page's routes: index.html at / and its assets by name.
var pagePaths = []string{"/{$}", "/app.js", "/app.css"}

// pageHandler serves the embedded page files.
func pageHandler() http.Handler {
	sub, err := fs.Sub(web, "web")
	if err != nil {
		panic(err) // the embed directive guarantees the directory
	}
	files := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		// An upgraded binary serves a new page; never show a stale one.
		h.Set("Cache-Control", "no-store")
		files.ServeHTTP(w, r)
	})
}
