#!/usr/bin/env bash
# Side-by-side benchmark of Berth and CNCF Distribution 2.8 (Debian's docker-registry): builds
# Berth in release mode, starts both on loopback with filesystem storage in a temp dir, runs the
# same workload against each and prints one table: medians of BENCH_RUNS runs (default 3), the
# ratio (> 1 always means Berth is better), and throughput as a share of this machine's limits
# measured in the same run. Run by hand: bash bench/run.sh   (see bench/README.md)
cd "$(dirname "$0")/.." || exit
. bench/lib.sh
RUNS=${BENCH_RUNS:-3}
needs "apt-get install -y docker-registry wrk apache2-utils curl openssl" \
    cargo docker-registry wrk ab curl openssl python3 split
build_berth
workdir bench

mbps() { awk -v b="$1" -v s="$2" 'BEGIN {printf "%.0f\n", b / s / 1e6}'; } # BYTES SECONDS
OCTET='Content-Type: application/octet-stream'
ACCEPT='Accept: application/vnd.oci.image.manifest.v1+json'

# ---- servers: Berth, Distribution, and a sendfile(2) file server as the pull ceiling --------------
read -r BP DP IP < <(ports 3)
[ -n "${IP:-}" ] || fail "no free ports"
BERTH=127.0.0.1:$BP DIST=127.0.0.1:$DP IDEAL=127.0.0.1:$IP
mkdir "$W/files"
: >"$W/files/ready"
cat >"$W/dist.yml" <<YML
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage:
  filesystem: {rootdirectory: $W/dist}
  delete: {enabled: true}
http: {addr: $DIST}
YML
# Berth has auth on: every client sends the admin user's Basic credentials (curl through
# $CURL_HOME/.curlrc, wrk and ab through a header, load.py through BENCH_AUTH). Distribution runs
# without auth and ignores them.
AUTH="Authorization: $BENCH_AUTH"
export CURL_HOME=$W
printf 'user = "admin:%s"\n' "$PASS" >"$W/.curlrc"
# Berth runs with its audit log off, as Distribution has none, except for the row "manifest GET,
# audit on", for which it restarts over the same data with the audit log on (and stays so).
printf '[audit]\nenabled = false\n' >"$W/audit-off.toml"
printf '[audit]\nenabled = true\n' >"$W/audit-on.toml"
start_berth() { # CONFIG
    serve_berth target/release/berth berth "$BERTH" --config "$1"
    BERTH_PID=$SERVED
}
start_berth "$W/audit-off.toml"
docker-registry serve "$W/dist.yml" >"$W/dist.log" 2>&1 &
DIST_PID=$! && PIDS+=("$DIST_PID")
python3 bench/load.py serve "$IP" "$W/files" >"$W/ideal.log" 2>&1 &
PIDS+=("$!")
ready "http://$BERTH/v2/" "$BERTH_PID" "$W/berth.log"
# The trickling uploads come from a user of their own.
curl -sf -o /dev/null -H 'Content-Type: application/json' -d '{"name": "trickler", "password": "trickle-password", "roles": ["AcrPush"]}' \
    "http://$BERTH/berth/v1/users" || fail "cannot create the trickling user"
export BENCH_TRICKLE_AUTH="Basic $(printf 'trickler:trickle-password' | base64)"
ready "http://$DIST/v2/" "$DIST_PID" "$W/dist.log"
ready "http://$IDEAL/ready" "${PIDS[2]}" "$W/ideal.log"

# ---- HTTP helpers: every status is checked ----------------------------------------------------------
req() { # WANT METHOD URL [CURL ARGS...]: one request; headers in $W/h, body in $W/b; prints curl's time_total
    local want=$1 method=$2 url=$3 out how
    shift 3
    how=(-X "$method")
    [ "$method" = HEAD ] && how=(-I)
    out=$(curl -sS -o "$W/b" -D "$W/h" -w '%{http_code} %{time_total}' "${how[@]}" -H 'Expect:' "$@" "$url") || true
    if [ "${out%% *}" != "$want" ]; then
        { echo "request: $method $url $*"; echo "response (wanted $want):"; cat "$W/h" "$W/b" 2>/dev/null; echo; } >&2
        fail "$method $url -> ${out%% *}"
    fi
    echo "${out#* }"
}
header() { awk -v k="$1" 'tolower($1) == tolower(k) ":" {print $2}' "$W/h" | tr -d '\r'; } # NAME, from $W/h
location() { # HOST: the Location of the last response as an absolute URL (Distribution sends one, Berth a path)
    local loc
    loc=$(header Location)
    [ -n "$loc" ] || fail "no Location header: $(cat "$W/h")"
    case $loc in http://*) echo "$loc" ;; *) echo "http://$1$loc" ;; esac
}
with_digest() { case $1 in *\?*) echo "$1&digest=$2" ;; *) echo "$1?digest=$2" ;; esac; }

