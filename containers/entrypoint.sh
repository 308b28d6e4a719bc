#!/bin/sh
# Container entrypoint: make sure a bpffs is mounted where the maps are pinned, then exec
# the UPF (PID 1 receives SIGTERM from `podman stop` and exits cleanly: XDP detached,
# maps unpinned unless xdp.keep_maps is set).
# Extra arguments are passed to `upf run`, e.g. `--set n4.address=10.50.0.2`.
set -eu
CONFIG="${UPF_CONFIG:-/etc/upf/upf.yaml}"
if ! grep -qs ' /sys/fs/bpf bpf ' /proc/mounts; then
    mount -t bpf bpf /sys/fs/bpf 2>/dev/null || \
        echo "upf-entrypoint: cannot mount bpffs at /sys/fs/bpf (run with --privileged)" >&2
fi
exec upf run --config "$CONFIG" "$@"
