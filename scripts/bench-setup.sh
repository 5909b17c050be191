#!/usr/bin/env bash
# The bench's own setup step (issue F9): installs the peer the comparison runs against — Debian's
# etcd-server package (etcd 3.4 on bookworm) — when no `etcd` binary is on PATH or in /usr/bin.
# Not called from .ci/run: CI does not install etcd, and test/bench/etcd-peer.test.ts skips without it.
# Usage: npm run bench:setup
set -euo pipefail

if command -v etcd >/dev/null 2>&1; then
  etcd_bin="$(command -v etcd)"
elif [ -x /usr/bin/etcd ]; then
  etcd_bin=/usr/bin/etcd
else
  if [ "$(id -u)" -eq 0 ]; then sudo=(); else sudo=(sudo); fi
  echo "bench-setup: etcd not found; installing Debian's etcd-server with apt-get"
  "${sudo[@]}" apt-get update
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y --no-install-recommends etcd-server
  # The package enables a system etcd service on 127.0.0.1:2379 where systemd runs; the bench starts
  # its own members on free ports and does not need it (it may be stopped: systemctl stop etcd).
  etcd_bin=/usr/bin/etcd
fi

"$etcd_bin" --version | head -1
echo "bench-setup: etcd is at $etcd_bin"
