#!/usr/bin/env bash
# Ensure a real helm CLI (built from tools/helm/go.mod via the Go module proxy) for the chart
# tests (helm lint, helm template of deploy/helm/nodewarden).
#
#   BIN=$(scripts/ensure-helm.sh | tail -1)
#
# The binary is cached in ${NODEWARDEN_CACHE:-/var/cache/nodewarden}/helm-<hash>/bin, where
# <hash> is a short sha256 of tools/helm/go.mod + go.sum. If it is already there this is a no-op.
# Diagnostics go to stderr; the only stdout line is the bin dir path. Needs: Go (>= go.mod's go
# line) in PATH or /usr/local/go/bin.
set -euo pipefail

t0=$(date +%s%N)
log() { printf 'ensure-helm: %s\n' "$*" >&2; }
elapsed() { echo "$(( ($(date +%s%N) - t0) / 1000000 )) ms"; }

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
moddir=$(cd "$here/../tools/helm" && pwd)
. "$here/lib/go-cache.sh"
go_cache_dirs helm "$moddir"

go_cache_or_lock helm

version=$(go_module_version "$moddir" helm.sh/helm/v4)
[[ "$version" =~ ^v4\.[0-9]+\.[0-9]+ ]] || { log "cannot read the helm version from go.mod"; exit 1; }

tmp=$(mktemp -d "$outdir/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
log "building helm $version ($(go version | awk '{print $3}')) into $bindir"
(
  cd "$moddir"
  # helm prints its version from internal/version (what its own Makefile sets).
  GOTOOLCHAIN=local CGO_ENABLED=0 \
    go build -trimpath -ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=$version" \
      -o "$tmp/helm" helm.sh/helm/v4/cmd/helm
) >&2
"$tmp/helm" version --short >&2
mkdir -p "$bindir"
mv -f "$tmp/helm" "$bindir/helm"
log "built in $(elapsed)"
echo "$bindir"
