"""Registry client for bench/run.sh: blob pushes (monolithic and chunked), manifest PUTs, and
timed listing requests over keep-alive HTTP/1.1. Standard library only.

usage: load.py HOST:PORT COMMAND ARGS...   (prints one number, or a digest)
"""
import hashlib
import http.client
import json
import os
import statistics
import sys
import time
import urllib.parse

CHUNK = 1 << 20


def conn(host):
    h, p = host.split(":")
    return http.client.HTTPConnection(h, int(p), timeout=300)


def check(res, *ok):
    body = res.read()
    if res.status not in ok:
        sys.exit(f"unexpected {res.status}: {body[:300]!r}")
    return body


def session(c, repo):
    c.request("POST", f"/v2/{repo}/blobs/uploads/")
    res = c.getresponse()
    check(res, 202)
    return path_of(res.getheader("Location"))


def path_of(location):
    """Path and query of a Location header (Distribution sends absolute URLs, Berth paths)."""
    u = urllib.parse.urlsplit(location)
    return u.path + (f"?{u.query}" if u.query else "")


def with_digest(loc, digest):
    return f"{loc}{'&' if '?' in loc else '?'}digest={digest}"


def file_digest(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK * 8):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def push(host, repo, path, chunk_mib=0):
    """Pushes a file as a blob; prints the seconds the upload took (hashing the file excluded)."""
    digest, size = file_digest(path), os.path.getsize(path)
    c = conn(host)
    loc = session(c, repo)
    start = time.perf_counter()
    with open(path, "rb") as f:
        if chunk_mib:
            step, offset = chunk_mib << 20, 0
            while offset < size:
                data = f.read(step)
                c.request("PATCH", loc, body=data, headers={
                    "Content-Type": "application/octet-stream",
                    "Content-Range": f"{offset}-{offset + len(data) - 1}"})
                res = c.getresponse()
                check(res, 202)
                loc = path_of(res.getheader("Location"))
                offset += len(data)
            c.request("PUT", with_digest(loc, digest), body=b"")
        else:
            c.request("PUT", with_digest(loc, digest), body=f,
                      headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)})
        check(c.getresponse(), 201)
    print(f"{time.perf_counter() - start:.4f} {digest}")


def blob(c, repo, data):
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    loc = session(c, repo)
    c.request("PUT", with_digest(loc, digest), body=data, headers={"Content-Type": "application/octet-stream"})
    check(c.getresponse(), 201)
    return digest


def manifest(c, repo):
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    layer = repo.encode() * 64
    cd, ld = blob(c, repo, config), blob(c, repo, layer)
    return json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": ld, "size": len(layer)}],
    }).encode()


def put_manifest(c, repo, ref, body):
    c.request("PUT", f"/v2/{repo}/manifests/{ref}", body=body,
              headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
    check(c.getresponse(), 201)


def manifests(host, repo, count):
    """PUTs the same manifest under `count` tags; prints PUTs per second."""
    c = conn(host)
    body = manifest(c, repo)
    start = time.perf_counter()
    for i in range(int(count)):
        put_manifest(c, repo, f"t{i:05d}", body)
    print(f"{int(count) / (time.perf_counter() - start):.0f}")


def repos(host, prefix, count):
    """Creates `count` repositories with one tagged manifest each; prints the manifest digest of the last."""
    c = conn(host)
    for i in range(int(count)):
        body = manifest(c, f"{prefix}{i:04d}")
        put_manifest(c, f"{prefix}{i:04d}", "latest", body)
    print("sha256:" + hashlib.sha256(body).hexdigest())


def timed_get(host, path, runs="20"):
    """Median milliseconds of GET `path`."""
    c = conn(host)
    times = []
    for _ in range(int(runs)):
        start = time.perf_counter()
        c.request("GET", path)
        check(c.getresponse(), 200)
        times.append((time.perf_counter() - start) * 1000)
    print(f"{statistics.median(times):.2f}")


def loopback(_host, gib="4"):
    """The machine's loopback TCP throughput in MB/s, one stream, as a ceiling for the rest."""
    import socket
    import threading
    total, buf = int(gib) << 30, bytearray(1 << 20)
    server = socket.create_server(("127.0.0.1", 0))

    def sink():
        c, _ = server.accept()
        into = memoryview(bytearray(1 << 20))
        while c.recv_into(into):
            pass

    reader = threading.Thread(target=sink)
    reader.start()
    client = socket.create_connection(server.getsockname())
    start = time.perf_counter()
    for _ in range(total // len(buf)):
        client.sendall(buf)
    client.close()
    reader.join()
    print(f"{total / (time.perf_counter() - start) / 1e6:.0f}")


if __name__ == "__main__":
    host, command, *args = sys.argv[1:]
    {"push": lambda: push(host, args[0], args[1], int(args[2]) if len(args) > 2 else 0),
     "manifests": lambda: manifests(host, *args),
     "repos": lambda: repos(host, *args),
     "get": lambda: timed_get(host, *args),
     "loopback": lambda: loopback(host, *args)}[command]()
