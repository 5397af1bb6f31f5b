#!/usr/bin/env bash
# The cost of build tasks (issue 6/6): builds Berth in release mode, starts two servers over
# fresh data directories — one running builds, one with `tasks.enabled = false` — and prints
# (1) the time of a build run by Berth beside the same build and push run by hand with buildah as
# the build user, and (2) the medians of 16 MiB pushes and pulls while two builds run, beside the
# same on the quiet server, with Berth's memory. Needs root, buildah, busybox and the user
# berth-build (as .ci/run makes it). Run by hand: bash bench/tasks.sh (about 3 minutes after the build).
cd "$(dirname "$0")/.." || exit
. bench/lib.sh
needs "" cargo curl python3 buildah busybox setpriv
id -u berth-build >/dev/null || fail "bench needs the user berth-build (see .ci/run)"
build_berth
workdir tasks-bench
chmod 711 "$W"
read -r BP QP < <(ports 2)
BUILD=127.0.0.1:$BP QUIET=127.0.0.1:$QP
export BENCH_PASSWORD=$PASS
printf '[tasks]\nwork_dir = "%s/runs"\n' "$W" >"$W/build.toml"
printf '[tasks]\nenabled = false\n' >"$W/quiet.toml"
serve_berth target/release/berth build "$BUILD" --config "$W/build.toml"
BUILD_PID=$SERVED
serve_berth target/release/berth quiet "$QUIET" --config "$W/quiet.toml"
QUIET_PID=$SERVED
ready "http://$BUILD/v2/" "$BUILD_PID" "$W/build.log"
ready "http://$QUIET/v2/" "$QUIET_PID" "$W/quiet.log"
python3 bench/tasks.py "$W" "$BUILD" "$BUILD_PID" "$QUIET" "$QUIET_PID"
