"""oras-py (PyPI `oras`) with its default token backend against Berth: it reads the Bearer
challenge, signs in at the realm with Basic credentials and retries with the token.
usage: oras_push.py HOST:PORT USER PASSWORD WORKDIR   (prints OK on success)"""
import os
import sys

import oras.client

host, user, password, work = sys.argv[1:5]
c = oras.client.OrasClient(hostname=host, insecure=True, tls_verify=False, auth_backend="token")
c.auth.set_basic_auth(user, password)
os.chdir(work)  # push() takes only files under the working directory
with open("sbom.json", "w") as f:
    f.write('{"bomFormat": "CycloneDX"}')
r = c.push(target=f"{host}/artifacts/sbom:v1", files=["sbom.json:application/vnd.example.sbom+json"])
assert r.status_code == 201, r.status_code
files = c.pull(target=f"{host}/artifacts/sbom:v1", outdir=os.path.join(work, "out"))
assert [os.path.basename(p) for p in files] == ["sbom.json"], files
assert open(files[0]).read() == '{"bomFormat": "CycloneDX"}'
assert c.get_tags(f"{host}/artifacts/sbom") == ["v1"]
print("OK")
