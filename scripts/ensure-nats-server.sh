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
cache_root=${NODEWARDEN_CACHE:-/var/cache/nodewarden}
hash=$(cat "$moddir/go.mod" "$moddir/go.sum" | sha256sum | cut -c1-12)
outdir="$cache_root/nats-$hash"
bindir="$outdir/bin"

if [ -x "$bindir/nats-server" ]; then
  log "cached ($bindir), $(elapsed)"
  echo "$bindir"
  exit 0
fi

[ -n "${HOME:-}" ] || export HOME=$(getent passwd "$(id -u)" | cut -d: -f6)
command -v go >/dev/null 2>&1 || export PATH="/usr/local/go/bin:$PATH"
command -v go >/dev/null 2>&1 || { log "go not found (PATH or /usr/local/go/bin)"; exit 1; }

mkdir -p "$outdir" || { log "cannot create $outdir (set NODEWARDEN_CACHE)"; exit 1; }
# Serialize concurrent callers; re-check after getting the lock.
exec 9>"$outdir/.lock"
flock 9
if [ -x "$bindir/nats-server" ]; then
  log "built by a concurrent caller ($bindir), $(elapsed)"
  echo "$bindir"
  exit 0
fi

version=$(awk '($1=="require" && $2=="github.com/nats-io/nats-server/v2"){print $3} ($1=="github.com/nats-io/nats-server/v2" && $2 ~ /^v2\./){print $2}' "$moddir/go.mod" | head -1)
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
