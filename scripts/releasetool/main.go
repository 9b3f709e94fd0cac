// Command releasetool does the parts of scripts/release.sh that need Go
// rather than a shell: man pages from the CLI's own cobra tree, and zip
// archives (Windows users expect .zip, and a fresh machine may have no zip).
//
//	go run ./scripts/releasetool man DIR
//	go run ./scripts/releasetool zip ARCHIVE.zip DIR
package main

import (
	"archive/zip"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra/doc"

	"github.com/spec-kitty/spec-kitty/internal/cli"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "releasetool:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	switch {
	case len(args) == 2 && args[0] == "man":
		return manPages(args[1])
	case len(args) == 3 && args[0] == "zip":
		return zipDir(args[1], args[2])
	default:
		return fmt.Errorf("usage: releasetool man DIR | releasetool zip ARCHIVE.zip DIR")
	}
}

// manPages writes one section-1 page per visible command. The date comes
// from SOURCE_DATE_EPOCH when set so that two builds of one commit match.
func manPages(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	root := cli.NewRoot(cli.System())
	root.DisableAutoGenTag = true
	header := &doc.GenManHeader{Title: "SPEC-KITTY", Section: "1", Source: "spec-kitty", Manual: "Spec Kitty manual"}
	if d, ok := sourceDate(); ok {
		header.Date = &d
	}
	if err := doc.GenManTree(root, header, dir); err != nil {
		return fmt.Errorf("writing man pages: %w", err)
	}
	return nil
}

func sourceDate() (time.Time, bool) {
	var sec int64
	if _, err := fmt.Sscan(os.Getenv("SOURCE_DATE_EPOCH"), &sec); err != nil {
		return time.Time{}, false
	}
	return time.Unix(sec, 0).UTC(), true
}

// zipDir archives dir under its own base name, files in walk (lexical)
// order with one fixed time, so the archive depends only on the contents.
func zipDir(archive, dir string) error {
	out, err := os.Create(archive)
	if err != nil {
		return err
	}
	defer out.Close()
	zw := zip.NewWriter(out)
	mtime, ok := sourceDate()
	if !ok {
		mtime = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	parent := filepath.Dir(filepath.Clean(dir))
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(parent, path)
		if err != nil {
			return err
		}
		hdr, err := zip.FileInfoHeader(info)
		if err != nil {
			return err
		}
		hdr.Name = filepath.ToSlash(rel)
		hdr.Method = zip.Deflate
		hdr.Modified = mtime
		w, err := zw.CreateHeader(hdr)
		if err != nil {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(w, f)
		return err
	})
	if err != nil {
		return fmt.Errorf("archiving %s: %w", dir, err)
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return out.Close()
}
