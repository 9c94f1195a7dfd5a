#!/usr/bin/env bash
# Build a Debian 12 (bookworm) or 13 (trixie) Vagrant box for the libvirt provider,
# offline (only Debian's apt mirror is used), and register it as debian/SUITE64 in
# $VAGRANT_HOME (the name Debian's own boxes have, so rendered Vagrantfiles work as is).
#   box.sh            build (unless cached) and register (unless registered)
#   box.sh --force    rebuild the .box and re-register it
#   box.sh clean      remove the box from VAGRANT_HOME, the libvirt base volume and the cache
# Env: VAGRANT_HOME (default /var/lib/labgen-vm/vagrant.d)
#      LABGEN_BOX_SUITE (trixie, the default os's, or bookworm)
#      LABGEN_BOX_NAME (default debian/SUITE64)
#      LABGEN_DEBIAN_MIRROR (default http://deb.debian.org/debian)
set -euo pipefail

export VAGRANT_HOME=${VAGRANT_HOME:-/var/lib/labgen-vm/vagrant.d}
SUITE=${LABGEN_BOX_SUITE:-trixie}
BOX_NAME=${LABGEN_BOX_NAME:-debian/${SUITE}64}
MIRROR=${LABGEN_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SEC_MIRROR=${LABGEN_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
CACHE_DIR=/var/cache/labgen
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
WORK=/var/tmp/labgen-box-build-$SUITE
DISK_GB=20

# Uncompressed tar: gzip of the image costs ~50 s and saves only disk space in the cache.
# Packages inside the guest. docker.io & co. are preinstalled: guests have no internet.
GUEST_PACKAGES=(linux-image-amd64 grub-pc openssh-server sudo ifupdown isc-dhcp-client
  iproute2 apparmor docker.io curl jq ca-certificates rsync iputils-ping procps
  less netbase udev dbus kmod e2fsprogs initramfs-tools)
case $SUITE in
  bookworm) ;;
  # trixie's docker.io has no client (it only recommends docker-cli); podman's netavark
  # needs nft to run containers (engines-here.md); rootless podman, as the vagrant user
  # runs it, needs newuidmap (uidmap: a Recommends, installed by default elsewhere).
  trixie) GUEST_PACKAGES+=(docker-cli podman nftables uidmap) ;;
  *) echo "box.sh: LABGEN_BOX_SUITE=$SUITE is not supported; use bookworm or trixie" >&2; exit 2 ;;
esac

log() { printf '[box.sh] %s %s\n' "$(date +%T)" "$*" >&2; }

