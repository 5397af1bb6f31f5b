# The benchmarks' shared set-up, sourced by each bench/*.sh from the repository's root: strict
# mode, tools checked, Berth built, a work directory $W removed on exit with every server in
# PIDS stopped, free ports, servers started and waited for. Berth runs with the admin password
# $PASS; $BENCH_AUTH (exported for the Python clients) is its Basic credentials.
set -euo pipefail
shopt -s inherit_errexit # a failing request inside $(...) stops the run too

PASS=bench-admin-password
export BENCH_AUTH="Basic $(printf 'admin:%s' "$PASS" | base64)"
PIDS=()

fail() { echo "FAILED: $*" >&2; exit 1; }
median() { sort -g | awk '{a[NR] = $1} END {if (!NR) exit 1; print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

needs() { # "HOW TO INSTALL" TOOL...: fails unless every TOOL is on PATH
    local how=$1 tool
    shift
    for tool in "$@"; do
        command -v "$tool" >/dev/null || fail "bench needs $tool${how:+ ($how)}"
    done
}

build_berth() {
    echo "building berth (release)..." >&2
    cargo build --release >&2
}

workdir() { # NAME: a fresh work directory in $W, removed on exit once every server in PIDS stopped
    W=$(mktemp -d "/tmp/berth-$1.XXXXXX")
    trap cleanup EXIT
    trap 'exit 130' INT TERM
}

cleanup() {
    local status=$? p
    if [ "$status" != 0 ]; then tail -n 20 "$W"/*.log >&2 2>/dev/null || true; fi
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$W"
}

ports() { # N: N distinct free local ports on one line
    python3 -c '
import socket, sys
s = [socket.create_server(("127.0.0.1", 0)) for _ in range(int(sys.argv[1]))]
print(*(x.getsockname()[1] for x in s))' "$1"
}

serve_berth() { # BIN NAME ADDR [ARG...]: `berth serve` over $W/NAME, logging to $W/NAME.log; its pid in SERVED
    local bin=$1 name=$2 addr=$3
    shift 3
    BERTH_ADMIN_PASSWORD=$PASS BERTH_LOG=warn "$bin" serve --listen "$addr" --data-dir "$W/$name" "$@" \
        >>"$W/$name.log" 2>&1 &
    SERVED=$! && PIDS+=("$SERVED")
}

ready() { # URL PID LOG [SECONDS]: waits for URL to answer 2xx (as the admin user), failing if PID exits
    local tries=$((${4:-10} * 20))
    for _ in $(seq "$tries"); do
        curl -sf -o /dev/null -u "admin:$PASS" "$1" && return
        kill -0 "$2" 2>/dev/null || { cat "$3" >&2; fail "server for $1 exited"; }
        sleep 0.05
    done
    cat "$3" >&2
    fail "$1 did not answer within ${4:-10} s"
}
