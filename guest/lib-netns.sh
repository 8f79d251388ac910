# shellcheck shell=bash
# guest/lib-netns.sh: shared by guest/test-boot and bench/compute/floor (sourced, bash).
#
# A throwaway network namespace with a bridge, a "host" veth, dnsmasq and one tap
# per guest, the host tools a boot needs, instance data for a config drive, and
# cleanup of everything by PID. Callers set, before using it:
#   NS     namespace name (must start with nimbus-)
#   WORK   work directory (dnsmasq leases and log go there)
#   PIDS   array: every process started (the lib appends dnsmasq; callers append theirs)
#   KEEP   1 keeps WORK on exit (it is always kept on failure)
#   log    a function printing a line on stderr
# and call `trap nimbus_cleanup EXIT; trap 'exit 130' INT TERM`.
#
# Namespace layout (nimbus_netns_up): bridge nimbus-br0; veth nimbus-host
# (10.99.0.1/24 and 169.254.169.254/32, the "host side") <-> nimbus-hostbr in
# the bridge; dnsmasq on nimbus-host serving DHCP 10.99.0.100-199 with a router
# and an option-121 route to 169.254.169.254; taps added by nimbus_tap_add.

# nsx CMD...: run CMD in the namespace
nsx() { ip netns exec "$NS" "$@"; }
# nsx_bg CMD...: start CMD in the namespace in the background; $! is CMD's own
# PID (ip netns exec execs it), so it can be stopped by PID
nsx_bg() { ip netns exec "$NS" "$@" & }

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
# median of the numbers on stdin, one a line ("-" when there are none)
median() { sort -n | awk '{ a[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print a[(NR + 1) / 2]; else printf "%.2f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

# nimbus_ensure_tools: install the Debian packages a boot test needs: what
# servers need (scripts/lib/common.sh ensure_vm_deps: QEMU from the right suite,
# qemu-img, genisoimage, dnsmasq, iproute2, ssh) plus jq. In a subshell, so that
# common.sh's log/die do not replace the caller's.
nimbus_ensure_tools() {
    (
        # shellcheck source=scripts/lib/common.sh
        . "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib/common.sh"
        ensure_vm_deps
        ensure_apt_packages jq
    )
}

# nimbus_cleanup: the EXIT trap. Stops every process in PIDS by PID (TERM, then
# KILL after 5 s), deletes the namespace (and with it its links), removes WORK
# unless KEEP=1 or the script failed.
nimbus_cleanup() {
    local rc=$? p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do
        for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$p" 2>/dev/null || true
    done
    if [ -n "${NS:-}" ]; then ip netns del "$NS" 2>/dev/null || true; fi
    if [ "${KEEP:-0}" = 1 ] || [ $rc -ne 0 ]; then
        log "work directory kept: $WORK"
    else
        rm -rf "$WORK"
    fi
    exit $rc
}

# nimbus_forget PID: it exited and was reaped, never signal it again
nimbus_forget() {
    local p keep=()
    for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
    PIDS=("${keep[@]}")
}

# nimbus_netns_up: namespace, bridge, host veth and dnsmasq (see the top)
nimbus_netns_up() {
    case "$NS" in nimbus-*) ;; *) log "error: namespace $NS does not start with nimbus-"; return 1 ;; esac
    ip netns add "$NS"
    nsx ip link set lo up
    nsx ip link add nimbus-br0 type bridge
    nsx ip link set nimbus-br0 up
    nsx ip link add nimbus-host type veth peer name nimbus-hostbr
    nsx ip link set nimbus-hostbr master nimbus-br0 up
    nsx ip addr add 10.99.0.1/24 dev nimbus-host
    nsx ip addr add 169.254.169.254/32 dev nimbus-host
    nsx ip link set nimbus-host up
    # DHCP: a default route and (RFC 3442) the metadata route, no DNS service;
    # --no-ping: dnsmasq would otherwise ping each address ~3 s before offering it
    nsx_bg dnsmasq --keep-in-foreground --conf-file=/dev/null --user=root --port=0 \
        --interface=nimbus-host --bind-interfaces --dhcp-authoritative --no-ping \
        --dhcp-range=10.99.0.100,10.99.0.199,255.255.255.0,1h \
        --dhcp-option=option:router,10.99.0.1 \
        --dhcp-option=121,169.254.169.254/32,10.99.0.1,0.0.0.0/0,10.99.0.1 \
        --dhcp-leasefile="$WORK/dnsmasq.leases" --log-dhcp --log-facility="$WORK/dnsmasq.log"
    PIDS+=($!)
}

# nimbus_tap_add NAME: a tap in the bridge (the namespace deletion removes it)
nimbus_tap_add() {
    nsx ip tuntap add dev "$1" mode tap
    nsx ip link set "$1" master nimbus-br0 up
}

# nimbus_instance_data DIR HOSTNAME UUID PUBKEY [NETWORK_DATA_JSON]:
# openstack/latest/* as a config drive or the metadata service serves it; the
# user_data writes /tmp/ud and echoes USERDATA-RAN on the console
nimbus_instance_data() {
    local d=$1/openstack/latest
    mkdir -p "$d"
    jq -n --arg h "$2" --arg u "$3" --arg k "$4" \
        '{uuid: $u, hostname: ($h + ".novalocal"), name: $h, launch_index: 0,
          availability_zone: "nova", project_id: "test-project",
          public_keys: {k: $k}, keys: [{name: "k", type: "ssh", data: $k}], meta: {}}' > "$d/meta_data.json"
    printf '#!/bin/sh\necho hello-from-user-data > /tmp/ud; echo USERDATA-RAN\n' > "$d/user_data"
    echo "${5:-{\"links\": [], \"networks\": [], \"services\": []\}}" > "$d/network_data.json"
    echo '{}' > "$d/vendor_data.json"
}

# nimbus_config_drive DIR ISO: the config drive ISO (label config-2) of DIR
nimbus_config_drive() {
    genisoimage -quiet -V config-2 -J -r -o "$2" "$1"
}
