#!/usr/bin/env bash
# Build the lab's Debian 12 base image without any registry:
# debootstrap a minimal root file system, then `docker import` it.
# The tag carries a hash of this script, so the image is built once per machine
# and rebuilt only when this recipe changes. Prints the image tag on stdout.
set -euo pipefail

say() { printf 'lab: %s\n' "$*" >&2; }

here=$(cd "$(dirname "$0")" && pwd)
recipe_hash=$(sha256sum "$here/build-image.sh" | cut -c1-12)
image="facefleet/debian12-systemd:$recipe_hash"
mirror=${FACEFLEET_DEBIAN_MIRROR:-http://deb.debian.org/debian}

if docker image inspect "$image" >/dev/null 2>&1; then
  say "base image $image is already built"
  echo "$image"
  exit 0
fi

if ! command -v debootstrap >/dev/null 2>&1; then
  say "installing debootstrap from apt"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
fi

root=$(mktemp -d /var/tmp/facefleet-rootfs.XXXXXX)
trap 'rm -rf "$root"' EXIT
start=$(date +%s)
say "debootstrap bookworm into $root (about 75 s)"
# What a minimal Debian VM has: systemd as init, sshd, sudo, Python for Ansible, and
# the few tools the verifiers call (ps, ip).
debootstrap --variant=minbase \
  --include=systemd,systemd-sysv,dbus,sudo,openssh-server,python3,python3-apt,iproute2,procps \
  bookworm "$root" "$mirror" >/dev/null
# Each host makes its own SSH host keys at first boot, as a cloud image does: none are
# baked into the image, where every container would share them.
rm -f "$root"/etc/ssh/ssh_host_*
mkdir -p "$root/etc/systemd/system/ssh.service.d"
cat >"$root/etc/systemd/system/ssh.service.d/host-keys.conf" <<'UNIT'
[Service]
ExecStartPre=
ExecStartPre=/usr/bin/ssh-keygen -A
ExecStartPre=/usr/sbin/sshd -t
UNIT

# Fresh apt lists make the first apt task on a lab host fast, as on a cloud VM.
chroot "$root" apt-get -o APT::Sandbox::User=root update -qq
chroot "$root" apt-get clean
# Units that make no sense in a container and only slow boot or fail.
for unit in systemd-remount-fs.service systemd-udevd.service systemd-udev-trigger.service \
            getty.target console-getty.service systemd-logind.service; do
  ln -sf /dev/null "$root/etc/systemd/system/$unit"
done
: >"$root/etc/machine-id"

say "docker import as $image"
tar -C "$root" -c . | docker import \
  --change 'CMD ["/lib/systemd/systemd"]' \
  --change 'ENV container=docker' \
  --change "LABEL org.facefleet.lab=true" \
  - "$image" >/dev/null
say "base image built in $(( $(date +%s) - start )) s"
# Older builds of this recipe: remove those no container uses any more.
for old in $(docker image ls --format '{{.Repository}}:{{.Tag}}' facefleet/debian12-systemd); do
  [ "$old" = "$image" ] || docker image rm "$old" >/dev/null 2>&1 || true
done
echo "$image"
