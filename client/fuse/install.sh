#!/bin/sh
# Installs rbfs-mount so that `mount -t fuse.rbfs` and /etc/fstab work:
#   /usr/local/bin/rbfs-mount    the FUSE daemon
#   /sbin/mount.fuse.rbfs        the mount(8) helper (hands over to mount.fuse3)
# Run from the workspace root after `bazel build //client:rbfs-mount`, or
# pass the binary's path as $1.
set -e
binary="${1:-bazel-bin/client/rbfs-mount}"
here="$(dirname "$0")"
install -D -m 0755 "$binary" /usr/local/bin/rbfs-mount
install -D -m 0755 "$here/mount.fuse.rbfs" /sbin/mount.fuse.rbfs
echo "installed /usr/local/bin/rbfs-mount and /sbin/mount.fuse.rbfs"
echo "fstab:  HOST:PORT  /mnt/x  fuse.rbfs  _netdev,allow_other  0  0"
