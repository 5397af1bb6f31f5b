#!/usr/bin/env bash
# The scanner's cost (issue 5/6): builds Berth in release mode, starts two servers over fresh
# data directories — one scanning pushed images, one with `scan.enabled = false` — pushes a
# 1 GiB image to the first, and prints its peak memory while it scans that image and the
# medians of 16 MiB pushes and pulls during the scan beside the same on the quiet server.
# Run by hand: bash bench/scan.sh (about 5 minutes after the build).
cd "$(dirname "$0")/.." || exit
. bench/lib.sh
needs "" cargo curl python3
build_berth
workdir scan
read -r SP QP < <(ports 2)
SCAN=127.0.0.1:$SP QUIET=127.0.0.1:$QP
printf '[scan]\nenabled = false\n' >"$W/quiet.toml"
serve_berth target/release/berth scan "$SCAN"
SCAN_PID=$SERVED
serve_berth target/release/berth quiet "$QUIET" --config "$W/quiet.toml"
QUIET_PID=$SERVED
ready "http://$SCAN/v2/" "$SCAN_PID" "$W/scan.log"
ready "http://$QUIET/v2/" "$QUIET_PID" "$W/quiet.log"
python3 bench/scan.py "$W" "$SCAN" "$SCAN_PID" "$QUIET" "$QUIET_PID"