push() { # HOST REPO FILE DIGEST CHUNK_MIB (0: monolithic): prints the seconds the session took
    # Sum of curl's time_total over POST, PATCHes and PUT: curl's start-up and the splitting of the
    # file are left out, so 34 curl processes cost the chunked upload nothing a real client wouldn't.
    local host=$1 repo=$2 file=$3 digest=$4 chunk=$5 loc t times=() off=0 size part
    t=$(req 202 POST "http://$host/v2/$repo/blobs/uploads/")
    times+=("$t")
    loc=$(location "$host")
    if [ "$chunk" = 0 ]; then
        t=$(req 201 PUT "$(with_digest "$loc" "$digest")" -H "$OCTET" -T "$file")
        times+=("$t")
    else
        rm -f "$W"/part.*
        split -b "${chunk}M" -d -a 3 "$file" "$W/part."
        for part in "$W"/part.*; do
            size=$(stat -c %s "$part")
            t=$(req 202 PATCH "$loc" -H "$OCTET" -H "Content-Range: $off-$((off + size - 1))" -T "$part")
            times+=("$t")
            loc=$(location "$host")
            off=$((off + size))
        done
        t=$(req 201 PUT "$(with_digest "$loc" "$digest")" -H "$OCTET" --data-binary '')
        times+=("$t")
        rm -f "$W"/part.*
    fi
    req 200 HEAD "http://$host/v2/$repo/blobs/$digest" >/dev/null
    [ "$(header Content-Length)" = "$(stat -c %s "$file")" ] || fail "HEAD $repo@$digest: wrong Content-Length"
    printf '%s\n' "${times[@]}" | awk '{s += $1} END {printf "%.4f", s}'
}
pull() { # URL SIZE: MB/s of one curl GET into /dev/null
    local out code got speed
    out=$(curl -sS -o /dev/null -w '%{http_code} %{size_download} %{speed_download}' "$1") || true
    read -r code got speed <<<"$out"
    [ "$code" = 200 ] && [ "$got" = "$2" ] || fail "GET $1 -> $out (wanted 200, $2 bytes)"
    awk -v s="$speed" 'BEGIN {printf "%.0f\n", s / 1e6}'
}
pull_parallel() { # URL SIZE COUNT: aggregate MB/s of COUNT concurrent curl GETs, first start to last end
    local url=$1 size=$2 n=$3 k start end pids=()
    start=$(date +%s%N)
    for k in $(seq "$n"); do
        curl -sS -o /dev/null -w '%{http_code} %{size_download}' "$url" >"$W/par.$k" 2>&1 &
        pids+=("$!")
    done
    wait "${pids[@]}" || true
    end=$(date +%s%N)
    for k in $(seq "$n"); do [ "$(cat "$W/par.$k")" = "200 $size" ] || fail "GET $url -> $(cat "$W/par.$k")"; done
    mbps $((n * size)) "$(awk -v s="$start" -v e="$end" 'BEGIN {print (e - s) / 1e9}')"
}
blob_digest() { echo "sha256:$(openssl dgst -sha256 -r "$1" | cut -d' ' -f1)"; }
# Before each push: write back dirty pages and, as root, drop the clean page cache. On a virtual
# machine, writing into memory the guest has not touched lately runs several times slower than
# into pages just freed, so without this a push's speed depends on what the run did before it.
settle() {
    sync
    if [ -w /proc/sys/vm/drop_caches ]; then echo 1 >/proc/sys/vm/drop_caches; fi
}

