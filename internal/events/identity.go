package events

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Project is a project's identity as the upstream CLI records it in the
// `project:` section of <project>/.kittify/config.yaml.
type Project struct {
	UUID     string
	Slug     string
	RepoSlug string
	BuildID  string
	NodeID   string
}

// ErrNoProject reports a directory without a recorded project identity.
var ErrNoProject = errors.New("no project identity")

// maxConfigBytes bounds the config file read.
const maxConfigBytes = 1 << 20

// urlNamespace is the RFC 4122 namespace for URLs.
var urlNamespace = [16]byte{0x6b, 0xa7, 0xb8, 0x11, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8}

// buildIDNamespace is upstream's uuid5(NAMESPACE_URL, "spec-kitty:identity:build_id").
var buildIDNamespace = uuid5(urlNamespace, "spec-kitty:identity:build_id")

// LoadProject reads the .kittify/config.yaml of the project that holds dir:
// dir itself or its nearest parent with one, as the upstream CLI locates a
// project from a subdirectory. Only the `project:` mapping of scalar values
// is read; no config or a missing project.uuid is ErrNoProject. A missing build_id is derived from the uuid and node id the
// way upstream does (UUID5), so it is stable without writing the file.
func LoadProject(dir string) (Project, error) {
	path := findConfig(dir)
	if path == "" {
		return Project{}, fmt.Errorf("%w: no .kittify/config.yaml in %s or above it (initialise the project with the spec-kitty CLI, or pass --project)", ErrNoProject, dir)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return Project{}, fmt.Errorf("reading %s: %w", path, err)
	}
	if len(data) > maxConfigBytes {
		return Project{}, fmt.Errorf("reading %s: larger than %d bytes", path, maxConfigBytes)
	}
	fields := projectSection(data)
	p := Project{
		UUID:     fields["uuid"],
		Slug:     fields["slug"],
		RepoSlug: fields["repo_slug"],
		BuildID:  fields["build_id"],
		NodeID:   fields["node_id"],
	}
	if p.UUID == "" {
		return Project{}, fmt.Errorf("%w: %s has no project.uuid", ErrNoProject, path)
	}
	u, ok := parseUUID(p.UUID)
	if !ok {
		return Project{}, fmt.Errorf("reading %s: project.uuid %q is not a UUID", path, p.UUID)
	}
	p.UUID = formatUUID(u)
	if p.BuildID == "" {
		node := p.NodeID
		if node == "" {
			node = DefaultNodeID()
		}
		p.BuildID = formatUUID(uuid5(buildIDNamespace, p.UUID+":"+node))
	}
	return p, nil
}

// findConfig returns the nearest .kittify/config.yaml at or above dir.
func findConfig(dir string) string {
	for d := filepath.Clean(dir); ; {
		path := filepath.Join(d, ".kittify", "config.yaml")
		if fi, err := os.Stat(path); err == nil && fi.Mode().IsRegular() {
			return path
		}
		parent := filepath.Dir(d)
		if parent == d {
			return ""
		}
		d = parent
	}
}

// projectSection returns the scalar keys of the top-level `project:`
// mapping of a YAML document. It reads the block style upstream writes
// (two-space indent, plain or quoted scalars, comments).
func projectSection(data []byte) map[string]string {
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	in := false
	indent := -1
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), " \t\r")
		trimmed := strings.TrimLeft(line, " ")
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		depth := len(line) - len(trimmed)
		if depth == 0 {
			in = strings.HasPrefix(trimmed, "project:") && strings.TrimSpace(stripComment(strings.TrimPrefix(trimmed, "project:"))) == ""
			indent = -1
			continue
		}
		if !in {
			continue
		}
		if indent < 0 {
			indent = depth
		}
		if depth != indent {
			continue // nested deeper: not a scalar of project
		}
		key, value, ok := strings.Cut(trimmed, ":")
		if !ok {
			continue
		}
		out[strings.TrimSpace(key)] = scalar(value)
	}
	return out
}

func stripComment(s string) string {
	if i := strings.Index(s, " #"); i >= 0 {
		return s[:i]
	}
	if strings.HasPrefix(strings.TrimSpace(s), "#") {
		return ""
	}
	return s
}

func scalar(v string) string {
	v = strings.TrimSpace(v)
	if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') {
		if end := strings.IndexByte(v[1:], v[0]); end >= 0 {
			return v[1 : 1+end]
		}
	}
	v = strings.TrimSpace(stripComment(v))
	if v == "null" || v == "~" {
		return ""
	}
	return v
}
