"""enable_authenticated_media: the spec's freeze of unauthenticated media.

Media uploaded while the setting is on is served only on the authenticated
/_matrix/client/v1 routes; the legacy and MSC1902 routes answer 404, as
Synapse does. Media from before the freeze stays reachable everywhere.
"""
import requests

LEGACY = ["/_matrix/media/v3", "/_matrix/media/r0", "/_matrix/client/r0/media",
          "/_matrix/client/unstable/org.matrix.msc1902/media"]


def download(s, prefix, media_id, token=None):
    headers = s.auth(token) if token else {}
    return requests.get(s.url("%s/download/%s/%s" % (prefix, s.server_name,
                                                       media_id)),
                        headers=headers, timeout=10)


def test_frozen_media_only_on_authenticated_route(make_stack):
    s = make_stack(["enable_authenticated_media = true"])
    media_id = s.upload(b"frozen bytes", "text/plain")
    for prefix in LEGACY:
        r = download(s, prefix, media_id)
        assert r.status_code == 404, prefix
        assert r.json()["errcode"] == "M_NOT_FOUND"
    r = download(s, "/_matrix/client/v1/media", media_id, s.token)
    assert r.status_code == 200
    assert r.content == b"frozen bytes"


def test_media_from_before_the_freeze_stays_public(make_stack):
    s = make_stack()
    media_id = s.upload(b"old bytes", "text/plain")
    for prefix in LEGACY:
        assert download(s, prefix, media_id).status_code == 200
    r = download(s, "/_matrix/client/v1/media", media_id, s.token)
    assert r.content == b"old bytes"


def test_async_upload_is_frozen_too(make_stack):
    s = make_stack(["enable_authenticated_media = true"])
    r = requests.post(s.url("/_matrix/media/v1/create"),
                      headers=s.auth(s.token), timeout=10)
    media_id = r.json()["content_uri"].rsplit("/", 1)[1]
    r = requests.put(s.url("/_matrix/media/v3/upload/%s/%s" % (s.server_name,
                                                              media_id)),
                     data=b"later", headers=s.auth(s.token), timeout=10)
    assert r.status_code == 200
    assert download(s, "/_matrix/media/v3", media_id).status_code == 404
    assert download(s, "/_matrix/client/v1/media", media_id,
                    s.token).content == b"later"