# ---- machine limits -----------------------------------------------------------------------------------
echo "test data and machine limits..." >&2
BIG=$((512 << 20)) MID=$((64 << 20))
head -c "$BIG" /dev/urandom >"$W/files/big"
head -c "$MID" /dev/urandom >"$W/files/mid"
cat "$W/files/big" "$W/files/mid" >/dev/null # page cache
# One core of SHA-256 bounds any single upload: the registry has to hash every byte it accepts.
SHA=$(openssl speed -evp sha256 -bytes 16384 -seconds 3 2>/dev/null |
    awk '/^sha256/ {v = $NF; sub("k", "", v); printf "%.0f", v * 1000 / 1e6}')
[ -n "$SHA" ] || fail "openssl speed printed no sha256 line"
# A push ends in the page cache: writing a new 512 MiB file there (dd, no fsync) bounds it too.
: >"$W/t"
for _ in $(seq "$RUNS"); do
    settle
    cat "$W/files/big" "$W/files/mid" >/dev/null # back in the page cache: only writes are timed
    dd if="$W/files/big" of="$W/dd" bs=1M 2>&1 | awk '/copied/ {printf "%.0f\n", $1 / $(NF - 3) / 1e6}' >>"$W/t"
    rm -f "$W/dd"
done
DISK=$(median <"$W/t")
# The same curl pulls from a server that only sendfile(2)s the file: the most a registry could give curl here.
: >"$W/t"
for _ in $(seq "$RUNS"); do pull "http://$IDEAL/big" "$BIG" >>"$W/t"; done
CEIL_PULL=$(median <"$W/t")
: >"$W/t"
for _ in $(seq "$RUNS"); do pull_parallel "http://$IDEAL/mid" "$MID" 16 >>"$W/t"; done
CEIL_PULL16=$(median <"$W/t")

