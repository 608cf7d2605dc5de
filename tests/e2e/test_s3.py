"""Blobs in S3: the backend against a real Ceph RADOS Gateway.

The session's cluster (cephrgw.py) gives each stack a bucket of its own;
outage tests start a cluster of their own so that stopping its gateway
disturbs nobody else. What is checked here is what a file store cannot
show: objects named by their hash in the bucket, signing that a strict
server accepts (and a wrong secret that it refuses, with nothing stored),
multipart uploads, the local cache the web server sends from, presigned
redirects, outages answered 5xx in bounded time by processes that serve
again afterwards, and the admin tool on the bucket.
"""
import hashlib
import http.server
import io
import os
import re
import signal
import threading
import time

import pytest
import requests
from PIL import Image

import cephrgw

V1 = "/_matrix/client/v1/media"
V3 = "/_matrix/media/v3"


def sha(data):
    return hashlib.sha256(data).hexdigest()


def unique(tag=b""):
    return tag + os.urandom(2000)


def png(w=200, h=150):
    out = io.BytesIO()
    Image.new("RGB", (w, h), (200, 30, 90)).save(out, "PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def rgw():
    return cephrgw.session_rgw()


def s3_stack(make_stack, rgw, extra=(), secret=cephrgw.SECRET_KEY,
             bucket=None):
    if bucket is None:
        bucket, _ = cephrgw.session_bucket()
    s = make_stack(cephrgw.config_lines(rgw, bucket, secret) + list(extra))
    s.s3_bucket = bucket
    return s


def cache_path(stack, h):
    store = stack.admin("config-get", "media_store_path").stdout.strip()
    return os.path.join(store, "s3cache", h[:2], h[2:4], h)


def download(stack, mid, prefix=V3, headers=None, **kw):
    return requests.get(stack.url("%s/download/%s/%s" % (
        prefix, stack.server_name, mid)), headers=headers, timeout=30, **kw)


def assert_5xx_matrix(r):
    assert 500 <= r.status_code <= 599, (r.status_code, r.text)
    assert r.json()["errcode"] == "M_UNKNOWN", r.text


def tmp_files(stack):
    store = stack.admin("config-get", "media_store_path").stdout.strip()
    tmp = os.path.join(store, "tmp")
    return os.listdir(tmp) if os.path.isdir(tmp) else []


def test_objects_named_by_hash_stored_once_served_from_cache(
        make_stack, rgw):
    s = s3_stack(make_stack, rgw)
    data = unique(b"once")
    a = s.upload(data, "text/plain")
    b = s.upload(data, "text/plain")
    assert a != b
    assert rgw.list_keys(s.s3_bucket) == [sha(data)]
    # The uploaded bytes became the cached copy the web server sends.
    assert os.path.exists(cache_path(s, sha(data)))
    r = download(s, a)
    assert r.status_code == 200 and r.content == data
    # Without the copy it is fetched again from the bucket.
    os.unlink(cache_path(s, sha(data)))
    r = download(s, b)
    assert r.status_code == 200 and r.content == data
    assert os.path.exists(cache_path(s, sha(data)))
    assert tmp_files(s) == []


def test_range_requests_from_s3(make_stack, rgw):
    s = s3_stack(make_stack, rgw)
    data = os.urandom(100000)
    mid = s.upload(data)
    os.unlink(cache_path(s, sha(data)))
    r = download(s, mid, headers={"Range": "bytes=1000-1999"})
    assert r.status_code == 206
    assert r.content == data[1000:2000]
    assert r.headers["Content-Range"] == "bytes 1000-1999/100000"
    r = download(s, mid, headers={"Range": "bytes=-10"})
    assert r.status_code == 206 and r.content == data[-10:]


def test_programs_stream_from_s3_without_cache(make_stack, rgw):
    """s3_cache_max_bytes = 0: no copies; Range GETs to the bucket."""
    s = s3_stack(make_stack, rgw, ["s3_cache_max_bytes = 0"])
    data = os.urandom(3 * 1024 * 1024 + 17)
    mid = s.upload(data)
    assert not os.path.exists(cache_path(s, sha(data)))
    r = download(s, mid)
    assert r.status_code == 200 and r.content == data
    r = download(s, mid, headers={"Range": "bytes=2097150-2097160"})
    assert r.status_code == 206 and r.content == data[2097150:2097161]
    # Thumbnails read the blob through a private copy.
    img = s.upload(png(), "image/png")
    r = requests.get(s.url(V3 + "/thumbnail/%s/%s?width=32&height=32"
                           % (s.server_name, img)), timeout=30)
    assert r.status_code == 200
    assert Image.open(io.BytesIO(r.content)).size[0] <= 200
    assert not os.path.isdir(os.path.join(
        s.admin("config-get", "media_store_path").stdout.strip(),
        "s3cache", sha(data)[:2]))


def test_cache_is_bounded(make_stack, rgw):
    s = s3_stack(make_stack, rgw, ["s3_cache_max_bytes = 300K"])
    blobs = [os.urandom(100 * 1024) for _ in range(6)]
    mids = [s.upload(b) for b in blobs]
    # Copies younger than the eviction grace stay (the web server may be
    # about to open them): past the limit for now.
    present = [os.path.exists(cache_path(s, sha(b))) for b in blobs]
    assert all(present)
    for i, b in enumerate(blobs):
        os.utime(cache_path(s, sha(b)), (1000 + i, 1000 + i))
    # The next copy brings the cache under the limit, oldest first.
    blobs.append(os.urandom(100 * 1024))
    mids.append(s.upload(blobs[-1]))
    present = [os.path.exists(cache_path(s, sha(b))) for b in blobs]
    assert sum(present) * 100 * 1024 <= 300 * 1024, present
    assert present[-1] and not present[0]
    for mid, b in zip(mids, blobs):
        assert download(s, mid).content == b


def test_large_upload_goes_up_in_parts(make_stack, rgw):
    s = s3_stack(make_stack, rgw, ["s3_part_size = 5M"])
    data = os.urandom(12 * 1024 * 1024 + 5)      # parts of 5, 5 and 2 MiB
    mid = s.upload(data)
    assert rgw.list_keys(s.s3_bucket) == [sha(data)]
    status, body = rgw.curl("GET", "/%s/%s" % (s.s3_bucket, sha(data)))
    assert status == 200 and body == data
    # A multipart object's ETag names its parts: "...-3".
    status, _ = rgw.curl("HEAD", "/%s/%s" % (s.s3_bucket, sha(data)),
                         extra=["-I"])
    assert status == 200
    os.unlink(cache_path(s, sha(data)))
    r = download(s, mid)
    assert r.status_code == 200 and r.content == data
    assert tmp_files(s) == []


def health(stack):
    return requests.get(stack.url("/health"), timeout=30)


def test_wrong_secret_is_5xx_and_stores_nothing(make_stack, rgw):
    good = s3_stack(make_stack, rgw)
    data = unique(b"known")
    mid = good.upload(data)
    os.unlink(cache_path(good, sha(data)))
    bad = s3_stack(make_stack, rgw, secret="not-the-secret",
                   bucket=good.s3_bucket)
    r = requests.post(bad.url(V3 + "/upload"), data=unique(b"refused"),
                      headers=bad.auth(bad.token), timeout=30)
    assert_5xx_matrix(r)
    assert "SignatureDoesNotMatch" in r.json()["error"]
    # A load balancer takes the misconfigured host out, not the good one.
    assert health(good).status_code == 200
    r = health(bad)
    assert r.status_code == 503, r.text
    assert r.json()["errcode"] == "M_UNKNOWN"
    assert rgw.list_keys(good.s3_bucket) == [sha(data)]
    assert tmp_files(bad) == []
    # Reading with it fails the same way, not as a missing file.
    bad.admin("media", "info", "mxc://%s/%s" % (good.server_name, mid),
              check=False)
    assert download(good, mid).content == data


def test_presigned_redirects(make_stack, rgw):
    s = s3_stack(make_stack, rgw, ["s3_presigned_redirect = true",
                                   "s3_presigned_expiry = 3s"])
    data = unique(b"presigned")
    mid = s.upload(data, "text/plain")
    auth = s.auth(s.token)
    r = download(s, mid, prefix=V1, headers=auth, allow_redirects=False)
    assert r.status_code == 307, r.text
    url = r.headers["Location"]
    assert url.startswith(rgw.endpoint + "/%s/%s?" % (s.s3_bucket, sha(data)))
    assert "X-Amz-Expires=3&" in url
    assert r.headers["Cache-Control"] == "no-store"
    got = requests.get(url, timeout=10)
    assert got.status_code == 200 and got.content == data
    # A client following it gets the bytes.
    assert download(s, mid, prefix=V1, headers=auth).content == data
    # Tampered: another signature, or another object, is refused by RGW.
    sig = url[-64:]
    other = "0" if sig[-1] != "0" else "1"
    assert requests.get(url[:-1] + other, timeout=10).status_code == 403
    assert requests.get(url.replace(sha(data), sha(b"x")),
                        timeout=10).status_code == 403
    # Legacy routes send the bytes unless allowed to redirect.
    r = download(s, mid, allow_redirects=False)
    assert r.status_code == 200 and r.content == data
    r = requests.get(s.url(V3 + "/download/%s/%s?allow_redirect=true" % (
        s.server_name, mid)), allow_redirects=False, timeout=10)
    assert r.status_code == 307
    # Thumbnails too.
    img = s.upload(png(), "image/png")
    r = requests.get(s.url(V1 + "/thumbnail/%s/%s?width=32&height=32" % (
        s.server_name, img)), headers=auth, allow_redirects=False,
        timeout=30)
    assert r.status_code == 307
    assert Image.open(io.BytesIO(requests.get(
        r.headers["Location"], timeout=10).content)).size[0] <= 200
    # Expired: refused.
    time.sleep(4.5)
    assert requests.get(url, timeout=10).status_code == 403


def test_presigned_url_on_public_endpoint(make_stack, rgw):
    """s3_public_endpoint: the Location names it, and RGW accepts the
    signature from a client sending its Host (localhost:PORT, while the
    programs reach RGW at 127.0.0.1:PORT)."""
    port = int(rgw.endpoint.rsplit(":", 1)[1])
    public = "http://localhost:%d" % port
    s = s3_stack(make_stack, rgw, ["s3_presigned_redirect = true",
                                   "s3_public_endpoint = " + public])
    data = unique(b"public")
    mid = s.upload(data, "text/plain")
    auth = s.auth(s.token)
    r = download(s, mid, prefix=V1, headers=auth, allow_redirects=False)
    assert r.status_code == 307, r.text
    url = r.headers["Location"]
    assert url.startswith(public + "/%s/%s?" % (s.s3_bucket, sha(data)))
    got = requests.get(url, timeout=10)
    assert got.status_code == 200 and got.content == data
    # The Host is signed: the same URL sent to the internal name (which
    # reaches the same gateway) is refused, as is another signature.
    internal = rgw.endpoint + url[len(public):]
    assert requests.get(internal, timeout=10).status_code == 403
    sig = url[-64:]
    other = "0" if sig[-1] != "0" else "1"
    assert requests.get(url[:-1] + other, timeout=10).status_code == 403
    assert requests.get(url.replace(sha(data), sha(b"x")),
                        timeout=10).status_code == 403
    # Uploads and the cache still go through s3_endpoint.
    assert download(s, mid).content == data


def test_admin_gc_verify_delete_on_the_bucket(make_stack, rgw):
    s = s3_stack(make_stack, rgw)
    shared = unique(b"shared")
    first = s.upload(shared, "text/plain")
    second = s.upload(shared, "text/plain")
    alone = unique(b"alone")
    alone_mid = s.upload(alone, "text/plain")
    orphan = unique(b"orphan")
    b = s.s3_bucket
    assert rgw.curl("PUT", "/%s/%s" % (b, sha(orphan)), data=orphan)[0] == 200
    assert rgw.curl("PUT", "/%s/not-a-blob" % b, data=b"x")[0] == 200

    dry = s.admin("gc", "--dry-run", "--min-age", "0")
    assert "orphan s3://%s/%s" % (b, sha(orphan)) in dry.stdout, dry.stdout
    assert sha(orphan) in rgw.list_keys(b)
    r = s.admin("gc", "--min-age", "0")
    assert "1 stray file" in r.stdout, r.stdout
    keys = rgw.list_keys(b)
    assert sha(orphan) not in keys and "not-a-blob" in keys
    assert sha(shared) in keys and sha(alone) in keys

    # verify re-hashes what the bucket holds, not the local copies.
    assert rgw.curl("PUT", "/%s/%s" % (b, sha(alone)),
                    data=b"rotten bytes")[0] == 200
    r = s.admin("verify", check=False)
    assert r.returncode != 0
    assert "s3://%s/%s" % (b, sha(alone)) in r.stdout + r.stderr
    assert re.search(r"\b1 corrupt", r.stdout), r.stdout
    rgw.curl("DELETE", "/%s/%s" % (b, sha(alone)))
    r = s.admin("verify", check=False)
    assert "missing" in r.stdout and sha(alone) in r.stdout, r.stdout

    # delete keeps bytes another media still has, then removes them.
    s.admin("media", "delete", "mxc://%s/%s" % (s.server_name, first))
    assert sha(shared) in rgw.list_keys(b)
    assert download(s, second).content == shared
    s.admin("media", "delete", "mxc://%s/%s" % (s.server_name, second))
    assert sha(shared) not in rgw.list_keys(b)
    assert not os.path.exists(cache_path(s, sha(shared)))
    s.admin("media", "delete", "mxc://%s/%s" % (s.server_name, alone_mid))


@pytest.fixture
def own_rgw(tmp_path_factory):
    """A cluster of this test's own, to stop and start its gateway."""
    r = cephrgw.CephRGW(tmp_path_factory.mktemp("ceph")).start()
    yield r
    r.stop()


def test_outage_is_5xx_in_bounded_time_then_same_processes_serve(
        make_stack, own_rgw):
    own_rgw.make_bucket("outage")
    s = make_stack(cephrgw.config_lines(own_rgw, "outage", timeout="2s"))
    before = unique(b"before")
    mid = s.upload(before)
    os.unlink(cache_path(s, sha(before)))
    pids = sorted(s.child_pids())

    # A hung gateway: accepts, never answers. 5xx once s3_timeout passes.
    rgw_pid = own_rgw.procs["rgw"].pid
    os.kill(rgw_pid, signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        r = requests.post(s.url(V3 + "/upload"), data=unique(b"hung"),
                          headers=s.auth(s.token), timeout=30)
        assert_5xx_matrix(r)
        t1 = time.monotonic()
        assert t1 - t0 < 10, t1 - t0
        assert_5xx_matrix(download(s, mid))
        assert time.monotonic() - t1 < 10
    finally:
        os.kill(rgw_pid, signal.SIGCONT)
    assert download(s, mid).content == before

    # A dead one: refused at once; a new one on the same port is used.
    assert health(s).status_code == 200
    own_rgw.kill_rgw()
    os.unlink(cache_path(s, sha(before)))
    r = health(s)
    assert r.status_code == 503, r.text
    assert "S3" in r.json()["error"]
    t0 = time.monotonic()
    assert_5xx_matrix(download(s, mid))
    lost = unique(b"lost")
    r = requests.post(s.url(V3 + "/upload"), data=lost,
                      headers=s.auth(s.token), timeout=30)
    assert_5xx_matrix(r)
    assert time.monotonic() - t0 < 10
    own_rgw.start_rgw()
    assert health(s).status_code == 200
    assert download(s, mid).content == before
    after = unique(b"after")
    assert download(s, s.upload(after)).content == after
    # Nothing of the failed uploads became visible.
    keys = own_rgw.list_keys("outage")
    assert sha(lost) not in keys and sorted(keys) == sorted(
        [sha(before), sha(after)])
    assert tmp_files(s) == []
    assert sorted(s.child_pids()) == pids


def start_upload(rgw, bucket, key, part=b""):
    """An unfinished multipart upload of key, as a killed process leaves
    one (with a part stored when part is given): its upload id."""
    status, body = rgw.curl("POST", "/%s/%s?uploads=" % (bucket, key),
                            data=b"")
    assert status == 200, body
    upload_id = re.search(r"<UploadId>([^<]+)</UploadId>",
                          body.decode()).group(1)
    if part:
        status, body = rgw.curl("PUT", "/%s/%s?partNumber=1&uploadId=%s" % (
            bucket, key, upload_id), data=part)
        assert status == 200, body
    return upload_id


def unfinished_uploads(rgw, bucket):
    """{(key, upload id)} of the bucket's unfinished multipart uploads."""
    status, body = rgw.curl("GET", "/%s?uploads=" % bucket)
    assert status == 200, body
    return set(re.findall(r"<Key>([^<]*)</Key>\s*<UploadId>([^<]*)</UploadId>",
                          body.decode()))


def test_gc_aborts_abandoned_multipart_uploads(make_stack, rgw):
    """Parts of an upload whose process died stay in the bucket until
    aborted: gc aborts those of blob keys begun --upload-min-age ago,
    and leaves younger ones (possibly live), other keys' and the blobs."""
    s = s3_stack(make_stack, rgw, ["s3_part_size = 5M"])
    b = s.s3_bucket
    small = unique(b"kept")
    large = os.urandom(6 * 1024 * 1024)
    mids = [s.upload(small), s.upload(large)]
    old_key = sha(unique(b"abandoned"))
    old = (old_key, start_upload(rgw, b, old_key, part=os.urandom(4096)))
    foreign = ("backups/not-ours", start_upload(rgw, b, "backups/not-ours"))
    started = time.monotonic()
    assert {old, foreign} <= unfinished_uploads(rgw, b)

    # The default grace (2 days) spares every upload there is.
    r = s.admin("gc", "--min-age", "0")
    assert "aborted 0 unfinished uploads, kept 1 younger than the upload " \
        "minimum age, 1 of other keys" in r.stdout, r.stdout
    assert {old, foreign} <= unfinished_uploads(rgw, b)

    time.sleep(max(0, 7 - (time.monotonic() - started)))
    dry = s.admin("gc", "--dry-run", "--upload-min-age", "6s")
    assert "unfinished upload s3://%s/%s (upload id %s)" % (
        b, old_key, old[1]) in dry.stdout, dry.stdout
    assert "not-ours" not in dry.stdout
    assert "found 1 unfinished upload," in dry.stdout, dry.stdout
    assert {old, foreign} <= unfinished_uploads(rgw, b)

    fresh_key = sha(unique(b"in flight"))
    fresh = (fresh_key, start_upload(rgw, b, fresh_key))
    r = s.admin("gc", "--upload-min-age", "6s")
    assert "aborted 1 unfinished upload, kept 1 younger than the upload " \
        "minimum age, 1 of other keys" in r.stdout, r.stdout
    left = unfinished_uploads(rgw, b)
    assert old not in left, left
    assert fresh in left and foreign in left, left
    # The blobs, one of them stored in parts, are all still served.
    assert sorted(rgw.list_keys(b)) == sorted([sha(small), sha(large)])
    for mid, data in zip(mids, (small, large)):
        os.unlink(cache_path(s, sha(data)))
        assert download(s, mid).content == data
    for key, upload_id in (fresh, foreign):
        rgw.curl("DELETE", "/%s/%s?uploadId=%s" % (b, key, upload_id))


class _FakeBucket(http.server.BaseHTTPRequestHandler):
    """A bucket whose listing gives one unreferenced blob an unreadable
    LastModified; every request is recorded (a real gateway cannot be
    made to send such a date)."""
    protocol_version = "HTTP/1.1"
    blob = "ab" * 32

    def _send(self, status, body=b""):
        self.server.seen.append((self.command, self.path))
        self.send_response(status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self):
        if "list-type=2" in self.path:
            self._send(200, (
                '<?xml version="1.0" encoding="UTF-8"?><ListBucketResult>'
                "<IsTruncated>false</IsTruncated><Contents><Key>%s</Key>"
                "<LastModified>not a date</LastModified><Size>5</Size>"
                "</Contents></ListBucketResult>" % self.blob).encode())
        elif "uploads" in self.path:
            self._send(200, b'<?xml version="1.0" encoding="UTF-8"?>'
                       b"<ListMultipartUploadsResult><IsTruncated>false"
                       b"</IsTruncated></ListMultipartUploadsResult>")
        else:
            self._send(404)

    def do_HEAD(self):
        self._send(200)

    def do_DELETE(self):
        self._send(204)

    def log_message(self, *args):
        pass


def test_gc_keeps_a_blob_whose_age_is_unreadable(make_stack):
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FakeBucket)
    httpd.seen = []
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    try:
        s = make_stack([
            "s3_endpoint = http://127.0.0.1:%d" % httpd.server_address[1],
            "s3_bucket = fake", "s3_region = " + cephrgw.REGION,
            "s3_access_key_id = " + cephrgw.ACCESS_KEY,
            "s3_secret_access_key = " + cephrgw.SECRET_KEY,
            "s3_connect_timeout = 1s", "s3_timeout = 5s"])
        r = s.admin("gc", "--min-age", "1h", check=False)
        assert any("list-type=2" in p for _, p in httpd.seen), httpd.seen
        # An unknown age is not an old one: the blob is left alone.
        assert not any(m == "DELETE" for m, _ in httpd.seen), httpd.seen
        assert re.search(r"\b1 younger than the minimum age", r.stdout), \
            r.stdout + r.stderr
    finally:
        httpd.shutdown()
        httpd.server_close()
        t.join(timeout=10)
