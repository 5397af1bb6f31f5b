"""Helper for bench/listings.sh (standard library only): seeds one repository through the API
and times /acr/v1 tag and manifest pages at several depths.

usage: listings.py COMMAND ARGS...
  seed HOST:PORT REPO MANIFESTS TAGS CONNS   push a config and a layer, then MANIFESTS distinct
                                             image manifests (one annotation apart), each PUT
                                             under its own tag, then TAGS - MANIFESTS more tags
                                             PUT on existing manifests, over CONNS keep-alive
                                             connections in parallel; prints seconds and PUTs/s
  pages HOST:PORT REPO DB PID                median ms of 100-item pages of tags and manifests in
                                             each order at the start, the middle and near the
                                             end (the `last` keys are read from the SQLite file
                                             DB), with the RSS of PID before and after; then the
                                             latency of a small request alone and while 4
                                             clients list deep manifest pages; Markdown tables
"""
import json
import os
import sqlite3
import statistics
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import load  # noqa: E402  (conn, check, manifest, put_manifest)

RUNS = 25
PAGE = 100


def seed(host, repo, manifests, tags, conns):
    manifests, tags, conns = int(manifests), int(tags), int(conns)
    base = json.loads(load.manifest(load.conn(host), repo))
    errors = []

    def put(lo, hi, k):
        try:
            c = load.conn(host)
            for i in range(lo + k, hi, conns):
                body = json.dumps(dict(base, annotations={"bench.index": str(i % manifests)})).encode()
                load.put_manifest(c, repo, f"t{i:06d}", body)
        except BaseException as e:  # noqa: BLE001 -- reported below
            errors.append(e)

    start = time.perf_counter()
    # Tag i < MANIFESTS brings manifest i; the tags after it go on manifests already there.
    for lo, hi in ((0, manifests), (manifests, tags)):
        threads = [threading.Thread(target=put, args=(lo, hi, k)) for k in range(conns)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            sys.exit(f"seeding failed: {errors[0]!r}")
    secs = time.perf_counter() - start
    print(f"{secs:.0f} s, {tags / secs:.0f} PUT/s")


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        fields = dict(line.split(":", 1) for line in f)
    return {k: int(fields[k].split()[0]) / 1024 for k in ("VmRSS", "VmHWM")}


def timed(c, path, key, want):
    """Median ms of GET path after 3 warm-ups; checks that list `key` holds `want` items."""
    times = []
    for i in range(3 + RUNS):
        start = time.perf_counter()
        c.request("GET", path)
        body = load.check(c.getresponse(), 200, what=f"GET {path}")
        if i >= 3:
            times.append((time.perf_counter() - start) * 1000)
    got = key and len(json.loads(body)[key])
    if got != want:
        sys.exit(f"GET {path}: {got} {key}, wanted {want}")
    return statistics.median(times)


ORDERS = {"name": ("", "{key}"), "timeasc": ("timeasc", "updated_at, {key}"),
          "timedesc": ("timedesc", "updated_at DESC, {key}")}


def pages(host, repo, db, pid):
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    c = load.conn(host)
    before = rss_mib(pid)
    print(f"| listing | orderby | {'start':>8} | {'middle':>8} | {'near end':>8} |")
    print("|---|---|---:|---:|---:|")
    for kind, table, key in (("tags", "tags", "name"), ("manifests", "manifests", "digest")):
        total = conn.execute(f"SELECT COUNT(*) FROM {table} WHERE repository = ?", (repo,)).fetchone()[0]
        for order, (orderby, sort) in ORDERS.items():
            cells = []
            for position in (0, total // 2, total - PAGE - 50):
                path = f"/acr/v1/{repo}/_{kind}?n={PAGE}&orderby={orderby}"
                if position:
                    sql = f"SELECT {key} FROM {table} WHERE repository = ? ORDER BY {sort.format(key=key)} LIMIT 1 OFFSET ?"
                    last = conn.execute(sql, (repo, position - 1)).fetchone()[0]
                    path += "&last=" + urllib.parse.quote(last, safe="")
                cells.append(f"{timed(c, path, kind, PAGE):.2f} ms")
            print(f"| {kind} ({total:,}) | {order} | " + " | ".join(f"{x:>8}" for x in cells) + " |")
    after = rss_mib(pid)
    c.request("GET", f"/acr/v1/{repo}")
    counts = json.loads(load.check(c.getresponse(), 200, what=f"GET /acr/v1/{repo}"))
    shown = f"manifestCount {counts['manifestCount']:,}, tagCount {counts['tagCount']:,}"
    print(f"\nGET /acr/v1/{repo} ({shown}, counted per request): {timed(c, f'/acr/v1/{repo}', None, None):.2f} ms")
    print()
    print(f"RSS before the pages {before['VmRSS']:.1f} MiB, after {after['VmRSS']:.1f} MiB "
          f"(peak since start {after['VmHWM']:.1f} MiB)")

    # A small request's latency, alone and while 4 clients list the deepest manifest pages.
    sql = "SELECT digest FROM manifests WHERE repository = ? ORDER BY updated_at DESC, digest LIMIT 1 OFFSET ?"
    total = conn.execute("SELECT COUNT(*) FROM manifests WHERE repository = ?", (repo,)).fetchone()[0]
    deep = conn.execute(sql, (repo, total - PAGE - 50)).fetchone()[0]
    deep = f"/acr/v1/{repo}/_manifests?n={PAGE}&orderby=timedesc&last={urllib.parse.quote(deep, safe='')}"
    small = f"/v2/{repo}/manifests/t000000"

    def probe(seconds):
        p, lat, end = load.conn(host), [], time.perf_counter() + seconds
        while time.perf_counter() < end:
            start = time.perf_counter()
            p.request("HEAD", small, headers={"Accept": load.MANIFEST})
            load.check(p.getresponse(), 200, what=f"HEAD {small}")
            lat.append((time.perf_counter() - start) * 1000)
        lat.sort()
        return lat

    stop, listed, errors = threading.Event(), [0], []

    def lister():
        try:
            lc = load.conn(host)
            while not stop.is_set():
                lc.request("GET", deep)
                load.check(lc.getresponse(), 200, what=f"GET {deep}")
                listed[0] += 1
        except BaseException as e:  # noqa: BLE001 -- reported below
            errors.append(e)

    alone = probe(3)
    threads = [threading.Thread(target=lister) for _ in range(4)]
    for t in threads:
        t.start()
    start = time.perf_counter()
    busy = probe(5)
    elapsed = time.perf_counter() - start
    stop.set()
    for t in threads:
        t.join()
    if errors:
        sys.exit(f"listing failed: {errors[0]!r}")
    pct = lambda lat, q: lat[min(len(lat) - 1, int(len(lat) * q))]  # noqa: E731
    print()
    print("| manifest HEAD by tag | median | p99 | max |")
    print("|---|---:|---:|---:|")
    print(f"| alone | {pct(alone, .5):.2f} ms | {pct(alone, .99):.2f} ms | {alone[-1]:.2f} ms |")
    print(f"| while 4 clients list deep manifest pages ({listed[0] / elapsed:.0f} pages/s) | "
          f"{pct(busy, .5):.2f} ms | {pct(busy, .99):.2f} ms | {busy[-1]:.2f} ms |")
    print(f"\nRSS at the end {rss_mib(pid)['VmRSS']:.1f} MiB")


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    {"seed": seed, "pages": pages}[command](*args)