# ---- the workload, Berth first ----------------------------------------------------------------------------
declare -A R
for name in berth dist; do
    [ $name = berth ] && host=$BERTH || host=$DIST
    echo "$name..." >&2
    # Listings first, so that _catalog holds exactly these 200 repositories.
    python3 bench/load.py repos "$host" cat/r 200
    R[$name,catalog]=$(python3 bench/load.py get "$host" "/v2/_catalog?n=1000" repositories 200)
    python3 bench/load.py manifests "$host" tags/many 1000 >/dev/null
    R[$name,tags]=$(python3 bench/load.py get "$host" /v2/tags/many/tags/list tags 1000)

    : >"$W/mono" && : >"$W/chunked"
    for i in $(seq "$RUNS"); do
        for mode in mono chunked; do
            # A fresh 512 MiB blob each time (first 32 bytes differ), so no registry can skip it as known.
            cp "$W/files/big" "$W/run"
            printf '%-32s' "$name $mode $i" | dd of="$W/run" bs=32 count=1 conv=notrunc status=none
            settle
            digest=$(blob_digest "$W/run")
            [ $mode = mono ] && chunk=0 || chunk=16
            secs=$(push "$host" "push/$mode$i" "$W/run" "$digest" $chunk)
            mbps "$BIG" "$secs" >>"$W/$mode"
        done
    done
    R[$name,push_mono]=$(median <"$W/mono")
    R[$name,push_chunked]=$(median <"$W/chunked")
    rm -f "$W/run"

    : >"$W/t"
    for _ in $(seq "$RUNS"); do pull "http://$host/v2/push/chunked$RUNS/blobs/$digest" "$BIG" >>"$W/t"; done
    R[$name,pull]=$(median <"$W/t")
    mid_digest=$(blob_digest "$W/files/mid")
    push "$host" par/blob "$W/files/mid" "$mid_digest" 0 >/dev/null
    : >"$W/t"
    for _ in $(seq "$RUNS"); do pull_parallel "http://$host/v2/par/blob/blobs/$mid_digest" "$MID" 16 >>"$W/t"; done
    R[$name,pull16]=$(median <"$W/t")

    : >"$W/t"
    for i in $(seq "$RUNS"); do python3 bench/load.py manifests "$host" "puts/r$i" 2000 >>"$W/t"; done
    R[$name,puts]=$(median <"$W/t")

    by_tag="http://$host/v2/puts/r1/manifests/t00000"
    req 200 GET "$by_tag" -H "$ACCEPT" >/dev/null
    [ "$(header Content-Type)" = "${ACCEPT#Accept: }" ] || fail "GET $by_tag: Content-Type $(header Content-Type)"
    mdigest=$(header Docker-Content-Digest)
    [ "$mdigest" = "$(blob_digest "$W/b")" ] || fail "GET $by_tag: Docker-Content-Digest $mdigest"
    by_digest="http://$host/v2/puts/r1/manifests/$mdigest"
    req 200 HEAD "$by_digest" -H "$ACCEPT" >/dev/null
    : >"$W/rps" && : >"$W/p99" && : >"$W/hrps" && : >"$W/hp99"
    for _ in $(seq "$RUNS"); do
        wrk -c 32 -t 2 -d 10s --latency -H "$ACCEPT" -H "$AUTH" "$by_tag" >"$W/wrk"
        ! grep -q 'Non-2xx' "$W/wrk" || { cat "$W/wrk" >&2; fail "wrk GET $by_tag: non-2xx responses"; }
        awk '/Requests\/sec/ {printf "%.0f\n", $2}' "$W/wrk" >>"$W/rps"
        awk '$1 == "99%" {v = $2; if (v ~ /us$/) v = v / 1000; else if (v ~ /ms$/) v = v + 0; else if (v ~ /s$/) v = v * 1000; print v}' \
            "$W/wrk" >>"$W/p99"
        # wrk waits for a body after HEAD and so never completes one; ApacheBench knows HEAD (-i).
        ab -q -i -k -c 32 -t 10 -n 10000000 -e "$W/ab.csv" -H "$ACCEPT" -H "$AUTH" "$by_digest" >"$W/ab" 2>&1 ||
            { cat "$W/ab" >&2; fail "ab HEAD $by_digest"; }
        ! grep -q '^Non-2xx' "$W/ab" && grep -q '^Failed requests: *0$' "$W/ab" ||
            { cat "$W/ab" >&2; fail "ab HEAD $by_digest: failed or non-2xx responses"; }
        awk '/^Requests per second/ {printf "%.0f\n", $4}' "$W/ab" >>"$W/hrps"
        awk -F, '$1 == 99 {print $2}' "$W/ab.csv" >>"$W/hp99"
    done
    R[$name,get_rps]=$(median <"$W/rps")
    R[$name,get_p99]=$(median <"$W/p99")
    R[$name,head_rps]=$(median <"$W/hrps")
    R[$name,head_p99]=$(awk '{printf "%.2f\n", $1}' "$W/hp99" | median)

    [ $name = berth ] && pid=$BERTH_PID || pid=$DIST_PID
    R[$name,rss]=$(awk '/^VmHWM/ {printf "%.1f", $2 / 1024}' "/proc/$pid/status")
    # Berth again with every pull recorded in its audit log (batched: the target is at most 10% lost).
    if [ $name = berth ]; then
        kill "$BERTH_PID" && wait "$BERTH_PID" 2>/dev/null || true
        start_berth "$W/audit-on.toml"
        ready "http://$BERTH/v2/" "$BERTH_PID" "$W/berth.log"
        pid=$BERTH_PID
        : >"$W/rps"
        for _ in $(seq "$RUNS"); do
            wrk -c 32 -t 2 -d 10s --latency -H "$ACCEPT" -H "$AUTH" "$by_tag" >"$W/wrk"
            ! grep -q 'Non-2xx' "$W/wrk" || { cat "$W/wrk" >&2; fail "wrk GET $by_tag (audit on): non-2xx responses"; }
            awk '/Requests\/sec/ {printf "%.0f\n", $2}' "$W/wrk" >>"$W/rps"
        done
        R[berth,get_rps_audit]=$(median <"$W/rps")
    fi

    # Another client's pull and push while 300 uploads trickle a byte a second (from a user of
    # their own on Berth: uploads are bounded per identity, and the victim must not share them).
    read -r R[$name,tpull0] R[$name,tpull] R[$name,tpush0] R[$name,tpush] < <(python3 bench/load.py trickle "$host" trickle 300)
    R[$name,rss_trickle]=$(awk '/^VmHWM/ {printf "%.1f", $2 / 1024}' "/proc/$pid/status")
