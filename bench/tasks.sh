#!/usr/bin/env bash
# The cost of build tasks (issue 6/6): builds Berth in release mode, starts two servers over
# fresh data directories — one running builds, one with `tasks.enabled = false` — and prints
# (1) the time of a build run by Berth beside the same build and push run by hand with buildah as
# the build user, and (2) the medians of 16 MiB pushes and pulls while two builds run, beside the
# same on the quiet server, with Berth's memory. Needs root, buildah, busybox and the user
# berth-build (as .ci/run makes it). Run by hand: bash bench/tasks.sh (about 3 minutes after the build).
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."
for tool in cargo curl python3 buildah busybox setpriv; do
    command -v "$tool" >/dev/null || { echo "bench needs $tool" >&2; exit 1; }
done
id -u berth-build >/dev/null || { echo "bench needs the user berth-build (see .ci/run)" >&2; exit 1; }
echo "building berth (release)..." >&2
cargo build --release >&2

W=$(mktemp -d /tmp/berth-tasks-bench.XXXXXX)
chmod 711 "$W"
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
BUILD=127.0.0.1:$(port) QUIET=127.0.0.1:$(port)
[ "$BUILD" != "$QUIET" ] || QUIET=127.0.0.1:$(port)
PASS=bench-admin-password
export BENCH_AUTH="Basic $(printf 'admin:%s' "$PASS" | base64)" BENCH_PASSWORD=$PASS
printf '[tasks]\nwork_dir = "%s/runs"\n' "$W" >"$W/build.toml"
printf '[tasks]\nenabled = false\n' >"$W/quiet.toml"
BERTH_ADMIN_PASSWORD=$PASS BERTH_LOG=warn target/release/berth serve --listen "$BUILD" --data-dir "$W/build" \
    --config "$W/build.toml" >"$W/build.log" 2>&1 &
BUILD_PID=$! && PIDS+=("$BUILD_PID")
BERTH_ADMIN_PASSWORD=$PASS BERTH_LOG=warn target/release/berth serve --listen "$QUIET" --data-dir "$W/quiet" \
    --config "$W/quiet.toml" >"$W/quiet.log" 2>&1 &
QUIET_PID=$! && PIDS+=("$QUIET_PID")
for url in "http://$BUILD/v2/" "http://$QUIET/v2/"; do
    for _ in $(seq 200); do
        curl -s -o /dev/null "$url" && break
        sleep 0.05
    done
done
python3 bench/tasks.py "$W" "$BUILD" "$BUILD_PID" "$QUIET" "$QUIET_PID"
