#!/bin/sh
# A fake `crictl` for the fallback tests: prints recorded `crictl -o json` output (real shapes, see
# test/fixtures/runtime/README.md) from $FAKE_CRICTL_DIR and appends its argv to $FAKE_CRICTL_LOG.
# FAKE_CRICTL_MODE: normal | hang (never answers; a child sleeps as well) | refuse (exits 1 the way
# crictl does when the runtime socket refuses connections).
dir=${FAKE_CRICTL_DIR:?FAKE_CRICTL_DIR not set}
log=${FAKE_CRICTL_LOG:-/dev/null}
echo "$*" >> "$log"
case "${FAKE_CRICTL_MODE:-normal}" in
  hang)
    sleep 300 &
    echo $! >> "$log.pids"
    wait
    exit 0 ;;
  refuse)
    echo 'time="2026-11-23T15:30:00Z" level=fatal msg="validate service connection: validate CRI v1 runtime API for endpoint \"unix:///run/containerd/containerd.sock\": rpc error: code = Unavailable desc = connection error: desc = \"transport: Error while dialing: dial unix /run/containerd/containerd.sock: connect: connection refused\""' >&2
    exit 1 ;;
esac
# global flags (always given as --name=value) come before the command
while [ $# -gt 0 ]; do
  case "$1" in -*) shift ;; *) break ;; esac
done
cmd=$1
[ $# -gt 0 ] && shift
case "$cmd" in
  version) cat "$dir/version.txt" ;;
  info) cat "$dir/info.json" ;;
  pods) cat "$dir/pods.json" ;;
  ps) cat "$dir/ps-a.json" ;;
  inspectp)
    ids=
    prev=
    for a in "$@"; do
      case "$a" in
        -*) ;;
        *) [ "$prev" = "-o" ] || ids="$ids $a" ;;
      esac
      prev=$a
    done
    set -- $ids
    for id in "$@"; do
      if [ ! -f "$dir/inspectp/$id.json" ]; then
        echo "time=\"2026-11-23T15:30:00Z\" level=fatal msg=\"get the status of pod sandboxes: get pod sandbox status: rpc error: code = NotFound desc = an error occurred when try to find sandbox: not found\"" >&2
        exit 1
      fi
    done
    # one id: the object; several: a JSON array of them (current crictl)
    if [ $# -eq 1 ]; then cat "$dir/inspectp/$1.json"; else
      printf '['
      sep=
      for id in "$@"; do printf '%s' "$sep"; cat "$dir/inspectp/$id.json"; sep=,; done
      printf ']\n'
    fi ;;
  *) echo "fake crictl: unknown command $cmd" >&2; exit 1 ;;
esac
