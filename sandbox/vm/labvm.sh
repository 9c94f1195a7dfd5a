#!/usr/bin/env bash
# The base image of a hosted class's lab VMs (hosted.isolation: vm), one per node suite,
# built offline from the lab box image: the box's root file system (sshd, the box's
# Docker Engine with the node image already loaded, the hub for the lab's mirror, the
# `lab` command, labbox-boot) plus a kernel and the VM's own PID 1 (templates/labvm/init).
# Each student's VM runs on a copy-on-write overlay of it (labgen makes that).
#   labvm.sh [SUITE]         build unless this recipe's image exists (SUITE: trixie, bookworm)
#   labvm.sh --force [SUITE] rebuild
#   labvm.sh clean [SUITE]   remove every image of SUITE (running VMs' bases too: down first)
# Out: /var/cache/labgen/labvm/SUITE-KEY/{disk.qcow2,vmlinuz,initrd.img} and the link
# /var/cache/labgen/labvm/SUITE -> SUITE-KEY (KEY: the box image and this recipe), so a
# rebuild never changes the base under a running VM's overlay.
# Needs the sandbox engine holding labgen/labbox:SUITE (sandbox/images.sh labbox SUITE).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
OUT_DIR=${LABGEN_VM_IMAGES:-/var/cache/labgen/labvm}
MIRROR=${LABGEN_DEBIAN_MIRROR:-http://deb.debian.org/debian}
# The box is bookworm whatever its nodes run (images.sh: LABBOX_SUITE): so is its kernel.
BOX_DEBIAN=bookworm
# Room for the student's images and containers; sparse, and the overlay holds only writes.
DISK_SIZE=8G
# What the box lacks to be a machine: a kernel, its initrd, modprobe.
VM_PACKAGES=(linux-image-amd64 initramfs-tools kmod)

log() { printf '[labvm.sh] %s %s\n' "$(date +%T)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

FORCE=0
CLEAN=0
case ${1:-} in
  --force) FORCE=1; shift ;;
  clean) CLEAN=1; shift ;;
esac
SUITE=${1:-trixie}
case $SUITE in bookworm | trixie) ;; *) die "unknown suite $SUITE (bookworm or trixie)" ;; esac
[[ $(id -u) -eq 0 ]] || die "must run as root"

if [[ $CLEAN -eq 1 ]]; then
  rm -rf "${OUT_DIR:?}/$SUITE" "${OUT_DIR:?}/$SUITE"-*
  exit 0
fi

if [[ -z ${DOCKER_HOST:-} ]]; then eval "$("$REPO/sandbox/engine.sh" env)"; fi
export DOCKER_HOST
IMAGE=labgen/labbox:$SUITE
IMAGE_ID=$(docker image inspect -f '{{.Id}}' "$IMAGE" 2>/dev/null) ||
  die "$IMAGE is not built: run sandbox/images.sh labbox $SUITE"
KEY=$({ echo "$IMAGE_ID ${VM_PACKAGES[*]} $DISK_SIZE"; declare -f build; cat "$REPO"/templates/labvm/*; } |
  sha256sum | cut -c1-16)
TARGET=$OUT_DIR/$SUITE-$KEY

WORK=""
cleanup() {
  set +e
  local m
  if [[ -n $WORK ]]; then
    for m in dev/pts dev sys proc; do
      mountpoint -q "$WORK/root/$m" && umount -l "$WORK/root/$m"
    done
    docker rm -f "labgen-labvm-export-$$" >/dev/null 2>&1
    rm -rf "$WORK"
  fi
}

build() {
  local t0=$SECONDS root
  WORK=$(mktemp -d /var/tmp/labgen-labvm-build.XXXXXX)
  trap cleanup EXIT
  root=$WORK/root
  mkdir -p "$root"
  log "exporting $IMAGE"
  docker create --name "labgen-labvm-export-$$" "$IMAGE" >/dev/null
  docker export "labgen-labvm-export-$$" | tar -C "$root" --numeric-owner -xf -
  docker rm "labgen-labvm-export-$$" >/dev/null

  # The initrd finds the root file system on a virtio disk and nothing else.
  mkdir -p "$root/etc/initramfs-tools/conf.d"
  echo MODULES=list >"$root/etc/initramfs-tools/conf.d/labvm.conf"
  printf '%s\n' virtio_pci virtio_blk ext4 virtio_net >>"$root/etc/initramfs-tools/modules"
  for m in proc sys dev dev/pts; do mount --bind "/$m" "$root/$m"; done
  cp /etc/resolv.conf "$root/etc/resolv.conf"
  printf 'deb %s %s main\n' "$MIRROR" "$BOX_DEBIAN" >"$root/etc/apt/sources.list"
  printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
  chmod +x "$root/usr/sbin/policy-rc.d"
  log "apt-get install in chroot: ${VM_PACKAGES[*]}"
  chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
    sh -c "apt-get update -qq && apt-get install -y -q --no-install-recommends ${VM_PACKAGES[*]} && apt-get clean" \
    >"$WORK/apt.log" 2>&1 || { tail -30 "$WORK/apt.log" >&2; die "chroot apt-get failed"; }
  for m in dev/pts dev sys proc; do umount "$root/$m"; done
  rm -rf "$root"/var/lib/apt/lists/* "$root/usr/sbin/policy-rc.d"
  : >"$root/etc/resolv.conf"
  rm -f "$root/etc/ssh/ssh_host_"*

  mkdir -p "$WORK/out"
  cp "$root"/boot/vmlinuz-* "$WORK/out/vmlinuz"
  cp "$root"/boot/initrd.img-* "$WORK/out/initrd.img"
  rm -rf "${root:?}"/boot/*
  install -m 0755 "$REPO/templates/labvm/init" "$root/usr/local/sbin/labvm-init"
  install -m 0755 "$REPO/templates/labvm/ssh-keygen" "$root/usr/local/sbin/ssh-keygen"
  printf 'HostKey /etc/ssh/ssh_host_ed25519_key\nUseDNS no\n' >"$root/etc/ssh/sshd_config.d/labvm.conf"
  # The box's engine data root (node image loaded) unpacked here once, instead of in
  # every VM at its first boot: the overlays share it.
  if [[ -f $root/opt/labbox/docker-seed.tar ]]; then
    mkdir -p "$root/var/lib/docker"
    tar -C "$root/var/lib/docker" --xattrs --numeric-owner -xf "$root/opt/labbox/docker-seed.tar"
    touch "$root/var/lib/docker/.labbox-seeded"
    rm -f "$root/opt/labbox/docker-seed.tar"
  fi
  log "ext4 image ($DISK_SIZE, sparse) from the tree"
  mkfs.ext4 -q -L labvm -d "$root" "$WORK/disk.raw" "$DISK_SIZE"
  qemu-img convert -O qcow2 "$WORK/disk.raw" "$WORK/out/disk.qcow2"
  echo "$KEY" >"$WORK/out/key"
  mkdir -p "$OUT_DIR"
  rm -rf "$TARGET"
  mv "$WORK/out" "$TARGET"
  ln -sfn "$SUITE-$KEY" "$OUT_DIR/$SUITE.tmp"
  mv -T "$OUT_DIR/$SUITE.tmp" "$OUT_DIR/$SUITE"
  log "built $TARGET ($(du -sh "$TARGET" | cut -f1)) in $((SECONDS - t0)) s"
}

if [[ $FORCE -eq 0 && -f $TARGET/key ]]; then
  log "$TARGET present"
  ln -sfn "$SUITE-$KEY" "$OUT_DIR/$SUITE"
  exit 0
fi
build