done
# Berth only (Distribution has no online GC), after the memory readings: a pass deleting 100,000
# blobs while another client pushes; blobs go in batches, so a push waits for one batch at most.
echo "berth: garbage collection of 100,000 blobs..." >&2
read -r GC_SECS GC_DELETED GC_MAX GC_MED < <(python3 bench/load.py gcwait "$BERTH" gcwait 100000)

# ---- the table ---------------------------------------------------------------------------------------
echo
echo "Berth $(git rev-parse --short HEAD 2>/dev/null || echo '?') vs CNCF Distribution $(docker-registry --version 2>/dev/null | awk '{print $NF}'), $RUNS run(s) each (medians), $(nproc) cores, client on the same cores."
echo "Machine limits: SHA-256 on one core (openssl speed) $SHA MB/s; a new 512 MiB file into the page cache (dd) $DISK MB/s; curl pulling from a sendfile(2) server: one stream $CEIL_PULL MB/s, 16 streams $CEIL_PULL16 MB/s."
echo "ratio: berth/distribution for throughput, distribution/berth for latency and memory, so > 1 always means Berth is better."
echo "share: the figure as a share of the machine limit named (berth / distribution)."
fmt='%-40s %10s %12s %7s  %-22s %s\n'
printf "$fmt" metric berth distribution ratio share "target (berth)"
row() { # LABEL KEY up|down [LIMIT LIMIT_NAME] [TARGET_OP TARGET]
    local b=${R[berth,$2]} d=${R[dist,$2]} ratio share="" target=""
    if [ "$3" = up ]; then ratio=$(awk -v b="$b" -v d="$d" 'BEGIN {printf "%.2f", b / d}')
    else ratio=$(awk -v b="$b" -v d="$d" 'BEGIN {printf "%.2f", d / b}'); fi
    [ -n "${4:-}" ] && share=$(awk -v b="$b" -v d="$d" -v l="$4" -v n="$5" 'BEGIN {printf "%.0f%% / %.0f%% %s", 100 * b / l, 100 * d / l, n}')
    [ -n "${6:-}" ] && target=$(awk -v b="$b" -v op="$6" -v t="$7" 'BEGIN {ok = (op == ">=") ? b >= t : b < t; printf "%s %s %s", op, t, ok ? "met" : "MISSED"}')
    printf "$fmt" "$1" "$b" "$d" "$ratio" "$share" "$target"
}
row "push 512 MiB monolithic (MB/s)" push_mono up "$SHA" "of SHA" ">=" 1000
row "push 512 MiB, 32 x 16 MiB PATCH (MB/s)" push_chunked up "$SHA" "of SHA" ">=" 1000
row "pull 512 MiB (MB/s)" pull up "$CEIL_PULL" "of 1 stream" ">=" 5000
row "16 parallel pulls of 64 MiB (MB/s)" pull16 up "$CEIL_PULL16" "of 16 streams"
row "manifest GET by tag, wrk -c32 (req/s)" get_rps up "" "" ">=" 30000
row "manifest GET by tag, p99 (ms)" get_p99 down "" "" "<" 5
R[dist,get_rps_audit]=${R[dist,get_rps]}
AUDIT_FLOOR=$(awk -v r="${R[berth,get_rps]}" 'BEGIN {printf "%.0f", r * 0.9}')
row "GET manifest, audit on, wrk -c32 (req/s)" get_rps_audit up "" "" ">=" "$AUDIT_FLOOR"
row "manifest HEAD by digest, ab -c32 (req/s)" head_rps up
row "manifest HEAD by digest, p99 (ms)" head_p99 down
row "2,000 manifest PUTs, sequential (PUT/s)" puts up
row "_catalog of 200 repositories (ms)" catalog down
row "tags/list of 1,000 tags (ms)" tags down
row "1 MiB pull, idle (ms)" tpull0 down
row "1 MiB pull, 300 trickling uploads (ms)" tpull down
row "small push, idle (ms)" tpush0 down
row "small push, 300 trickling uploads (ms)" tpush down
row "peak RSS, VmHWM (MiB)" rss down "" "" "<" 40
row "peak RSS after 300 trickling uploads (MiB)" rss_trickle down
echo "Berth only: a GC pass deleting $GC_DELETED blobs took $GC_SECS s; meanwhile another client's small pushes took $GC_MED ms (median), $GC_MAX ms at most."
