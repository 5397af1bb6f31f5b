"""Helper for bench/growth.sh (standard library only): seeds a stopped registry with images
straight into its storage, and times pushes of new blobs and new manifests.

An image here is a layer blob of its own (~40 bytes), a manifest naming it and the one config
all images share, and a tag: the registry's size is its number of images (N blobs, N manifests).
Images are spread over repositories of 1,000.

usage: growth.py COMMAND ARGS...
  seed-berth DATA_DIR FROM TO   images FROM..TO-1 into a stopped Berth's SQLite database and its
                                filesystem blob store (rows and objects, as pushes leave them;
                                the usage counters set to the new sums)
  seed-dist ROOT FROM TO        images FROM..TO-1 into a stopped Distribution's filesystem
                                storage (the layout its pushes write: blob data, layer,
                                revision and tag links)
  blobs HOST:PORT REPO COUNT    COUNT new blobs, POST then PUT ?digest=, one connection;
                                prints pushes per second
  manifests HOST:PORT REPO COUNT  a config and a layer, then COUNT new manifests (each a
                                digest the registry has not seen) PUT by tag; prints PUTs per second
"""
import hashlib
import json
import os
import sqlite3
import sys
import time

from load import MANIFEST, blob, check, conn

CONFIG = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}).encode()
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar"
PER_REPO = 1000


def sha(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def image(k):
    """(repository, tag, layer bytes, manifest bytes) of seeded image k."""
    layer = f"seeded layer {k:09d}".encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": MANIFEST,
        "config": {"mediaType": CONFIG_TYPE, "digest": sha(CONFIG), "size": len(CONFIG)},
        "layers": [{"mediaType": LAYER_TYPE, "digest": sha(layer), "size": len(layer)}],
    }).encode()
    return f"seed/r{k // PER_REPO:04d}", f"t{k:09d}", layer, manifest


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def seed_berth(data_dir, first, end):
    store = os.path.join(data_dir, "storage", "blobs", "sha256")
    db = sqlite3.connect(os.path.join(data_dir, "berth.db"))
    now = int(time.time() * 1000)
    cfg = sha(CONFIG)
    write(os.path.join(store, cfg[7:9], cfg[7:]), CONFIG)
    db.execute("INSERT OR IGNORE INTO blobs (digest, size, created_at, touched_at) VALUES (?, ?, ?, ?)",
               (cfg, len(CONFIG), now, now))
    for batch in range(first, end, 100_000):
        repos, blobs, links, manifests, refs, tags = set(), [], [], [], [], []
        for k in range(batch, min(end, batch + 100_000)):
            repo, tag, layer, manifest = image(k)
            ld, md = sha(layer), sha(manifest)
            write(os.path.join(store, ld[7:9], ld[7:]), layer)
            repos.add(repo)
            blobs.append((ld, len(layer), now, now))
            links += [(repo, ld, now), (repo, cfg, now)]
            manifests.append((repo, md, MANIFEST, manifest, len(manifest), cfg, now, now, "amd64", "linux"))
            refs += [(repo, md, cfg, "blob"), (repo, md, ld, "blob")]
            tags.append((repo, tag, md, now, now))
        db.executemany("INSERT OR IGNORE INTO repositories (name, created_at, updated_at) VALUES (?, ?, ?)",
                       [(r, now, now) for r in sorted(repos)])
        db.executemany("INSERT INTO blobs (digest, size, created_at, touched_at) VALUES (?, ?, ?, ?)", blobs)
        db.executemany("INSERT OR IGNORE INTO repository_blobs (repository, digest, created_at) VALUES (?, ?, ?)",
                       links)
        db.executemany("""INSERT INTO manifests (repository, digest, media_type, content, size, config_digest,
                          created_at, updated_at, architecture, os) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                       manifests)
        db.executemany("INSERT INTO manifest_refs (repository, manifest_digest, ref_digest, kind) VALUES (?, ?, ?, ?)",
                       refs)
        db.executemany("""INSERT INTO tags (repository, name, manifest_digest, created_at, updated_at)
                          VALUES (?, ?, ?, ?, ?)""", tags)
        db.commit()
    # Berth before 0008 has no counters (its pushes sum the tables instead).
    if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'usage_counters'").fetchone():
        db.execute("UPDATE usage_counters SET value = (SELECT COALESCE(SUM(size), 0) FROM blobs) WHERE name = 'blob_bytes'")
        db.execute("""UPDATE usage_counters SET value = (SELECT COALESCE(SUM(size), 0)
                      FROM (SELECT MAX(size) AS size FROM manifests GROUP BY digest)) WHERE name = 'manifest_bytes'""")
    db.commit()
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


def seed_dist(root, first, end):
    v2 = os.path.join(root, "docker", "registry", "v2")

    def data(digest, content):
        write(os.path.join(v2, "blobs", "sha256", digest[7:9], digest[7:], "data"), content)

    def link(repo, *parts, digest):
        write(os.path.join(v2, "repositories", repo, *parts, "link"), digest.encode())

    cfg = sha(CONFIG)
    data(cfg, CONFIG)
    for k in range(first, end):
        repo, tag, layer, manifest = image(k)
        ld, md = sha(layer), sha(manifest)
        data(ld, layer)
        data(md, manifest)
        for d in (cfg, ld):
            link(repo, "_layers", "sha256", d[7:], digest=d)
        link(repo, "_manifests", "revisions", "sha256", md[7:], digest=md)
        link(repo, "_manifests", "tags", tag, "current", digest=md)
        link(repo, "_manifests", "tags", tag, "index", "sha256", md[7:], digest=md)


def push_blobs(host, repo, count):
    c = conn(host)
    salt = os.urandom(8).hex()
    start = time.perf_counter()
    for i in range(count):
        blob(c, repo, f"new blob {salt} {i:09d}".encode() * 4)
    return count / (time.perf_counter() - start)


def push_manifests(host, repo, count):
    c = conn(host)
    salt = os.urandom(8).hex()
    cd, ld = blob(c, repo, CONFIG), blob(c, repo, f"layer {salt}".encode())
    start = time.perf_counter()
    for i in range(count):
        body = json.dumps({
            "schemaVersion": 2, "mediaType": MANIFEST,
            "config": {"mediaType": CONFIG_TYPE, "digest": cd, "size": len(CONFIG)},
            "layers": [{"mediaType": LAYER_TYPE, "digest": ld, "size": len(f"layer {salt}")}],
            "annotations": {"n": f"{salt} {i:09d}"},
        }).encode()
        c.request("PUT", f"/v2/{repo}/manifests/m{i:09d}", body=body, headers={"Content-Type": MANIFEST})
        check(c.getresponse(), 201, what=f"PUT /v2/{repo}/manifests/m{i:09d}")
    return count / (time.perf_counter() - start)


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "seed-berth":
        seed_berth(args[0], int(args[1]), int(args[2]))
    elif cmd == "seed-dist":
        seed_dist(args[0], int(args[1]), int(args[2]))
    elif cmd == "blobs":
        print(f"{push_blobs(args[0], args[1], int(args[2])):.0f}")
    elif cmd == "manifests":
        print(f"{push_manifests(args[0], args[1], int(args[2])):.0f}")
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
