#!/usr/bin/env bash
# Ensure a real kube-apiserver, kubectl, kubelet, kube-controller-manager, kube-proxy and
# kube-scheduler (one build, from tools/k8s-testbins/go.mod via
# the Go module proxy) and etcd + openssl are available for integration tests.
#
#   BIN=$(scripts/ensure-kube-bins.sh | tail -1)
#
# Binaries are cached in ${NODEWARDEN_CACHE:-/var/cache/nodewarden}/k8s-<hash>/bin,
# where <hash> is a short sha256 of tools/k8s-testbins/go.mod + go.sum. If they are
# already there this is a no-op. Diagnostics go to stderr; the only stdout line is
# the bin dir path. Needs: Go (>= go.mod's go line) in PATH or /usr/local/go/bin,
# and apt-get (as root) if etcd/openssl are missing.
set -euo pipefail

t0=$(date +%s%N)
log() { printf 'ensure-kube-bins: %s\n' "$*" >&2; }
elapsed() { echo "$(( ($(date +%s%N) - t0) / 1000000 )) ms"; }

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
moddir=$(cd "$here/../tools/k8s-testbins" && pwd)
. "$here/lib/go-cache.sh"
go_cache_dirs k8s "$moddir"

# --- system packages: etcd (Debian etcd-server) and openssl -------------------
apt_updated=0
apt_install() { # apt_install <pkg>...; runs 'apt-get update' only if the install fails
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  if ! $sudo apt-get install -y -q --no-install-recommends "$@" >&2; then
    [ "$apt_updated" -eq 1 ] && return 1
    log "apt-get install $* failed; running apt-get update and retrying"
    $sudo apt-get update -q >&2
    apt_updated=1
    $sudo apt-get install -y -q --no-install-recommends "$@" >&2
  fi
}
pkgs=()
command -v etcd >/dev/null 2>&1 || pkgs+=(etcd-server)
command -v openssl >/dev/null 2>&1 || pkgs+=(openssl)
if [ "${#pkgs[@]}" -gt 0 ]; then
  log "installing ${pkgs[*]}"
  apt_install "${pkgs[@]}"
  # The package may start a system etcd on hosts running systemd; tests start
  # their own on random ports, so stop the one we just caused to be started.
  if [[ " ${pkgs[*]} " == *" etcd-server "* ]] && [ -d /run/systemd/system ]; then
    systemctl disable --now etcd >/dev/null 2>&1 || true
  fi
  command -v etcd >/dev/null 2>&1 || { log "etcd still not found after install"; exit 1; }
fi

# --- fast path ----------------------------------------------------------------
bins=(kube-apiserver kubectl kubelet kube-controller-manager kube-scheduler kube-proxy)
go_cache_or_lock "${bins[@]}"

# --- build ----------------------------------------------------------------------

version=$(go_module_version "$moddir" k8s.io/kubernetes)
[[ "$version" =~ ^v1\.([0-9]+)\.[0-9]+ ]] || { log "cannot read k8s.io/kubernetes version from go.mod"; exit 1; }
minor=${BASH_REMATCH[1]}
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.gitCommit="
done

tmp=$(mktemp -d "$outdir/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
log "building ${bins[*]} $version ($(go version | awk '{print $3}')) into $bindir; cold builds take a while"
(
  cd "$moddir"
  GOTOOLCHAIN=local CGO_ENABLED=0 \
    go build -trimpath -ldflags "$ldflags" -o "$tmp/" "${bins[@]/#/k8s.io/kubernetes/cmd/}"
) >&2
"$tmp/kube-apiserver" --version >&2
mkdir -p "$bindir"
# kube-apiserver last: it is what older callers test for.
for b in "${bins[@]:1}" kube-apiserver; do mv -f "$tmp/$b" "$bindir/$b"; done
log "built in $(elapsed)"
echo "$bindir"
