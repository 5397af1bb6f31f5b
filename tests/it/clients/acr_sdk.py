"""Drives Berth with Microsoft's own ACR SDK (azure-containerregistry), unchanged.

Usage: acr_sdk.py ENDPOINT USER PASSWORD CA_FILE
The SDK authenticates through /oauth2/exchange with a token from its credential; ACR gets
that token from Entra ID, here BerthCredential gets a refresh token from Berth's own token
server (`az acr login --expose-token` gives the same), good for the whole data plane.
Prints one JSON object of what the SDK saw.
"""
import io
import json
import ssl
import sys
import time
import urllib.parse
import urllib.request

from azure.containerregistry import ArtifactTagOrder, ContainerRegistryClient
from azure.core.credentials import AccessToken

endpoint, user, password, ca = sys.argv[1:5]
host = endpoint.split("://", 1)[1]
tls = ssl.create_default_context(cafile=ca)


class BerthCredential:
    """A TokenCredential whose token is a refresh token Berth issued for a password."""

    def get_token(self, *scopes, **kwargs):
        form = urllib.parse.urlencode(
            {"grant_type": "password", "service": host, "username": user, "password": password}
        ).encode()
        req = urllib.request.Request(f"{endpoint}/oauth2/exchange", data=form)
        with urllib.request.urlopen(req, context=tls) as res:
            body = json.load(res)
        return AccessToken(body["refresh_token"], int(time.time()) + 3 * 3600)


client = ContainerRegistryClient(endpoint, BerthCredential(), audience="https://containerregistry.azure.net")
out = {"repositories": list(client.list_repository_names())}
repo = client.get_repository_properties("team/app")
out["repository"] = {
    "name": repo.name,
    "manifest_count": repo.manifest_count,
    "tag_count": repo.tag_count,
    "can_delete": repo.can_delete,
    "created_on": repo.created_on.isoformat(),
}
order = ArtifactTagOrder.LAST_UPDATED_ON_DESCENDING
out["tags_newest_first"] = [t.name for t in client.list_tag_properties("team/app", order_by=order)]
out["manifests"] = [
    {
        "digest": m.digest,
        "tags": m.tags,
        "architecture": getattr(m.architecture, "value", m.architecture),
        "os": getattr(m.operating_system, "value", m.operating_system),
        "size": m.size_in_bytes,
    }
    for m in client.list_manifest_properties("team/app")
]
tag = client.update_tag_properties("team/app", "v1", can_write=False)
out["v1_can_write"] = tag.can_write
out["v1_digest"] = client.get_manifest_properties("team/app", "v1").digest
# Several MiB in the SDK's own chunks: each chunk goes out once without credentials first.
data = bytes(i % 251 for i in range(5 << 20))
digest, size = client.upload_blob("team/upload", io.BytesIO(data))
back = b"".join(client.download_blob("team/upload", digest))
out["uploaded"] = {"digest": digest, "size": size, "whole": back == data}
client.delete_tag("team/app", "v2")
client.delete_repository("other")
out["repositories_after"] = list(client.list_repository_names())
out["tags_after"] = [t.name for t in client.list_tag_properties("team/app")]
print(json.dumps(out))
