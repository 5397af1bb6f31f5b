"""Helper for bench/portal.sh (standard library only).

usage: portal.py COMMAND ARGS...
  seed-distribution ROOT N   N repository directories (r000000 …) under Distribution's storage
                             ROOT, with the `_layers` and `_manifests` directories that make
                             its catalog list a repository
  seed-berth DB N            N repository rows in Berth's SQLite file DB (one transaction),
                             updated one second apart, as pushes leave them
  seed-repository HOST REPO  REPO with 100 tags on 100 image manifests, pushed through the API
  pages BERTH DIST PASS N    a Markdown table of median times and page weights: the portal's
                             repository pages (signed in as admin with PASS) at three depths, by
                             name and by last update, a prefix search; `/v2/_catalog?n=100` on
                             both registries at the same depths; the two tabs of a repository
                             of 100 tags on 100 manifests beside its tags/list on both
"""
import json
import os
import sqlite3
import statistics
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import load  # noqa: E402  (conn, check)

RUNS = 25


def name(i):
    return f"r{i:06d}"


def seed_distribution(root, n):
    repos = os.path.join(root, "docker/registry/v2/repositories")
    for i in range(int(n)):
        for sub in ("_layers", "_manifests", "_uploads"):
            os.makedirs(os.path.join(repos, name(i), sub), exist_ok=True)


def seed_berth(db, n):
    n = int(n)
    con = sqlite3.connect(db, timeout=30)
    with con:
        con.executemany(
            "INSERT INTO repositories (name, created_at, updated_at) VALUES (?, ?, ?)",
            ((name(i), 1_700_000_000_000 + i * 1000, 1_700_000_000_000 + i * 1000) for i in range(n)),
        )
    con.close()


def seed_repository(host, repo):
    c = load.conn(host)
    base = json.loads(load.manifest(c, repo))
    for i in range(100):
        body = json.dumps(dict(base, annotations={"bench.index": str(i)})).encode()
        load.put_manifest(c, repo, f"release-{i:03d}", body)


def sign_in(host, password):
    c = load.conn(host)
    body = urllib.parse.urlencode({"username": "admin", "password": password})
    c.request("POST", "/signin", body=body, headers={"Content-Type": "application/x-www-form-urlencoded"})
    res = c.getresponse()
    load.check(res, 303, what="POST /signin")
    cookie = res.getheader("Set-Cookie").split(";")[0]
    return c, {"Cookie": cookie}


def timed(c, path, headers, expect):
    """Median ms of RUNS GETs of path (after one untimed, on a fresh connection: a server may
    have closed the last one while the other registry was being timed), and the body's size."""
    times, size = [], 0
    c.close()
    c.request("GET", path, headers=headers)
    load.check(c.getresponse(), 200, what=f"GET {path}")
    for _ in range(RUNS):
        start = time.perf_counter()
        c.request("GET", path, headers=headers)
        res = c.getresponse()
        body = load.check(res, 200, what=f"GET {path}")
        times.append((time.perf_counter() - start) * 1000)
        size = len(body)
        if expect.encode() not in body:
            sys.exit(f"GET {path}: {expect!r} not in the page")
    return statistics.median(times), size


def pages(berth, dist, password, n):
    n = int(n)
    portal, cookie = sign_in(berth, password)
    api = load.conn(berth)
    auth = {"Authorization": os.environ["BENCH_AUTH"]}
    distribution = load.conn(dist)
    depths = [("first page", None, name(0)), ("middle", name(n // 2 - 1), name(n // 2)),
              ("last page", name(n - 101), name(n - 100))]
    rows = []
    for label, last, first_shown in depths:
        query = {"sort": "name"} | ({"last": last} if last else {})
        ms, size = timed(portal, "/repositories?" + urllib.parse.urlencode(query), cookie, first_shown)
        catalog = "/v2/_catalog?n=100" + (f"&last={last}" if last else "")
        api_ms, _ = timed(api, catalog, auth, first_shown)
        dist_ms, _ = timed(distribution, catalog, {}, first_shown)
        rows.append((f"by name, {label}", ms, size, api_ms, dist_ms))
    for label, last, first_shown in [("first page", None, name(n - 1)), ("middle", name(n // 2), name(n // 2 - 1))]:
        query = {"sort": "updated"} | ({"last": last} if last else {})
        ms, size = timed(portal, "/repositories?" + urllib.parse.urlencode(query), cookie, first_shown)
        rows.append((f"by last update, {label}", ms, size, None, None))
    prefix = name(n // 2)[:-2]
    ms, size = timed(portal, "/repositories?" + urllib.parse.urlencode({"q": prefix}), cookie, prefix + "00")
    rows.append((f"search {prefix!r}", ms, size, None, None))

    repository = "team/web-frontend"
    tags_ms, _ = timed(api, f"/v2/{repository}/tags/list?n=100", auth, "release-099")
    dist_tags_ms, _ = timed(distribution, f"/v2/{repository}/tags/list?n=100", {}, "release-099")
    for view in ("tags", "manifests"):
        query = urllib.parse.urlencode({"name": repository, "view": view})
        ms, size = timed(portal, f"/repository?{query}", cookie, "sha256:")
        rows.append((f"repository {repository}, {view} tab (100 rows)", ms, size, tags_ms, dist_tags_ms))

    print("(For the repository tabs the API columns are `tags/list?n=100` of the same repository.)")
    print()
    print("| page | portal (ms) | portal page (KB) | Berth `_catalog` (ms) "
          "| Distribution `_catalog` (ms) | Distribution / portal |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, ms, size, api_ms, dist_ms in rows:
        api_cell = f"{api_ms:.2f}" if api_ms is not None else ""
        dist_cell = f"{dist_ms:.1f}" if dist_ms is not None else ""
        ratio = "" if dist_ms is None else f"{dist_ms / ms:.0f}" if dist_ms >= 10 * ms else f"{dist_ms / ms:.2f}"
        print(f"| {label} | {ms:.2f} | {size / 1024:.1f} | {api_cell} | {dist_cell} | {ratio} |")


def main():
    command, args = sys.argv[1], sys.argv[2:]
    {"seed-distribution": seed_distribution, "seed-berth": seed_berth, "seed-repository": seed_repository,
     "pages": pages}[command](*args)


if __name__ == "__main__":
    main()
