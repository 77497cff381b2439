# Shared by the scripts that build test fixtures from Go modules (kube binaries, nats-server, helm): a
# cache dir keyed by the module's go.mod + go.sum, a lock so concurrent callers build once, and the
# pinned version read from go.mod. Source it; it only defines functions. Callers set `log`.

# go_cache_dirs NAME MODDIR: sets outdir and bindir under ${NODEWARDEN_CACHE:-/var/cache/nodewarden}.
go_cache_dirs() {
  local hash
  hash=$(cat "$2/go.mod" "$2/go.sum" | sha256sum | cut -c1-12)
  outdir="${NODEWARDEN_CACHE:-/var/cache/nodewarden}/$1-$hash"
  bindir="$outdir/bin"
}

# go_cache_has BIN...: true when every binary is already in bindir.
go_cache_has() {
  local b
  for b in "$@"; do [ -x "$bindir/$b" ] || return 1; done
}

# go_cache_lock: Go on PATH, the cache dir made, and the lock held (fd 9) until the script exits.
go_cache_lock() {
  [ -n "${HOME:-}" ] || export HOME=$(getent passwd "$(id -u)" | cut -d: -f6)
  command -v go >/dev/null 2>&1 || export PATH="/usr/local/go/bin:$PATH"
  command -v go >/dev/null 2>&1 || { log "go not found (PATH or /usr/local/go/bin)"; exit 1; }
  mkdir -p "$outdir" || { log "cannot create $outdir (set NODEWARDEN_CACHE)"; exit 1; }
  exec 9>"$outdir/.lock"
  flock 9
}

# go_cache_or_lock BIN...: when every binary is already in bindir (checked, then checked again under
# the lock, so concurrent callers build once) prints bindir and ends the script; otherwise returns
# holding the lock, for the caller to build. Callers define `elapsed`.
go_cache_or_lock() {
  if go_cache_has "$@"; then log "cached ($bindir), $(elapsed)"; echo "$bindir"; exit 0; fi
  go_cache_lock
  if go_cache_has "$@"; then log "built by a concurrent caller ($bindir), $(elapsed)"; echo "$bindir"; exit 0; fi
}

# go_module_version MODDIR MODULE: the version go.mod requires of MODULE (single or block form).
go_module_version() {
  awk -v m="$2" '($1=="require" && $2==m){print $3} ($1==m && $2 ~ /^v[0-9]/){print $2}' "$1/go.mod" | head -1
}
