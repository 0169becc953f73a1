#!/usr/bin/env bash
# Installs, with apt, what the controller itself needs and does not have yet:
# python3-venv (the .venv), redis-server (the app's tests start their own),
# debootstrap (the lab image), make, promtool (prometheus) and chromium.
# The Docker engine is lab/ensure-docker.sh's job.
set -euo pipefail
missing=()
python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
command -v redis-server >/dev/null || missing+=(redis-server)
command -v debootstrap >/dev/null || missing+=(debootstrap)
command -v make >/dev/null || missing+=(make)
# promtool (the alert rules tests, make test) comes with Debian's prometheus package.
command -v promtool >/dev/null || missing+=(prometheus)
# chromium: the cluster verifier opens the overview page in a headless browser.
command -v chromium >/dev/null || missing+=(chromium)
[ "${#missing[@]}" -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "setup: please install: ${missing[*]} (sudo apt-get install ${missing[*]})" >&2
  exit 1
fi
echo "setup: installing ${missing[*]} from apt" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts redis-server on install; the tests start their own on a free port.
