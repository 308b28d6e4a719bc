#!/usr/bin/env bash
# gtpu_pktgen.sh - drive the UPF with kernel pktgen, on hosts that have it.
#
# UNTESTED HERE: the development/CI kernel has no pktgen (CONFIG_NET_PKTGEN is off and
# modules cannot be loaded); there use `python -m benchmarks.live --json`, which
# generates with BPF_PROG_RUN live frames instead.  This script is kept for machines
# that do have /proc/net/pktgen.
#
# What it does: pktgen sends UDP frames from inside one namespace of a running topology
# (upf/topology.py: gNB ns <-> UPF ns <-> DN ns).  Stock pktgen cannot write a GTP-U header
# (its payload is a pattern/zeros), so:
#   - downlink is the real test: run it in the DN namespace with DST = a UE address of a
#     programmed session (10.45.x.y); the UPF encapsulates every frame towards the gNB;
#   - frames to the UPF's N3 address on port 2152 arrive with a zero GTP-U header and
#     are counted DROP_BAD_GTPU: that measures only the parse-and-drop path.
# Count at the far end (bench_sink on gnb0/dn0) or in the UPF's xdp_stats map.
#
# Usage (as root):
#   gtpu_pktgen.sh NETNS IFACE DST_MAC [COUNT] [PKT_SIZE] [THREADS]
#     NETNS     namespace holding IFACE (e.g. upfbench1234-abcdef-dn)
#     IFACE     sending interface inside it (dn0)
#     DST_MAC   MAC of the UPF interface facing IFACE (n6 for downlink)
#     COUNT     frames per thread (default 10000000; 0 = until stopped)
#     PKT_SIZE  frame size without FCS (default 64)
#     THREADS   pktgen threads/CPUs (default 1)
# Environment: SRC (default 10.200.6.2), DST (default 10.45.0.1), PORT (default 9).
set -euo pipefail

NETNS=${1:?namespace}; IFACE=${2:?interface}; DST_MAC=${3:?dst mac}
COUNT=${4:-10000000}; PKT_SIZE=${5:-64}; THREADS=${6:-1}
SRC=${SRC:-10.200.6.2}; DST=${DST:-10.45.0.1}; PORT=${PORT:-9}

if [ ! -d /proc/net/pktgen ]; then
	modprobe pktgen 2>/dev/null || true
fi
[ -d /proc/net/pktgen ] || { echo "no kernel pktgen on this host (/proc/net/pktgen)" >&2; exit 2; }

NSX=(nsenter "--net=/run/netns/$NETNS" --)

pg() {	# pg FILE CMD: write one pktgen command, fail loudly on error
	local file=$1; shift
	echo "$*" > "$file"
	if grep -q "^Result: .*[Ee]rror" "$file" 2>/dev/null; then
		echo "pktgen: $file: $*" >&2; grep "^Result" "$file" >&2; exit 1
	fi
}

# pktgen threads are global, but the device lookup happens in the writer's namespace:
# every write that names IFACE must run inside NETNS.
for ((t = 0; t < THREADS; t++)); do
	dev="$IFACE@$t"
	"${NSX[@]}" bash -c "echo rem_device_all > /proc/net/pktgen/kpktgend_$t"
	"${NSX[@]}" bash -c "echo 'add_device $dev' > /proc/net/pktgen/kpktgend_$t"
	f=/proc/net/pktgen/$dev
	pg "$f" "count $COUNT"
	pg "$f" "pkt_size $PKT_SIZE"
	pg "$f" "clone_skb 1000"
	pg "$f" "burst 32"
	pg "$f" "queue_map_min $t"
	pg "$f" "queue_map_max $t"
	pg "$f" "dst_mac $DST_MAC"
	pg "$f" "src_min $SRC"
	pg "$f" "src_max $SRC"
	pg "$f" "dst $DST"
	pg "$f" "udp_src_min $PORT"
	pg "$f" "udp_src_max $PORT"
	pg "$f" "udp_dst_min $PORT"
	pg "$f" "udp_dst_max $PORT"
	pg "$f" "flag NO_TIMESTAMP"
done

echo "pktgen: $THREADS thread(s), $COUNT frames each, $PKT_SIZE bytes, $SRC -> $DST:$PORT on $NETNS/$IFACE"
echo start > /proc/net/pktgen/pgctrl || true
for ((t = 0; t < THREADS; t++)); do
	grep -E "^Result|pps" "/proc/net/pktgen/$IFACE@$t" || true
done
