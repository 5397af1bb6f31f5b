#!/usr/bin/env bash
# The scanner's cost (issue 5/6): builds Berth in release mode, starts two servers over fresh
# data directories — one scanning pushed images, one with `scan.enabled = false` — pushes a
# 1 GiB image to the first, and prints its peak memory while it scans that image and the
# medians of 16 MiB pushes and pulls during the scan beside the same on the quiet server.
# Run by hand: bash bench/scan.sh (about 5 minutes after the build).
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."
for tool in cargo curl python3; do
    command -v "$tool" >/dev/null || { echo "bench needs $tool" >&2; exit 1; }
done
echo "building berth (release)..." >&2
cargo build --release >&2

W=$(mktemp -d /tmp/berth-scan.XXXXXX)
PIDS=()
cleanup() {
    status=$?
    if [ "$status" != 0 ]; then tail -n 20 "$W"/*.log >&2 || true; fi
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port() { python3 -c 'import socket; s = socket.create_server(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
SCAN=127.0.0.1:$(port) QUIET=127.0.0.1:$(port)
[ "$SCAN" != "$QUIET" ] || QUIET=127.0.0.1:$(port)
PASS=bench-admin-password
export BENCH_AUTH="Basic $(printf 'admin:%s' "$PASS" | base64)"
printf '[scan]\nenabled = false\n' >"$W/quiet.toml"
BERTH_ADMIN_PASSWORD=$PASS BERTH_LOG=warn target/release/berth serve --listen "$SCAN" --data-dir "$W/scan" \
    >"$W/scan.log" 2>&1 &
SCAN_PID=$! && PIDS+=("$SCAN_PID")
BERTH_ADMIN_PASSWORD=$PASS BERTH_LOG=warn target/release/berth serve --listen "$QUIET" --data-dir "$W/quiet" \
    --config "$W/quiet.toml" >"$W/quiet.log" 2>&1 &
QUIET_PID=$! && PIDS+=("$QUIET_PID")
for url in "http://$SCAN/v2/" "http://$QUIET/v2/"; do
    for _ in $(seq 200); do
        curl -s -o /dev/null "$url" && break
        sleep 0.05
    done
done
python3 bench/scan.py "$W" "$SCAN" "$SCAN_PID" "$QUIET" "$QUIET_PID"
