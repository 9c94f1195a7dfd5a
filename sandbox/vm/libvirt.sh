#!/usr/bin/env bash
# Offline libvirt host for the labgen two-VM lab (no systemd on this machine).
#   deps    install the Debian packages that are missing (non-interactive)
#   up      start virtlogd + libvirtd by hand (pidfiles in /run/labgen-vm/),
#           define + start the isolated networks labgen-mgmt and labgen-lab
#   down    destroy/undefine the lab's VMs, their volumes, the two networks,
#           then stop libvirtd and virtlogd by recorded PID
#   status  show daemons, networks, domains, volumes
# It manages only a libvirtd it started itself (refusing to use another one), and
# removes only domains and volumes that were not there when `up` first ran.
# Env: LABGEN_VM_PREFIX (domain-name prefix of the lab's VMs, default "labgen"),
#      LABGEN_VM_POOL (storage pool vagrant-libvirt uses, default "default").
set -euo pipefail

# shellcheck source=sandbox/vm/pids.sh
source "$(dirname "${BASH_SOURCE[0]}")/pids.sh"

RUN_DIR=/run/labgen-vm
STATE_DIR=/var/lib/labgen-vm
URI=qemu:///system
PREFIX=${LABGEN_VM_PREFIX:-labgen}
POOL=${LABGEN_VM_POOL:-default}
POOL_DIR=/var/lib/libvirt/images
MGMT_NET=labgen-mgmt
LAB_NET=labgen-lab
MGMT_BRIDGE=labgen-mgmt0
LAB_BRIDGE=labgen-lab0

PACKAGES=(vagrant vagrant-libvirt libvirt-daemon-system libvirt-clients
  qemu-system-x86 qemu-utils debootstrap dnsmasq-base iptables
  grub-pc-bin grub2-common dosfstools parted fdisk e2fsprogs util-linux
  skopeo docker-registry rsync)

log() { printf '[libvirt.sh] %s\n' "$*" >&2; }
virsh_() { virsh -q -c "$URI" "$@"; }

need_root() {
  if [[ $(id -u) -ne 0 ]]; then log "must run as root"; exit 1; fi
}

