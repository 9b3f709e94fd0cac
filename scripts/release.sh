#!/usr/bin/env bash
# Builds the release archives of spec-kitty:
#
#   ./scripts/release.sh 3.3.0
#
# For each of linux, darwin and windows on amd64 and arm64 it builds a
# static binary (CGO_ENABLED=0, -trimpath, version, commit and date stamped
# into internal/version), packs it with the README, the licence notes, the
# man pages (cobra's generator) and shell completions for bash, zsh, fish
# and PowerShell, and writes a CycloneDX SBOM of what that binary links
# (cyclonedx-gomod, pinned by go.mod's tool directive, from the
# binary's build info). Last it writes
# SHA256SUMS over everything it produced.
#
#   RELEASE_OUT=dir          where the files go (default dist/VERSION)
#   RELEASE_TARGETS="os/arch …"  a subset of the six targets (tests build the host only)
#   SOURCE_DATE_EPOCH        the build date; default: the commit's time, so
#                            two builds of one commit are identical
#
# Needs only Go, git, tar and gzip. Archives are .tar.gz, and .zip for Windows.
set -euo pipefail
cd "$(dirname "$0")/.."

die() { echo "release: $*" >&2; exit 2; }

[ $# -eq 1 ] || die "usage: scripts/release.sh VERSION (e.g. 3.3.0)"
version=${1#v}
[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.-]+)?$ ]] ||
  die "VERSION must look like 3.3.0 or 3.3.0-rc.1, not \"$1\""

targets=${RELEASE_TARGETS:-"linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64 windows/arm64"}
out=${RELEASE_OUT:-dist/$version}
commit=$(git rev-parse HEAD 2>/dev/null || echo unknown)
if [ "$commit" != unknown ] && [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
  commit="$commit-dirty"
fi
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
  SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null || date +%s)
fi
export SOURCE_DATE_EPOCH
build_date=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ 2>/dev/null ||
  date -u -r "$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)

pkg=github.com/spec-kitty/spec-kitty/internal/version
ldflags="-s -w -X $pkg.Build=$version -X $pkg.Commit=$commit -X $pkg.BuildDate=$build_date"
export CGO_ENABLED=0

rm -rf "$out"
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "release $version (commit $commit, date $build_date) -> $out"

# Man pages and completions do not depend on the target: make them once,
# with a binary for the machine that runs this script.
shared=$work/shared
mkdir -p "$shared/man/man1" "$shared/completions"
go run ./scripts/releasetool man "$shared/man/man1"
go build -trimpath -ldflags "$ldflags" -o "$work/host-spec-kitty" ./cmd/spec-kitty
"$work/host-spec-kitty" completion bash >"$shared/completions/spec-kitty.bash"
"$work/host-spec-kitty" completion zsh >"$shared/completions/_spec-kitty"
"$work/host-spec-kitty" completion fish >"$shared/completions/spec-kitty.fish"
"$work/host-spec-kitty" completion powershell >"$shared/completions/spec-kitty.ps1"
cp README.md "$shared/"
cp third_party/jsonschema/LICENSE "$shared/LICENSE.jsonschema"

for target in $targets; do
  goos=${target%/*}
  goarch=${target#*/}
  name=spec-kitty_${version}_${goos}_${goarch}
  dir=$work/$name
  exe=spec-kitty
  [ "$goos" = windows ] && exe=spec-kitty.exe
  echo "  $goos/$goarch"
  mkdir -p "$dir"
  cp -R "$shared/." "$dir/"
  GOOS=$goos GOARCH=$goarch go build -trimpath -ldflags "$ldflags" -o "$dir/$exe" ./cmd/spec-kitty
  # The SBOM is read from the binary's own build info: exactly the modules
  # it links, whatever the target (app mode would also need a plain git
  # checkout to name the main module's version).
  go tool cyclonedx-gomod bin -json -noserial -notimestamp -version "v$version" \
    -output "$out/$name.sbom.cdx.json" "$dir/$exe"
  if [ "$goos" = windows ]; then
    go run ./scripts/releasetool zip "$out/$name.zip" "$dir"
  else
    tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$SOURCE_DATE_EPOCH" \
      -C "$work" -cf - "$name" | gzip -n >"$out/$name.tar.gz"
  fi
done

(
  cd "$out"
  files=$(ls | grep -v '^SHA256SUMS$')
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum $files >SHA256SUMS
  else
    shasum -a 256 $files >SHA256SUMS
  fi
)
echo "wrote $(ls "$out" | wc -l | tr -d ' ') files to $out"
