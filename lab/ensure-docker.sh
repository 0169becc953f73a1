#!/usr/bin/env bash
# Make sure a Docker engine answers, without touching one that already runs.
#  - `docker` missing        -> install Debian's docker.io with apt-get
#  - no daemon answering     -> start dockerd in the background (no systemd needed)
#  - a daemon that answers   -> leave it exactly as it is
set -euo pipefail

say() { printf 'lab: %s\n' "$*" >&2; }

if ! command -v dockerd >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    say "dockerd is missing and this is not root: install docker.io (or Docker Engine) first"
    exit 1
  fi
  say "installing docker.io from apt (no Docker engine found)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
fi

if docker info >/dev/null 2>&1; then
  say "a Docker daemon already answers; using it as it is"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  say "no Docker daemon answers and this is not root: start Docker yourself"
  exit 1
fi

log=/var/log/facefleet-dockerd.log
say "no Docker daemon answers; starting dockerd in the background (log: $log)"
nohup dockerd >"$log" 2>&1 &
for _ in $(seq 1 60); do
  if docker info >/dev/null 2>&1; then
    say "dockerd is up ($(docker version --format '{{.Server.Version}}' 2>/dev/null))"
    exit 0
  fi
  sleep 1
done
say "dockerd did not answer within 60 s; see $log"
tail -n 20 "$log" >&2
exit 1