# disable_absent_profiles ROOT: link into ROOT/etc/apparmor.d/disable/ every profile
# attached to a plain path (no pattern, variable or quotes) that ROOT lacks, and the two
# without attachment that serve tools ROOT lacks (lsb_release, nvidia-modprobe).
disable_absent_profiles() {
  local root=$1 file name program
  for file in "$root"/etc/apparmor.d/*; do
    [[ -f $file ]] || continue
    name=${file##*/}
    if [[ $name != lsb_release && $name != nvidia_modprobe ]]; then
      program=$(sed -n -E 's|^[[:space:]]*profile[[:space:]]+[^[:space:]]+[[:space:]]+(/[^[:space:]]*)[[:space:]].*|\1|p' "$file" | head -n1)
      [[ -n $program && $program != *[{}@*\"]* ]] || continue
      [[ -e $root$program ]] && continue
    fi
    ln -sf "/etc/apparmor.d/$name" "$root/etc/apparmor.d/disable/$name"
  done
}

box_listed() {
  vagrant box list --machine-readable 2>/dev/null |
    awk -F, -v n="$BOX_NAME" '$3=="box-name" && $4==n {f=1} END {exit !f}'
}

# Registered, and from this recipe.
box_registered() {
  [[ $(cat "$REGISTERED_KEY_FILE" 2>/dev/null) == "$RECIPE_KEY" ]] && box_listed
}

LOOP=""
cleanup() {
  set +e
  local m
  for m in dev/pts dev proc sys run; do
    mountpoint -q "$WORK/root/$m" && umount -l "$WORK/root/$m"
  done
  mountpoint -q "$WORK/root" && umount "$WORK/root"
  if [[ -n $LOOP ]]; then
    partx -d "$LOOP" >/dev/null 2>&1
    losetup -d "$LOOP"
  fi
}

# Leftovers of an interrupted earlier run (mounts, loop devices on our image).
clean_leftovers() {
  local m l
  for m in dev/pts dev proc sys run; do
    if mountpoint -q "$WORK/root/$m"; then umount -l "$WORK/root/$m"; fi
  done
  if mountpoint -q "$WORK/root"; then umount "$WORK/root"; fi
  while read -r l; do
    [[ -n $l ]] || continue
    log "detaching leftover loop device $l"
    partx -d "$l" >/dev/null 2>&1 || true
    losetup -d "$l" || true
  done < <(losetup -j "$WORK/disk.raw" 2>/dev/null | cut -d: -f1)
  rm -rf "$WORK"
}

vagrant_pubkey() {
  local k
  for k in /usr/share/rubygems-integration/all/gems/vagrant-*/keys/vagrant.pub \
    /usr/lib/ruby/vendor_ruby/vagrant/keys/vagrant.pub /opt/vagrant/embedded/gems/gems/vagrant-*/keys/vagrant.pub; do
    if [[ -f $k ]]; then cat "$k"; return 0; fi
  done
  log "Vagrant's insecure public key (keys/vagrant.pub) not found"
  return 1
}

in_chroot() { chroot "$WORK/root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
  DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 "$@"; }

build_box() {
  local t0=$SECONDS root=$WORK/root
  clean_leftovers
  mkdir -p "$WORK" "$CACHE_DIR"
  trap cleanup EXIT

  log "debootstrap $SUITE (minbase)"
  debootstrap --variant=minbase --include=ca-certificates,ifupdown,isc-dhcp-client,systemd-sysv \
    "$SUITE" "$WORK/debootstrap" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 ||
    { tail -30 "$WORK/debootstrap.log" >&2; exit 1; }
  log "debootstrap done ($((SECONDS - t0)) s)"

  log "disk: ${DISK_GB}G sparse raw, MBR, ext4"
  truncate -s "${DISK_GB}G" "$WORK/disk.raw"
  parted -s "$WORK/disk.raw" mklabel msdos mkpart primary ext4 1MiB 100% set 1 boot on
  LOOP=$(losetup --show -f -P "$WORK/disk.raw")
  # Trap here: losetup -P creates no partition node on this machine; partx -a does.
  [[ -b ${LOOP}p1 ]] || partx -a "$LOOP"
  local i
  for ((i = 0; i < 50; i++)); do [[ -b ${LOOP}p1 ]] && break; sleep 0.1; done
  mkfs.ext4 -q -L rootfs "${LOOP}p1"
  local uuid
  uuid=$(blkid -s UUID -o value "${LOOP}p1")
  mkdir -p "$root"
  mount "${LOOP}p1" "$root"
  cp -a "$WORK/debootstrap/." "$root/"
  rm -rf "$WORK/debootstrap"

  for m in dev dev/pts proc sys run; do mount --bind "/$m" "$root/$m"; done
  printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
  chmod +x "$root/usr/sbin/policy-rc.d"
  cat >"$root/etc/apt/sources.list" <<SRC
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb $SEC_MIRROR $SUITE-security main
SRC
  echo "UUID=$uuid / ext4 errors=remount-ro 0 1" >"$root/etc/fstab"
  echo localhost >"$root/etc/hostname"
  printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"
  cat >"$root/etc/default/grub" <<'GRUB'
GRUB_DEFAULT=0
GRUB_TIMEOUT=0
GRUB_DISTRIBUTOR=Debian
GRUB_CMDLINE_LINUX_DEFAULT=""
GRUB_CMDLINE_LINUX="net.ifnames=0 biosdevname=0 console=tty0 console=ttyS0,115200n8 quiet"
GRUB_TERMINAL="console serial"
GRUB_SERIAL_COMMAND="serial --speed=115200"
GRUB
  # A small initrd: just what finds the root file system on a virtio disk (grub reads the
  # initrd through the emulated BIOS, and the guest unpacks it under TCG).
  mkdir -p "$root/etc/initramfs-tools/conf.d"
  echo MODULES=list >"$root/etc/initramfs-tools/conf.d/labgen-box.conf"
  # virtio_net too: eth0 then exists when systemd starts, and networking (DHCP, then sshd)
  # need not wait ~12 s for udev's coldplug to load it.
  printf '%s\n' virtio_pci virtio_blk virtio_scsi ext4 virtio_net >>"$root/etc/initramfs-tools/modules"
  # Drivers for emulated hardware a lab VM does not use (mouse, floppy, sound, graphics,
  # USB, IDE, VMware sockets; KVM inside the guest): udev spent seconds loading them at
  # each boot, and the root file system's device waits in the same queue.
  mkdir -p "$root/etc/modprobe.d"
  printf 'blacklist %s\n' floppy psmouse pcspkr serio_raw kvm kvm_amd kvm_intel ccp \
    cirrus bochs vga16fb drm drm_kms_helper i2c_piix4 vmw_vmci vmw_vsock_vmci_transport \
    vsock_loopback virtio_balloon qemu_fw_cfg uhci_hcd ehci_pci ehci_hcd ata_piix \
    ata_generic evdev >"$root/etc/modprobe.d/labgen-box.conf"
  # Keep grub-pc's postinst from asking for an install device.
  echo "grub-pc grub-pc/install_devices_empty boolean true" | in_chroot debconf-set-selections

  log "apt-get install in chroot: ${GUEST_PACKAGES[*]}"
  in_chroot apt-get update -qq
  in_chroot apt-get install -y -q --no-install-recommends "${GUEST_PACKAGES[@]}" \
    >"$WORK/apt.log" 2>&1 || { tail -30 "$WORK/apt.log" >&2; exit 1; }
  log "packages done ($((SECONDS - t0)) s)"

  # Network: eth0 on DHCP (management); vagrant adds eth1 (static) between VAGRANT-BEGIN/END.
  cat >"$root/etc/network/interfaces" <<'NET'
source /etc/network/interfaces.d/*

auto lo
iface lo inet loopback

auto eth0
iface eth0 inet dhcp
NET

  # vagrant user: NOPASSWD sudo + insecure key (config.ssh.insert_key=false keeps it).
  in_chroot useradd -m -s /bin/bash -G sudo vagrant
  echo 'vagrant:vagrant' | in_chroot chpasswd
  echo 'vagrant ALL=(ALL) NOPASSWD:ALL' >"$root/etc/sudoers.d/vagrant"
  chmod 0440 "$root/etc/sudoers.d/vagrant"
  install -d -m 0700 -o 1000 -g 1000 "$root/home/vagrant/.ssh"
  vagrant_pubkey >"$root/home/vagrant/.ssh/authorized_keys"
  chown 1000:1000 "$root/home/vagrant/.ssh/authorized_keys"
  chmod 0600 "$root/home/vagrant/.ssh/authorized_keys"
  in_chroot usermod -aG docker vagrant
  printf 'UseDNS no\n' >"$root/etc/ssh/sshd_config.d/vagrant.conf"

  # Per-VM SSH host keys: generated at first boot, not baked into the box. Ed25519 and
  # ECDSA only: a 3072-bit RSA key took ~13 s at first boot under TCG.
  rm -f "$root"/etc/ssh/ssh_host_*
  printf 'HostKey /etc/ssh/ssh_host_ed25519_key\nHostKey /etc/ssh/ssh_host_ecdsa_key\n' \
    >"$root/etc/ssh/sshd_config.d/labgen-hostkeys.conf"
  cat >"$root/etc/systemd/system/ssh-hostkeys.service" <<'UNIT'
[Unit]
Description=Generate SSH host keys if missing
Before=ssh.service
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -q -t ed25519 -N "" -f /etc/ssh/ssh_host_ed25519_key
ExecStart=/usr/bin/ssh-keygen -q -t ecdsa -N "" -f /etc/ssh/ssh_host_ecdsa_key

[Install]
WantedBy=multi-user.target
UNIT
  ln -sf /etc/systemd/system/ssh-hostkeys.service \
    "$root/etc/systemd/system/multi-user.target.wants/ssh-hostkeys.service"
  # Docker off at boot: provisioning writes the lab's daemon.json, then starts it once
  # (and enables it); started at boot it cost ~16 s of CPU, then a restart for daemon.json.
  in_chroot systemctl disable docker.service docker.socket containerd.service >>"$WORK/apt.log" 2>&1
  # Boot time under TCG (systemd-analyze blame in a guest). No network beyond the lab: no
  # periodic apt jobs; no other periodic jobs or boot-time scrubs a throwaway VM needs.
  rm -f "$root"/etc/systemd/system/timers.target.wants/*.timer \
    "$root"/etc/systemd/system/*.wants/{e2scrub_reap,systemd-pstore}.service
  # ifupdown-pre waited for `udevadm settle` (~14 s); networking needs only eth0 to exist.
  mkdir -p "$root/etc/systemd/system/ifupdown-pre.service.d"
  cat >"$root/etc/systemd/system/ifupdown-pre.service.d/labgen-box.conf" <<'UNIT'
[Service]
ExecStart=
ExecStart=/usr/bin/timeout 180 /bin/sh -c 'until [ -e /sys/class/net/eth0 ]; do sleep 0.1; done'
UNIT
  # apparmor.service compiles every profile at each VM's first boot: 104 profiles took
  # 15.7 s, on the way to sshd. Disable (AppArmor's own way, a link in disable/) those
  # whose program the box does not have; keep those whose attachment is a pattern, and
  # Docker's, which dockerd loads itself.
  disable_absent_profiles "$root"
  : >"$root/etc/machine-id"

  log "grub"
  in_chroot grub-install --target=i386-pc --modules="part_msdos ext2" "$LOOP" >"$WORK/grub.log" 2>&1 ||
    { cat "$WORK/grub.log" >&2; exit 1; }
  in_chroot update-grub >>"$WORK/grub.log" 2>&1
  # grub-mkconfig inside a chroot on a loop device can fall back to the device path.
  sed -i "s#root=/dev/loop[0-9]*p1#root=UUID=$uuid#g" "$root/boot/grub/grub.cfg"
  grep -q "root=UUID=$uuid" "$root/boot/grub/grub.cfg" || { log "grub.cfg has no root=UUID"; exit 1; }

  in_chroot apt-get clean
  rm -rf "$root"/var/lib/apt/lists/* "$root/usr/sbin/policy-rc.d"
  # Free blocks (deleted .debs, the copied debootstrap tree) -> holes, so the qcow2 stays small.
  fstrim "$root" || log "fstrim failed; box will be larger"
  cleanup
  LOOP=""
  trap - EXIT

  log "qcow2 + box"
  qemu-img convert -O qcow2 "$WORK/disk.raw" "$WORK/box.img"
  rm -f "$WORK/disk.raw"
  printf '{"provider":"libvirt","format":"qcow2","virtual_size":%d}\n' "$DISK_GB" >"$WORK/metadata.json"
  cat >"$WORK/Vagrantfile" <<'VF'
Vagrant.configure("2") do |config|
  config.vm.provider :libvirt do |libvirt|
    libvirt.disk_bus = "virtio"
  end
end
VF
  tar -C "$WORK" -cf "$BOX_FILE.tmp" metadata.json Vagrantfile box.img
  mv "$BOX_FILE.tmp" "$BOX_FILE"
  rm -rf "$WORK"
  log "built $BOX_FILE ($(du -h "$BOX_FILE" | cut -f1)) in $((SECONDS - t0)) s"
}

register_box() {
  mkdir -p "$VAGRANT_HOME"
  if [[ -f $HERE/Vagrantfile.home ]]; then
    cp "$HERE/Vagrantfile.home" "$VAGRANT_HOME/Vagrantfile"
  fi
  log "vagrant box add --name $BOX_NAME --provider libvirt"
  vagrant box add --force --name "$BOX_NAME" --provider libvirt "$BOX_FILE" >&2
  echo "$RECIPE_KEY" >"$REGISTERED_KEY_FILE"
}

cmd_clean() {
  if box_listed; then vagrant box remove --force --all "$BOX_NAME" >&2 || true; fi
  clean_leftovers
  rm -f "$BOX_FILE" "$BOX_FILE.tmp" "$REGISTERED_KEY_FILE"
}

# The cached box is keyed by its recipe (the build's code and package list): a changed
# recipe builds (and registers) a new box.
RECIPE_KEY=$({ declare -f build_box in_chroot vagrant_pubkey cleanup disable_absent_profiles; echo "${GUEST_PACKAGES[*]}"; } |
  sha256sum | cut -c1-16)
BOX_FILE=$CACHE_DIR/labgen-debian-${SUITE}64-libvirt-$RECIPE_KEY.box
# Which recipe the registered box came from.
REGISTERED_KEY_FILE=$VAGRANT_HOME/labgen-box-${BOX_NAME//\//-}.key

if [[ $(id -u) -ne 0 ]]; then log "must run as root"; exit 1; fi
case ${1:-} in
  clean) cmd_clean; exit 0 ;;
  --force) rm -f "$BOX_FILE" ;;
  "") ;;
  *) echo "usage: $0 [--force|clean]" >&2; exit 2 ;;
esac

if [[ ${1:-} != --force ]] && box_registered; then
  log "box $BOX_NAME (recipe $RECIPE_KEY) already registered in $VAGRANT_HOME; nothing to do"
  exit 0
fi
[[ -f $BOX_FILE ]] || build_box
register_box
