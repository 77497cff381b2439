#!/usr/bin/env bash
# Ensure a real nats-server >= 2.11 (built from tools/nats-server/go.mod via the Go
# module proxy) for tests and benchmarks; Debian's nats-server 2.9 has no auth callout.
#
#   BIN=$(scripts/ensure-nats-server.sh | tail -1)
#
# The binary is cached in ${NODEWARDEN_CACHE:-/var/cache/nodewarden}/nats-<hash>/bin,
# where <hash> is a short sha256 of tools/nats-server/go.mod + go.sum. If it is already
# there this is a no-op. Diagnostics go to stderr; the only stdout line is the bin dir
# path. Needs: Go (>= go.mod's go line) in PATH or /usr/local/go/bin.
set -euo pipefail

t0=$(date +%s%N)
log() { printf 'ensure-nats-server: %s\n' "$*" >&2; }
elapsed() { echo "$(( ($(date +%s%N) - t0) / 1000000 )) ms"; }

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
moddir=$(cd "$here/../tools/nats-server" && pwd)
. "$here/lib/go-cache.sh"
go_cache_dirs nats "$moddir"

go_cache_or_lock nats-server

version=$(go_module_version "$moddir" github.com/nats-io/nats-server/v2)
[[ "$version" =~ ^v2\.[0-9]+\.[0-9]+ ]] || { log "cannot read the nats-server version from go.mod"; exit 1; }

tmp=$(mktemp -d "$outdir/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
log "building nats-server $version ($(go version | awk '{print $3}')) into $bindir"
(
  cd "$moddir"
  GOTOOLCHAIN=local CGO_ENABLED=0 \
    go build -trimpath -ldflags "-s -w" -o "$tmp/nats-server" github.com/nats-io/nats-server/v2
) >&2
"$tmp/nats-server" --version >&2
mkdir -p "$bindir"
mv -f "$tmp/nats-server" "$bindir/nats-server"
log "built in $(elapsed)"
echo "$bindir"