cmd_deps() {
  need_root
  local missing=() p
  for p in "${PACKAGES[@]}"; do
    if [[ $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true) != "install ok installed" ]]; then
      missing+=("$p")
    fi
  done
  if ((${#missing[@]} == 0)); then
    log "all packages present"
    return 0
  fi
  log "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # policy-rc.d keeps the packages' postinst from trying to start daemons.
  local prc=/usr/sbin/policy-rc.d made_prc=0
  if [[ ! -e $prc ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$prc"; chmod +x "$prc"; made_prc=1
  fi
  apt-get update -qq
  apt-get install -y -q --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
    "${missing[@]}" || { ((made_prc)) && rm -f "$prc"; exit 1; }
  ((made_prc)) && rm -f "$prc"
  return 0
}

our_libvirtd() { pidfile_is "$RUN_DIR/libvirtd.pid" libvirtd; }

QEMU_CONF=/etc/libvirt/qemu.conf
CONF_BEGIN="# >>> labgen-vm (sandbox/vm/libvirt.sh) >>>"
CONF_END="# <<< labgen-vm <<<"

# Trap on this machine: /dev/kvm belongs to a group the libvirt-qemu user is not
# in. libvirt then probes QEMU with KVM but finds KVM "not available now" on every
# later lookup, discards its capability cache and re-probes QEMU (~3.5 s) on
# nearly every API call: `vagrant up` spends minutes in "Creating domain".
# Running QEMU as root makes both checks agree. Guests still use TCG (driver qemu).
qemu_conf_fix() {
  qemu_conf_unfix
  if [[ -e /dev/kvm ]] && ! runuser -u libvirt-qemu -- test -r /dev/kvm -a -w /dev/kvm 2>/dev/null; then
    log "/dev/kvm not usable by libvirt-qemu: running QEMU as root (marked block in $QEMU_CONF)"
    printf '%s\nuser = "root"\ngroup = "root"\n%s\n' "$CONF_BEGIN" "$CONF_END" >>"$QEMU_CONF"
  fi
}

qemu_conf_unfix() {
  if grep -qF "$CONF_BEGIN" "$QEMU_CONF" 2>/dev/null; then
    sed -i "\|^$CONF_BEGIN\$|,\|^$CONF_END\$|d" "$QEMU_CONF"
  fi
}

start_daemons() {
  # A libvirtd not started by us is someone else's: `down` would remove networks,
  # domains and volumes from it and stop nothing of ours. Refuse rather than adopt it.
  if ! our_libvirtd && virsh -c "$URI" version >/dev/null 2>&1; then
    log "a libvirtd not started by this script answers on $URI; stop it, or run the lab on it without this script"
    exit 1
  fi
  mkdir -p "$RUN_DIR"
  if ! our_libvirtd; then qemu_conf_fix; fi
  if ! pidfile_is "$RUN_DIR/virtlogd.pid" virtlogd; then
    log "starting virtlogd"
    virtlogd -d -p "$RUN_DIR/virtlogd.pid"
  fi
  if ! our_libvirtd; then
    log "starting libvirtd"
    libvirtd -d -p "$RUN_DIR/libvirtd.pid"
  fi
  local i
  for ((i = 0; i < 150; i++)); do
    if virsh -c "$URI" list >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  log "libvirtd did not answer on $URI within 30 s"
  exit 1
}

# DHCP networks hand out leases without dnsmasq's ping check first: it held every
# guest's DHCPOFFER back 3 s, at boot, on a network where only our VMs live.
NO_PING="<dnsmasq:options><dnsmasq:option value='no-ping'/></dnsmasq:options>"

net_xml() { # name bridge ip dhcp(0/1) dhcp_start dhcp_end
  local dhcp="" options=""
  if [[ $4 == 1 ]]; then
    dhcp="<dhcp><range start='$5' end='$6'/></dhcp>"
    options=$NO_PING
  fi
  cat <<XML
<network xmlns:dnsmasq='http://libvirt.org/schemas/network/dnsmasq/1.0'>
  <name>$1</name>
  <bridge name='$2' stp='on' delay='0'/>
  <dns enable='no'/>
  <ip address='$3' netmask='255.255.255.0'>$dhcp</ip>
  $options
</network>
XML
}

ensure_net() { # name bridge ip dhcp start end
  local name=$1 tmp
  if virsh_ net-info "$name" >/dev/null 2>&1; then
    # Recreate if the definition grew a <forward> (e.g. someone else's) — never keep NAT;
    # and one defined before DHCP networks had no-ping.
    local xml
    xml=$(virsh_ net-dumpxml "$name")
    if [[ $xml == *"<forward"* || ($4 == 1 && $xml != *"no-ping"*) ]]; then
      log "network $name has <forward> or lacks no-ping; recreating it"
      virsh_ net-destroy "$name" >/dev/null 2>&1 || true
      virsh_ net-undefine "$name" >/dev/null
    fi
  fi
  if ! virsh_ net-info "$name" >/dev/null 2>&1; then
    tmp=$(mktemp)
    net_xml "$@" >"$tmp"
    virsh_ net-define "$tmp" >/dev/null
    rm -f "$tmp"
    log "defined network $name"
  fi
  # (no `virsh | grep -q` under pipefail: grep exits early, virsh gets SIGPIPE)
  local info
  info=$(virsh_ net-info "$name" 2>/dev/null || true)
  if ! grep -Eq '^Active:[[:space:]]+yes' <<<"$info"; then
    virsh_ net-start "$name" >/dev/null
    log "started network $name"
  fi
}

ensure_pool() {
  if ! virsh_ pool-info "$POOL" >/dev/null 2>&1; then
    mkdir -p "$POOL_DIR"
    virsh_ pool-define-as "$POOL" dir --target "$POOL_DIR" >/dev/null
    mkdir -p "$STATE_DIR"; : >"$STATE_DIR/pool-defined-by-us"
    log "defined pool $POOL ($POOL_DIR)"
  fi
  local info
  info=$(virsh_ pool-info "$POOL" 2>/dev/null || true)
  if ! grep -Eq '^State:[[:space:]]+running' <<<"$info"; then
    virsh_ pool-start "$POOL" >/dev/null
  fi
}

cmd_up() {
  need_root
  start_daemons
  # The distro "default" NAT network must not run: make sure we never start it.
  if virsh_ net-info default >/dev/null 2>&1; then
    virsh_ net-autostart default --disable >/dev/null 2>&1 || true
  fi
  ensure_net "$MGMT_NET" "$MGMT_BRIDGE" 192.168.57.1 1 192.168.57.10 192.168.57.250
  ensure_net "$LAB_NET" "$LAB_BRIDGE" 192.168.56.1 0
  ensure_pool
  record_found
  log "up: $(virsh_ net-list --name | tr '\n' ' ')"
}

# What libvirt held before this script's first `up` (kept until `down` finishes, so
# that a second or interrupted `up` does not adopt leftovers of its own run): `down`
# removes only lab domains and volumes not listed here.
FOUND_DOMAINS=$STATE_DIR/found-domains
FOUND_VOLUMES=$STATE_DIR/found-volumes

record_found() {
  [[ -e $FOUND_DOMAINS && -e $FOUND_VOLUMES ]] && return 0
  mkdir -p "$STATE_DIR"
  virsh_ pool-refresh "$POOL" >/dev/null 2>&1 || true
  virsh_ list --all --name | sed '/^$/d' >"$FOUND_DOMAINS.tmp"
  pool_volumes >"$FOUND_VOLUMES.tmp"
  mv "$FOUND_DOMAINS.tmp" "$FOUND_DOMAINS"
  mv "$FOUND_VOLUMES.tmp" "$FOUND_VOLUMES"
}

pool_volumes() { virsh_ vol-list "$POOL" 2>/dev/null | awk 'NF {print $1}'; }

# not_found FILE: the lines of stdin that FILE does not list (none without FILE)
not_found() {
  if [[ -e $1 ]]; then grep -vxF -f "$1" || true; else cat >/dev/null; fi
}

# libvirtd leaves its (then empty) LIBVIRT_* chains and the jumps to them behind.
# Remove them once no libvirtd runs, and only when they are empty.
cleanup_firewall() {
  local ipt spec table parent chain rules
  for ipt in iptables ip6tables; do
    command -v "$ipt" >/dev/null || continue
    for spec in filter:INPUT:LIBVIRT_INP filter:FORWARD:LIBVIRT_FWX filter:FORWARD:LIBVIRT_FWI \
      filter:FORWARD:LIBVIRT_FWO filter:OUTPUT:LIBVIRT_OUT nat:POSTROUTING:LIBVIRT_PRT \
      mangle:POSTROUTING:LIBVIRT_PRT; do
      IFS=: read -r table parent chain <<<"$spec"
      rules=$("$ipt" -w -t "$table" -S "$chain" 2>/dev/null) || continue
      [[ $rules == "-N $chain" ]] || continue
      while "$ipt" -w -t "$table" -D "$parent" -j "$chain" 2>/dev/null; do :; done
      "$ipt" -w -t "$table" -X "$chain" 2>/dev/null || true
    done
  done
}

lab_domains() {
  virsh_ list --all --name 2>/dev/null | grep -E "^${PREFIX}" | not_found "$FOUND_DOMAINS" || true
}

cmd_down() {
  need_root
  if [[ ! -e $FOUND_DOMAINS || ! -e $FOUND_VOLUMES ]] && our_libvirtd; then
    log "no record of what libvirt held before 'up' ($STATE_DIR): removing no domain or volume"
  fi
  if our_libvirtd; then
    local d v
    while read -r d; do
      [[ -n $d ]] || continue
      log "removing domain $d"
      virsh_ destroy "$d" >/dev/null 2>&1 || true
      virsh_ undefine "$d" --nvram >/dev/null 2>&1 || virsh_ undefine "$d" >/dev/null 2>&1 || true
    done < <(lab_domains)
    if virsh_ pool-info "$POOL" >/dev/null 2>&1; then
      virsh_ pool-refresh "$POOL" >/dev/null 2>&1 || true
      # vagrant-libvirt names disks <domain>.img and uploads boxes as <box>_vagrant_box_image_*.img
      while read -r v; do
        [[ -n $v ]] || continue
        log "deleting volume $v"
        virsh_ vol-delete --pool "$POOL" "$v" >/dev/null 2>&1 || true
      done < <(pool_volumes |
        grep -E "^(${PREFIX}.*|debian-VAGRANTSLASH-(bookworm|trixie)64_vagrant_box_image_.*)" |
        not_found "$FOUND_VOLUMES" || true)
    fi
    if [[ -e $STATE_DIR/pool-defined-by-us ]]; then
      virsh_ pool-destroy "$POOL" >/dev/null 2>&1 || true
      virsh_ pool-undefine "$POOL" >/dev/null 2>&1 || true
      rm -f "$STATE_DIR/pool-defined-by-us"
    fi
    for n in "$MGMT_NET" "$LAB_NET"; do
      if virsh_ net-info "$n" >/dev/null 2>&1; then
        log "removing network $n"
        virsh_ net-destroy "$n" >/dev/null 2>&1 || true
        virsh_ net-undefine "$n" >/dev/null 2>&1 || true
      fi
    done
    rm -f "$FOUND_DOMAINS" "$FOUND_VOLUMES"
  elif virsh -c "$URI" version >/dev/null 2>&1; then
    log "the libvirtd on $URI was not started by this script: its domains, volumes and networks are left alone"
  fi
  stop_pidfile "$RUN_DIR/libvirtd.pid" libvirtd
  stop_pidfile "$RUN_DIR/virtlogd.pid" virtlogd
  qemu_conf_unfix
  if ! virsh -c "$URI" version >/dev/null 2>&1; then cleanup_firewall; fi
  # Bridges are removed with their networks; drop leftovers of a crashed libvirtd by name.
  local b
  for b in "$MGMT_BRIDGE" "$LAB_BRIDGE"; do
    if ip link show "$b" >/dev/null 2>&1; then
      log "deleting leftover bridge $b"
      ip link delete "$b" || true
    fi
  done
  rmdir "$RUN_DIR" 2>/dev/null || true
  log "down"
}

cmd_status() {
  local pf
  for pf in virtlogd libvirtd; do
    if pidfile_is "$RUN_DIR/$pf.pid" "$pf"; then
      echo "$pf: running (pid $(read_pid "$RUN_DIR/$pf.pid"))"
    else
      echo "$pf: stopped"
    fi
  done
  if virsh -c "$URI" version >/dev/null 2>&1; then
    echo "networks:"; virsh_ net-list --all | sed 's/^/  /'
    echo "domains:"; virsh_ list --all | sed 's/^/  /'
    echo "volumes ($POOL):"; virsh_ vol-list "$POOL" 2>/dev/null | sed 's/^/  /' || true
  fi
  echo "routes 192.168.56/57:"; ip route | grep -E '^192\.168\.5[67]\.' | sed 's/^/  /' || true
}

# Sourced (by the tests), it only defines the functions.
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  case ${1:-} in
    deps) cmd_deps ;;
    up) cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
    *) echo "usage: $0 deps|up|down|status" >&2; exit 2 ;;
  esac
fi
