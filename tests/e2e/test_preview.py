"""URL previews end to end (spec.md 6): preview_url.fcgi against a fixture
web server (webfixture.py) on 127.0.0.2, the one loopback address the
preview stack may reach (url_preview_ip_range_whitelist = 127.0.0.2/32);
127.0.0.1 and the rest of 127.0.0.0/8 stay blocked by Synapse's list.

A second server, the canary, listens on every address ([::] dual stack,
so 127.0.0.1, 127.0.0.3, ::1, 0.0.0.0 and :: all reach it) and answers
every path with a page titled "canary". The SSRF table asks for it by
each forbidden spelling, directly, through a redirect and as og:image:
each must be refused and the canary must see no request at all. Its
reachability through the allowed 127.0.0.2 shows that a refusal comes
from the policy, not from the network.

The module's preview stack (`pv`) has url_preview_timeout = 2s, a custom
Accept-Language, an oEmbed providers file naming the fixture server and
URL blacklist rules by host glob, port, scheme and path.
"""
import base64
import concurrent.futures
import gzip
import hashlib
import io
import json
import os
import re
import socket
import sqlite3
import subprocess
import time
import urllib.parse

import pytest
import requests
from PIL import Image

from conftest import ADMIN, Stack
from webfixture import Page, WebServer, oembed_json

SYNAPSE_BLACKLIST = (
    "127.0.0.0/8, 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 100.64.0.0/10, "
    "192.0.0.0/24, 169.254.0.0/16, 192.88.99.0/24, 198.18.0.0/15, "
    "192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 224.0.0.0/4, ::1/128, "
    "fe80::/10, fc00::/7, 2001:db8::/32, ff00::/8, fec0::/10")
LANGUAGE = "fr-CH, fr;q=0.9, en;q=0.5"

V1 = "/_matrix/client/v1/media"
PREFIXES = [
    "/_matrix/media/r0",
    "/_matrix/media/v1",
    "/_matrix/media/v3",
    "/_matrix/client/r0/media",
    "/_matrix/client/v1/media",
    "/_matrix/client/unstable/org.matrix.msc1902/media",
]


# --- fixtures ----------------------------------------------------------------

def png(w, h, color):
    buf = io.BytesIO()
    Image.new("RGB", (w, h), color).save(buf, "PNG")
    return buf.getvalue()


def jpeg(w, h, color):
    buf = io.BytesIO()
    Image.new("RGB", (w, h), color).save(buf, "JPEG", quality=90)
    return buf.getvalue()


@pytest.fixture(scope="module")
def web():
    w = WebServer("127.0.0.2")
    yield w
    w.stop()


@pytest.fixture(scope="module")
def blocked_port_server():
    """A second server on 127.0.0.2 whose port is on the URL blacklist."""
    w = WebServer("127.0.0.2", default=Page(b"<title>port</title>"))
    yield w
    w.stop()


@pytest.fixture(scope="module")
def canary():
    w = WebServer("::", default=Page(
        b"<html><head><title>canary</title>"
        b"<meta property='og:title' content='canary'></head></html>"))
    yield w
    w.stop()


@pytest.fixture(scope="module")
def pv(tmp_path_factory, web, blocked_port_server, canary):
    d = tmp_path_factory.mktemp("preview")
    providers = os.path.join(str(d), "providers.json")
    with open(providers, "w") as f:
        json.dump([
            {"provider_name": "Fixture", "endpoints": [{
                "schemes": ["http://127.0.0.2:%d/watch*" % web.port],
                "url": "http://127.0.0.2:%d/oembed" % web.port}]},
            # An endpoint in blocked space: never asked, the page is used.
            {"provider_name": "Inside", "endpoints": [{
                "schemes": ["http://127.0.0.2:%d/inside*" % web.port],
                "url": "http://127.0.0.1:%d/ssrf/oembed" % canary.port}]},
            # A provider whose thumbnail_url points into blocked space.
            {"provider_name": "BadThumb", "endpoints": [{
                "schemes": ["http://127.0.0.2:%d/badthumb*" % web.port],
                "url": "http://127.0.0.2:%d/oembed-badthumb" % web.port}]},
        ], f)
    rules = ", ".join([
        "host=*.blocked.test",
        "port=%d" % blocked_port_server.port,
        "scheme=https host=127.0.0.2",
        "host=127.0.0.2 path=/private/*",
    ])
    s = Stack(os.path.join(str(d), "stack"), [
        "url_preview_enabled = true",
        "url_preview_ip_range_blacklist = " + SYNAPSE_BLACKLIST,
        "url_preview_ip_range_whitelist = 127.0.0.2/32",
        "url_preview_url_blacklist = " + rules,
        "url_preview_accept_language = " + LANGUAGE,
        "url_preview_timeout = 2s",
        "oembed_providers_path = " + providers,
    # 8 processes, 6 of which may wait for a page (README, "Abuse and
    # limits"): room for test_concurrent_requests_make_one_fetch's five.
    ], procs=8)
    yield s
    s.stop()


def preview(s, url, token=None, prefix=V1, ts=None, timeout=30):
    params = {}
    if url is not None:
        params["url"] = url
    if ts is not None:
        params["ts"] = str(ts)
    if token is None:
        token = s.token
    headers = s.auth(token) if token else {}
    return requests.get(s.url(prefix + "/preview_url"), params=params,
                        headers=headers, timeout=timeout)


def ok(r):
    assert r.status_code == 200, (r.status_code, r.text)
    assert r.headers["Content-Type"].startswith("application/json")
    body = r.json()
    assert isinstance(body, dict)
    return body


def matrix_error(r, status, errcode=None):
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers.get("Content-Type", "").startswith("application/json")
    body = r.json()
    assert body.get("errcode", "").startswith("M_"), body
    assert isinstance(body.get("error"), str), body
    if errcode is not None:
        assert body["errcode"] == errcode, body
    return body


def fetch_mxc(s, mxc):
    m = re.fullmatch(r"mxc://([^/]+)/([A-Za-z0-9_-]+)", mxc)
    assert m, mxc
    assert m.group(1) == s.server_name
    r = requests.get(s.url("%s/download/%s/%s" % (V1, m.group(1),
                                                   m.group(2))),
                     headers=s.auth(s.token), timeout=10)
    assert r.status_code == 200, r.text
    return r


def assert_image(s, og, data, ctype, w, h):
    """og carries data as a stored mxc image with the Matrix keys."""
    assert og["og:image"].startswith("mxc://"), og
    assert og["og:image:type"] == ctype, og
    assert og["og:image:width"] == w and og["og:image:height"] == h, og
    assert og["matrix:image:size"] == len(data), og
    r = fetch_mxc(s, og["og:image"])
    assert r.content == data
    assert r.headers["Content-Type"].startswith(ctype)


def assert_no_image(og):
    for k in ("og:image", "og:image:type", "og:image:width",
              "og:image:height", "matrix:image:size"):
        assert k not in og, og


# --- on, off, and the mandatory deny list ------------------------------------

@pytest.mark.parametrize("prefix", PREFIXES)
def test_previews_off_by_default(stack, prefix):
    r = preview(stack, "http://127.0.0.2/", prefix=prefix)
    matrix_error(r, 404, "M_UNRECOGNIZED")


def test_enabled_without_ip_blacklist_refuses_to_start(tmp_path, make_stack):
    conf = str(tmp_path / "mediarepo.conf")
    env = dict(os.environ, MEDIAREPO_CONFIG=conf)
    subprocess.run([ADMIN, "init-config", conf, "localhost:1"], env=env,
                   check=True, capture_output=True)
    with open(conf, "a") as f:
        f.write("url_preview_enabled = true\n")
    p = subprocess.run([ADMIN, "config-get", "url_preview_enabled"], env=env,
                       capture_output=True, text=True)
    assert p.returncode != 0, p.stdout
    assert "url_preview_ip_range_blacklist" in p.stderr, p.stderr
    with pytest.raises(RuntimeError) as e:
        make_stack(["url_preview_enabled = true"])
    assert "url_preview_ip_range_blacklist" in str(e.value)
    # The same config with a deny list is accepted.
    with open(conf, "a") as f:
        f.write("url_preview_ip_range_blacklist = 10.0.0.0/8\n")
    p = subprocess.run([ADMIN, "config-get", "url_preview_enabled"], env=env,
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() in ("true", "1"), p.stdout


# --- prefixes and auth ---------------------------------------------------------

@pytest.mark.parametrize("prefix", PREFIXES)
def test_preview_on_every_prefix(pv, web, prefix):
    tag = prefix.replace("/", "_")
    url = web.add("/prefix/" + tag, "<title>prefix %s</title>" % tag)
    og = ok(preview(pv, url, prefix=prefix))
    assert og["og:title"] == "prefix %s" % tag
    assert web.hits("/prefix/" + tag) == 1


@pytest.mark.parametrize("prefix", PREFIXES)
def test_guests_refused(pv, web, prefix):
    url = web.add("/guest", "<title>guest</title>")
    r = preview(pv, url, token=pv.new_token(guest=True), prefix=prefix)
    matrix_error(r, 403, "M_GUEST_ACCESS_FORBIDDEN")
    assert web.hits("/guest") == 0


@pytest.mark.parametrize("prefix", PREFIXES)
def test_token_required(pv, web, prefix):
    url = web.add("/notoken", "<title>no token</title>")
    matrix_error(preview(pv, url, token="", prefix=prefix), 401,
                 "M_MISSING_TOKEN")
    matrix_error(preview(pv, url, token="nonsense", prefix=prefix), 401,
                 "M_UNKNOWN_TOKEN")
    assert web.hits("/notoken") == 0


# --- bad input ----------------------------------------------------------------

def test_missing_url(pv):
    matrix_error(preview(pv, None), 400, "M_MISSING_PARAM")
    matrix_error(preview(pv, ""), 400, "M_MISSING_PARAM")


@pytest.mark.parametrize("url", [
    "not a url", "http://", "https://", "http:///path", "127.0.0.2",
    "http://127.0.0.2:99999/", "http://127.0.0.2:/", "http://[::1/",
    "http://exa mple.com/", "http://a..b/", "http://user:pw@127.0.0.2/",
    "http://127.0.0.2\\@evil.test/", "http://[fe80::1%25eth0]/",
    "http://256.0.0.1/", "http://1.2.3.4.5/",
])
def test_malformed_url(pv, url):
    matrix_error(preview(pv, url), 400, "M_INVALID_PARAM")


@pytest.mark.parametrize("url", [
    "ftp://127.0.0.2/file", "file:///etc/passwd", "gopher://127.0.0.2:70/",
    "javascript:alert(1)", "data:text/html,<title>x</title>",
    "dict://127.0.0.2:11211/", "ws://127.0.0.2/",
])
def test_only_http_and_https(pv, url):
    matrix_error(preview(pv, url), 400)


@pytest.mark.parametrize("ts", ["abc", "-1", "1.5", "99999999999999999999999"])
def test_bad_ts(pv, web, ts):
    url = web.add("/badts", "<title>ts</title>")
    matrix_error(preview(pv, url, ts=ts), 400, "M_INVALID_PARAM")
    assert web.hits("/badts") == 0


def test_overlong_url(pv, web):
    web.add("/long", "<title>long</title>")
    url = web.url("/long?" + "a" * 2100)
    matrix_error(preview(pv, url), 400, "M_INVALID_PARAM")
    assert web.hits("/long", prefix=True) == 0


def test_non_ascii_path_sent_percent_encoded(pv, web):
    web.add("/caf%C3%A9", "<title>cafe</title>")
    og = ok(preview(pv, web.url("/caf\u00e9")))
    assert og["og:title"] == "cafe"
    assert web.hits("/caf%C3%A9") == 1


def test_dns_failure_is_502(pv):
    matrix_error(preview(pv, "http://nonexistent.invalid/"), 502)


# --- SSRF ---------------------------------------------------------------------

# Hosts that are IP addresses in some spelling: refused before connecting.
LITERALS = [
    "127.0.0.1", "127.0.0.3", "127.1", "127.0.0.1.", "[::1]", "10.0.0.1",
    "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1",
    "198.18.0.1", "224.0.0.1", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]",
    "[0:0:0:0:0:ffff:7f00:1]", "[::127.0.0.1]", "[64:ff9b::7f00:1]",
    "[2002:7f00:1::]", "2130706433", "0177.0.0.1", "0x7f.1", "0x7f000001",
    "017700000001", "0.0.0.0", "0", "[::]", "[fc00::1]", "[fe80::1]",
    "[ff02::1]", "[::ffff:10.0.0.1]", "[::ffff:169.254.169.254]",
]


def _loopback_names():
    names = ["localhost", "localhost.", "LocalHost"]
    try:
        host = socket.gethostname()
        addrs = {a[4][0] for a in socket.getaddrinfo(host, 80)}
        if host and addrs and all(a.startswith("127.") or a == "::1"
                                  for a in addrs):
            names.append(host)
    except OSError:
        pass
    return names


NAMES = _loopback_names()
SSRF_HOSTS = LITERALS + NAMES


def ssrf_url(canary, host, mode):
    """A path of its own per case, so a leak shows in that case only."""
    return "http://%s:%d/ssrf/%s/%d" % (host, canary.port, mode,
                                        SSRF_HOSTS.index(host))


def assert_refused(r, host):
    """403 for an address literal (known before connecting); a name that
    resolves into the deny list may also be 502 (found at connect time)."""
    if host in NAMES:
        assert r.status_code in (403, 502), (r.status_code, r.text)
    body = matrix_error(r, 403 if host in LITERALS else r.status_code)
    assert re.search(r"block|not allowed|no allowed", body["error"], re.I), \
        body
    return body


def test_ssrf_table_is_big_enough():
    assert len(SSRF_HOSTS) >= 20
    assert "localhost" in NAMES


def test_canary_is_reachable_when_allowed(pv, canary):
    # Through the whitelisted address the canary does answer a preview...
    before = len(canary.seen())
    og = ok(preview(pv, "http://127.0.0.2:%d/allowed" % canary.port))
    assert og["og:title"] == "canary"
    assert len(canary.seen()) == before + 1
    # ...and a direct request on 127.0.0.1 reaches it too.
    r = requests.get("http://127.0.0.1:%d/direct" % canary.port, timeout=5)
    assert r.status_code == 200 and "canary" in r.text
    assert canary.hits("/direct") == 1


@pytest.mark.parametrize("host", SSRF_HOSTS)
def test_ssrf_direct(pv, canary, host):
    url = ssrf_url(canary, host, "direct")
    assert_refused(preview(pv, url), host)
    assert canary.hits("/ssrf/direct/%d" % SSRF_HOSTS.index(host)) == 0


@pytest.mark.parametrize("host", SSRF_HOSTS)
def test_ssrf_redirect(pv, web, canary, host):
    target = ssrf_url(canary, host, "redirect")
    url = web.url("/r?to=" + urllib.parse.quote(target, safe=""))
    assert_refused(preview(pv, url), host)
    assert web.hits(url[len(web.base):]) == 1
    assert canary.hits("/ssrf/redirect/%d" % SSRF_HOSTS.index(host)) == 0


@pytest.mark.parametrize("host", SSRF_HOSTS)
def test_ssrf_og_image(pv, web, canary, host):
    target = ssrf_url(canary, host, "og_image")
    url = web.url("/ogimg?src=" + urllib.parse.quote(target, safe=""))
    og = ok(preview(pv, url))
    assert og["og:title"] == "OG image test"
    assert_no_image(og)
    assert canary.hits("/ssrf/og_image/%d" % SSRF_HOSTS.index(host)) == 0


@pytest.mark.parametrize("host", ["127.0.0.1", "[::1]", "localhost",
                                  "0x7f.1", "169.254.169.254"])
def test_ssrf_og_image_through_redirect(pv, web, canary, host):
    target = "http://%s:%d/ssrf/og_redirect/%d" % (host, canary.port,
                                                    SSRF_HOSTS.index(host))
    hop = "/r?to=" + urllib.parse.quote(target, safe="")
    url = web.url("/ogimg?src=" + urllib.parse.quote(hop, safe=""))
    og = ok(preview(pv, url))
    assert og["og:title"] == "OG image test"
    assert_no_image(og)
    assert web.hits(hop) == 1
    assert canary.hits("/ssrf/og_redirect/%d" % SSRF_HOSTS.index(host)) == 0


@pytest.mark.parametrize("spelling", [
    "//127.0.0.1:{c}/ssrf/loc/{i}", "HTTP://LOCALHOST:{c}/ssrf/loc/{i}",
    " http://127.0.0.1:{c}/ssrf/loc/{i}", "http://127.0.0.1:{c}?/ssrf/loc/{i}",
    "http://127.0.0.2:{p}@127.0.0.1:{c}/ssrf/loc/{i}",
    "http:\\\\127.0.0.1:{c}/ssrf/loc/{i}", "http://[::1]:{c}/ssrf/loc/{i}",
    "http://0x7F.0.0.1:{c}/ssrf/loc/{i}", "http://127.0.0.1.:{c}/ssrf/loc/{i}",
])
def test_redirect_location_spellings(pv, web, canary, spelling):
    """Locations as servers send them: relative to the scheme, upper case,
    padded, with userinfo, backslashes; none may reach blocked space."""
    i = len(web.seen())
    loc = spelling.format(c=canary.port, p=web.port, i=i)
    url = web.redirect("/locspell/%d" % i, loc)
    r = preview(pv, url)
    assert r.status_code != 200, r.text
    matrix_error(r, r.status_code)
    assert canary.hits("/ssrf/loc/", prefix=True) == 0
    assert canary.hits("/?/ssrf/loc/", prefix=True) == 0


def test_overlong_redirect_not_truncated(pv, web):
    """A Location past the URL limit is refused, not cut short and
    followed: the page fetched must be the one redirected to or none."""
    target = web.url("/trunc/" + "a" * 2070 + "/end")
    url = web.redirect("/trunc-start", target)
    r = preview(pv, url)
    assert r.status_code != 200, r.text
    fetched = [x["path"] for x in web.seen("/trunc/", prefix=True)]
    assert fetched == [], "fetched a truncated URL: %s... (%d bytes)" % (
        fetched[0][:40], len(fetched[0]))


def test_redirect_to_blocked_url_rule(pv, web):
    web.add("/private/r1", "<title>secret</title>")
    url = web.url("/r?to=" + urllib.parse.quote("/private/r1", safe=""))
    matrix_error(preview(pv, url), 403, "M_FORBIDDEN")
    assert web.hits("/private/r1") == 0


# --- url_preview_url_blacklist -----------------------------------------------

def test_url_blacklist_host_glob(pv):
    # Refused by rule before any DNS: 403, not the 502 of a failed lookup.
    for url in ("http://a.blocked.test/", "http://X.Blocked.TEST/page",
                "https://deep.sub.blocked.test:8443/?q"):
        body = matrix_error(preview(pv, url), 403, "M_FORBIDDEN")
        assert "blacklist" in body["error"] or "block" in body["error"]
    # A name next to the glob is not caught by it (it fails DNS instead).
    matrix_error(preview(pv, "http://blocked.test.invalid/"), 502)


def test_url_blacklist_port(pv, web, blocked_port_server):
    url = "http://127.0.0.2:%d/x" % blocked_port_server.port
    matrix_error(preview(pv, url), 403, "M_FORBIDDEN")
    assert blocked_port_server.seen() == []
    # The other port on the same host is fine.
    ok_url = web.add("/port-ok", "<title>port ok</title>")
    assert ok(preview(pv, ok_url))["og:title"] == "port ok"


def test_url_blacklist_scheme(pv, web):
    # https to 127.0.0.2 is ruled out (else it would be a TLS failure, 502).
    matrix_error(preview(pv, "https://127.0.0.2:%d/tls" % web.port), 403,
                 "M_FORBIDDEN")
    assert web.hits("/tls") == 0


@pytest.mark.parametrize("path", [
    "/private/a", "/private/", "/x/../private/a", "/%70rivate/a",
    "/./private/a", "/private/a?x=1",
])
def test_url_blacklist_path(pv, web, path):
    web.add("/private/a", "<title>secret</title>")
    matrix_error(preview(pv, web.url(path)), 403, "M_FORBIDDEN")
    assert web.hits("/private/", prefix=True) == 0


def test_url_blacklist_path_not_over_broad(pv, web):
    url = web.add("/privateer", "<title>pirate</title>")
    assert ok(preview(pv, url))["og:title"] == "pirate"


# --- what is sent upstream ----------------------------------------------------

def test_request_headers(pv, web):
    url = web.add("/headers", "<title>headers</title>")
    ok(preview(pv, url))
    (req,) = web.seen("/headers")
    h = {k.lower(): v for k, v in req["headers"].items()}
    assert req["method"] == "GET"
    assert h.get("accept-language") == LANGUAGE
    assert h.get("user-agent", "").strip() != ""
    assert h.get("host") == "127.0.0.2:%d" % web.port
    # The user's credentials never leave the server.
    assert "authorization" not in h and "cookie" not in h
    assert pv.token not in json.dumps(req["headers"])


# --- HTML to OpenGraph --------------------------------------------------------

def test_opengraph_with_relative_image(pv, web):
    img = png(64, 48, (200, 30, 40))
    web.add("/img/og.png", img, "image/png")
    url = web.add("/blog/post.html", """<!doctype html><html><head>
      <title>Page title</title>
      <meta property="og:title" content="Matrix Blog Post">
      <meta property="og:description" content="A really cool post">
      <meta property="og:type" content="article">
      <meta property="og:site_name" content="Fixture">
      <meta property="og:image" content="../img/og.png">
      <meta name="twitter:title" content="Twitter title">
      </head><body><p>x</p></body></html>""")
    og = ok(preview(pv, url))
    assert og["og:title"] == "Matrix Blog Post"
    assert og["og:description"] == "A really cool post"
    assert og["og:type"] == "article"
    assert og["og:site_name"] == "Fixture"
    assert web.hits("/img/og.png") == 1
    assert_image(pv, og, img, "image/png", 64, 48)
    # Stored as media of its own: it has thumbnails like any upload.
    server, media_id = og["og:image"][len("mxc://"):].split("/")
    r = requests.get(pv.url("%s/thumbnail/%s/%s" % (V1, server, media_id)),
                     params={"width": 32, "height": 32, "method": "crop"},
                     headers=pv.auth(pv.token), timeout=10)
    assert r.status_code == 200, r.text
    assert Image.open(io.BytesIO(r.content)).size == (32, 32)


def test_twitter_card_before_title(pv, web):
    url = web.add("/twitter", """<html><head><title>Plain title</title>
      <meta name="description" content="meta description">
      <meta name="twitter:title" content="Card title">
      <meta name="twitter:description" content="Card description">
      </head></html>""")
    og = ok(preview(pv, url))
    assert og["og:title"] == "Card title"
    assert og["og:description"] == "Card description"


def test_title_description_and_first_sizeable_img(pv, web):
    big = jpeg(120, 90, (10, 120, 200))
    web.add("/imgs/icon.png", png(16, 16, (0, 0, 0)), "image/png")
    web.add("/imgs/big.jpg", big, "image/jpeg")
    url = web.add("/plain/page", """<html><head><title>
        Just   a
        title </title>
      <meta name="description" content="meta description">
      </head><body>
      <img src="/imgs/icon.png" width="16" height="16">
      <img src="data:image/png;base64,iVBORw0KGgo=">
      <img src="../imgs/big.jpg">
      <img src="/imgs/later.png">
      </body></html>""")
    og = ok(preview(pv, url))
    assert og["og:title"] == "Just a title"
    assert og["og:description"] == "meta description"
    assert web.hits("/imgs/icon.png") == 0
    assert_image(pv, og, big, "image/jpeg", 120, 90)


def test_twitter_image_and_base_href(pv, web):
    img = png(50, 50, (7, 70, 170))
    web.add("/assets/tw.png", img, "image/png")
    url = web.add("/deep/dir/tw", """<html><head>
      <base href="/assets/">
      <meta name="twitter:image" content="tw.png">
      <title>tw</title></head><body>
      <img src="/imgs/none.png" width="500"></body></html>""")
    og = ok(preview(pv, url))
    assert og["og:title"] == "tw"
    assert web.hits("/imgs/none.png") == 0
    assert_image(pv, og, img, "image/png", 50, 50)


def test_svg_title_is_not_the_page_title(pv, web):
    url = web.add("/svgtitle", "<html><body><svg><title>icon</title></svg>"
                  "<title>real</title></body></html>")
    assert ok(preview(pv, url)).get("og:title") == "real"


def test_fragment_not_sent(pv, web):
    url = web.add("/frag", "<title>frag</title>")
    assert ok(preview(pv, url + "#section-2"))["og:title"] == "frag"
    assert [r["path"] for r in web.seen("/frag", prefix=True)] == ["/frag"]


@pytest.mark.parametrize("status", [404, 500, 204])
def test_page_error_status_is_502(pv, web, status):
    url = web.add("/status/%d" % status, "<title>error page</title>",
                  status=status)
    matrix_error(preview(pv, url), 502)


def test_entities_decoded_and_case_folded(pv, web):
    url = web.add("/entities", "<HTML><HEAD><TITLE>A &amp; B &#x41;&lt;"
                  "</TITLE><META PROPERTY='OG:Description' CONTENT="
                  "'caf&eacute; &quot;q&quot;'></HEAD></HTML>")
    og = ok(preview(pv, url))
    assert og["og:title"] == "A & B A<"
    assert og["og:description"] == 'caf\u00e9 "q"'


def test_upper_case_scheme_and_host(pv, web):
    web.add("/upper", "<title>upper</title>")
    og = ok(preview(pv, "HTTP://127.0.0.2:%d/upper" % web.port))
    assert og["og:title"] == "upper"


def test_many_keys_capped(pv, web):
    metas = "".join("<meta property='og:k%d' content='v%d'>" % (i, i)
                    for i in range(1000))
    url = web.add("/manykeys", "<html><head><title>many</title>%s"
                  "</head></html>" % metas)
    og = ok(preview(pv, url))
    assert og["og:k0"] == "v0"
    assert 50 <= len(og) <= 101, len(og)


def test_no_og_tags_at_all(pv, web):
    url = web.add("/bare", "<html><body><p>Just some text.</p></body></html>")
    assert ok(preview(pv, url)) == {}


def test_overlong_title_dropped(pv, web):
    url = web.add("/longtitle", "<html><head><title>%s</title>"
                  "<meta name='description' content='still here'>"
                  "</head></html>" % ("Long " * 400))
    og = ok(preview(pv, url))
    assert "og:title" not in og
    assert og["og:description"] == "still here"


def test_overlong_og_title_falls_back(pv, web):
    url = web.add("/longog", "<html><head><title>Short</title>"
                  "<meta property='og:title' content='%s'></head></html>"
                  % ("x" * 5000))
    og = ok(preview(pv, url))
    assert og.get("og:title") == "Short"


TITLE_RU = "Привет, мир — заголовок"


def test_windows_1251_meta_charset(pv, web):
    body = ("<html><head><meta charset='windows-1251'><title>%s</title>"
            "</head></html>" % TITLE_RU).encode("cp1251")
    url = web.add("/cp1251-meta", body, "text/html")
    assert ok(preview(pv, url))["og:title"] == TITLE_RU


def test_windows_1251_http_header_only(pv, web):
    body = ("<html><head><title>%s</title><meta property='og:description' "
            "content='%s'></head></html>" % (TITLE_RU, TITLE_RU[::-1])
            ).encode("cp1251")
    url = web.add("/cp1251-header", body, "text/html; charset=windows-1251")
    og = ok(preview(pv, url))
    assert og["og:title"] == TITLE_RU
    assert og["og:description"] == TITLE_RU[::-1]


def test_windows_1251_http_equiv(pv, web):
    body = ("<html><head><meta http-equiv='Content-Type' content='text/html; "
            "charset=windows-1251'><title>%s</title></head></html>"
            % TITLE_RU).encode("cp1251")
    url = web.add("/cp1251-equiv", body, "text/html")
    assert ok(preview(pv, url))["og:title"] == TITLE_RU


def test_http_header_charset_beats_meta(pv, web):
    body = ("<html><head><meta charset='utf-8'><title>%s</title></head></html>"
            % TITLE_RU).encode("cp1251")
    url = web.add("/cp1251-conflict", body, "text/html; charset=windows-1251")
    assert ok(preview(pv, url))["og:title"] == TITLE_RU


def test_deeply_nested_html(pv, web):
    body = ("<html><head><title>Nested</title>"
            "<meta property='og:description' content='before'></head><body>"
            + "<div><span><b>" * 30000 + "deep" + "</b></span></div>" * 30000
            + "</body></html>")
    url = web.add("/nested", body)
    t = time.time()
    og = ok(preview(pv, url))
    assert og["og:title"] == "Nested"
    assert og["og:description"] == "before"
    assert time.time() - t < 10


def test_truncated_html(pv, web):
    body = ("<html><head><meta property='og:title' content='Cut short'>"
            "<meta property='og:description' content='unfinish")
    url = web.add("/truncated", body)
    og = ok(preview(pv, url))
    assert og["og:title"] == "Cut short"
    # The server lives on.
    url2 = web.add("/after-truncated", "<title>fine</title>")
    assert ok(preview(pv, url2))["og:title"] == "fine"


def test_gzip_page_is_decoded(pv, web):
    body = gzip.compress(b"<html><head><title>Zipped page</title></head>"
                         b"</html>")
    url = web.add("/gz-small", body, headers=[("Content-Encoding", "gzip")])
    assert ok(preview(pv, url))["og:title"] == "Zipped page"


# --- images -------------------------------------------------------------------

def test_image_url_previews_as_image(pv, web):
    img = png(33, 77, (1, 2, 3))
    url = web.add("/direct.png", img, "image/png")
    og = ok(preview(pv, url))
    assert_image(pv, og, img, "image/png", 33, 77)
    assert web.hits("/direct.png") == 1


def test_data_url_og_image(pv, web):
    img = png(20, 10, (9, 99, 199))
    url = web.add("/dataimg", "<html><head><meta property='og:title' "
                  "content='data'><meta property='og:image' content="
                  "'data:image/png;base64,%s'></head></html>"
                  % base64.b64encode(img).decode())
    og = ok(preview(pv, url))
    assert og["og:title"] == "data"
    assert_image(pv, og, img, "image/png", 20, 10)


def media_rows_of(s, data):
    """How many media rows of s hold data's bytes."""
    db = subprocess.run([ADMIN, "config-get", "database_path"], env=s.env,
                        check=True, capture_output=True,
                        text=True).stdout.strip()
    conn = sqlite3.connect(db, timeout=10)
    try:
        return conn.execute("SELECT count(*) FROM media WHERE sha256 = ?",
                            (hashlib.sha256(data).hexdigest(),)
                            ).fetchone()[0]
    finally:
        conn.close()


def test_quarantined_bytes_get_no_new_id(pv, web):
    """Bytes an operator quarantined never come back as a new mxc through
    a preview: not as og:image, not as a data: URL, not as an image URL."""
    img = png(21, 13, (66, 6, 166))
    h = hashlib.sha256(img).hexdigest()
    out = pv.admin("quarantine", "--hash", h).stdout
    assert "quarantined 0 media" in out
    try:
        web.add("/img/banned.png", img, "image/png")
        url = web.add("/banned-og", "<html><head><meta property='og:title' "
                      "content='banned'><meta property='og:image' "
                      "content='/img/banned.png'></head></html>")
        og = ok(preview(pv, url))
        assert og["og:title"] == "banned"
        assert_no_image(og)
        assert web.hits("/img/banned.png") == 1
        url = web.add("/banned-data", "<html><head><meta property="
                      "'og:title' content='banned data'><meta property="
                      "'og:image' content='data:image/png;base64,%s'>"
                      "</head></html>" % base64.b64encode(img).decode())
        og = ok(preview(pv, url))
        assert og["og:title"] == "banned data"
        assert_no_image(og)
        matrix_error(preview(pv, web.add("/banned-direct.png", img,
                                         "image/png")), 403, "M_FORBIDDEN")
        assert media_rows_of(pv, img) == 0
    finally:
        pv.admin("unquarantine", "--hash", h)
    # Released, the same bytes preview as any image again.
    url = web.add("/unbanned-og", "<html><head><meta property='og:image' "
                  "content='/img/banned.png'></head></html>")
    assert_image(pv, ok(preview(pv, url)), img, "image/png", 21, 13)
    assert media_rows_of(pv, img) == 1


@pytest.mark.parametrize("case", ["404", "html", "garbage", "redirect-loop"])
def test_failing_og_image_left_out(pv, web, case):
    if case == "html":
        web.add("/badimg/html", "<title>not an image</title>")
    elif case == "garbage":
        web.add("/badimg/garbage", b"\x89PNG\r\n\x1a\nnot really",
                "image/png")
    elif case == "redirect-loop":
        web.redirect("/badimg/redirect-loop", "/badimg/redirect-loop")
    url = web.add("/badimg-page/" + case, "<html><head>"
                  "<meta property='og:title' content='has bad image'>"
                  "<meta property='og:image' content='/badimg/%s'>"
                  "<meta property='og:image:width' content='500'>"
                  "</head></html>" % case)
    og = ok(preview(pv, url))
    assert og["og:title"] == "has bad image"
    assert_no_image(og)
    assert web.hits("/badimg/" + case) >= 1


def test_svg_og_image_not_stored(pv, web):
    svg = (b"<svg xmlns='http://www.w3.org/2000/svg' width='100' "
           b"height='100'><script>alert(1)</script></svg>")
    web.add("/img/evil.svg", svg, "image/svg+xml")
    url = web.add("/svgimg", "<html><head><meta property='og:title' "
                  "content='svg'><meta property='og:image' "
                  "content='/img/evil.svg'></head></html>")
    og = ok(preview(pv, url))
    assert og["og:title"] == "svg"
    assert_no_image(og)
    assert web.hits("/img/evil.svg") == 1


def test_og_image_over_the_cap_left_out(pv, web):
    web.add("/img/huge-og.png", b"\x89PNG\r\n\x1a\n" + b"\0" * (11 << 20),
            "image/png")
    url = web.add("/hugeimg", "<html><head><meta property='og:title' "
                  "content='huge image'><meta property='og:image' "
                  "content='/img/huge-og.png'></head></html>")
    og = ok(preview(pv, url))
    assert og["og:title"] == "huge image"
    assert_no_image(og)


@pytest.mark.parametrize("ctype", ["video/mp4", "audio/ogg", "application/pdf",
                                   "application/octet-stream"])
def test_other_types_refused(pv, web, ctype):
    path = "/media/" + ctype.replace("/", "_")
    url = web.add(path, b"\x00\x00\x00\x18ftypmp42" * 10, ctype)
    body = matrix_error(preview(pv, url), 502, "M_UNKNOWN")
    assert ctype in body["error"], body


# --- size, time, redirects ----------------------------------------------------

def test_twenty_megabyte_page(pv, web):
    body = b"<html><head><title>big</title></head><body>" + b"a" * (20 << 20)
    url = web.add("/big", body)
    matrix_error(preview(pv, url), 502, "M_TOO_LARGE")


def test_twenty_megabyte_page_without_length(pv, web):
    body = b"<html><head><title>big</title></head><body>" + b"b" * (20 << 20)
    url = web.add("/big-nolen", body, length=False)
    matrix_error(preview(pv, url), 502, "M_TOO_LARGE")


def test_page_just_under_the_cap(pv, web):
    body = b"<html><head><title>nine</title></head><body>" + \
        b"c" * (9 << 20) + b"</body></html>"
    url = web.add("/nine", body)
    assert ok(preview(pv, url))["og:title"] == "nine"


def test_gzip_bomb_capped_on_decoded_bytes(pv, web):
    inner = b"<html><head><title>bomb</title></head><body>" + \
        b" " * (20 << 20)
    body = gzip.compress(inner, 9)
    assert len(body) < 1 << 20
    url = web.add("/bomb", body, headers=[("Content-Encoding", "gzip")])
    matrix_error(preview(pv, url), 502, "M_TOO_LARGE")


def test_image_over_the_cap(pv, web):
    big = b"\x89PNG\r\n\x1a\n" + b"\x00" * (11 << 20)
    url = web.add("/huge.png", big, "image/png")
    matrix_error(preview(pv, url), 502, "M_TOO_LARGE")


def test_page_that_never_finishes(pv, web):
    url = web.add("/hang", b"<html><head><title>hang</title>", hang=True)
    t = time.time()
    matrix_error(preview(pv, url), 504)
    took = time.time() - t
    assert 1.5 <= took < 6, took


def test_server_that_never_answers(pv, web):
    url = web.add("/silent", b"<title>late</title>", delay=30)
    t = time.time()
    matrix_error(preview(pv, url), 504)
    assert time.time() - t < 6


def test_timeout_covers_whole_redirect_chain(pv, web):
    """url_preview_timeout is "total time of one preview fetch": a chain
    of slow redirects, each under the limit, must not add up past it."""
    for i in range(5):
        web.redirect("/slowchain/%d" % i, "/slowchain/%d" % (i + 1))
        web.pages["/slowchain/%d" % i].delay = 0.9
    web.add("/slowchain/5", "<title>slow end</title>", delay=0.9)
    t = time.time()
    r = preview(pv, web.url("/slowchain/0"))
    took = time.time() - t
    assert r.status_code == 504 and took < 4.5, (r.status_code, r.text, took)


def test_five_redirects_followed(pv, web):
    og = ok(preview(pv, web.url("/chain/5/five")))
    assert og["og:title"] == "end five"
    for n in range(6):
        assert web.hits("/chain/%d/five" % n) == 1


def test_six_redirects_refused(pv, web):
    body = matrix_error(preview(pv, web.url("/chain/6/six")), 502)
    assert "redirect" in body["error"].lower()
    assert web.hits("/chain/0/six") == 0


def test_redirect_loop(pv, web):
    url = web.redirect("/loop", "/loop")
    matrix_error(preview(pv, url), 502)
    assert web.hits("/loop") == 6


def test_redirect_to_other_scheme_refused(pv, web):
    url = web.url("/r?to=" + urllib.parse.quote("file:///etc/passwd",
                                                safe=""))
    r = preview(pv, url)
    assert r.status_code in (400, 403, 502), r.text
    matrix_error(r, r.status_code)


# --- oEmbed -------------------------------------------------------------------

def test_oembed(pv, web):
    thumb = png(40, 30, (250, 250, 0))
    web.add("/img/thumb.png", thumb, "image/png")
    web.add_func("/oembed", lambda q: oembed_json(
        type="video", version="1.0", title="Fixture video",
        provider_name="FixtureTube", author_name="Alice",
        thumbnail_url=web.url("/img/thumb.png"), asked=q.get("url")))
    web.add("/watch", "<title>the page itself</title>")
    page = web.url("/watch?v=abc&t=1")
    og = ok(preview(pv, page))
    assert og["og:title"] == "Fixture video"
    assert og["og:site_name"] == "FixtureTube"
    assert og["og:url"] == page
    assert og["og:type"] == "video.other"
    assert_image(pv, og, thumb, "image/png", 40, 30)
    asked = web.seen("/oembed?", prefix=True)
    assert len(asked) == 1
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(asked[0]["path"]).query)
    assert q["url"] == [page]
    assert q["format"] == ["json"]
    # The provider answered, so the page itself was not fetched.
    assert web.hits("/watch", prefix=True) == 0


def test_oembed_endpoint_in_blocked_space(pv, web, canary):
    url = web.add("/inside/page", "<title>the page, not the provider</title>")
    og = ok(preview(pv, url))
    assert og["og:title"] == "the page, not the provider"
    assert canary.hits("/ssrf/oembed", prefix=True) == 0
    assert web.hits("/inside/page") == 1


def test_oembed_thumbnail_in_blocked_space(pv, web, canary):
    web.add_func("/oembed-badthumb", lambda q: oembed_json(
        type="photo", version="1.0", title="Bad thumb",
        thumbnail_url="http://127.0.0.1:%d/ssrf/thumb.png" % canary.port))
    og = ok(preview(pv, web.url("/badthumb?id=1")))
    assert og["og:title"] == "Bad thumb"
    assert og["og:type"] == "website"
    assert_no_image(og)
    assert canary.hits("/ssrf/thumb.png") == 0


def test_non_oembed_url_fetches_page(pv, web):
    url = web.add("/not-a-watch", "<title>not oembed</title>")
    before = web.hits("/oembed", prefix=True)
    assert ok(preview(pv, url))["og:title"] == "not oembed"
    assert web.hits("/oembed", prefix=True) == before


# --- cache --------------------------------------------------------------------

HOUR = 3600 * 1000
TS = 480000 * HOUR + 1234      # some hour in 2024


def test_cache_repeats_make_no_fetch(pv, web):
    url = web.add("/cached", "<title>cached once</title>")
    first = ok(preview(pv, url))
    assert web.hits("/cached") == 1
    for _ in range(3):
        assert ok(preview(pv, url)) == first
    assert web.hits("/cached") == 1


def test_cache_by_ts_hour(pv, web):
    url = web.add("/cached-ts", "<title>ts</title>")
    ok(preview(pv, url, ts=TS))
    ok(preview(pv, url, ts=TS + 60 * 1000))    # same hour
    assert web.hits("/cached-ts") == 1
    ok(preview(pv, url, ts=TS + HOUR))          # next hour
    assert web.hits("/cached-ts") == 2
    ok(preview(pv, url, ts=TS + HOUR + 5))
    assert web.hits("/cached-ts") == 2


def test_cache_shared_by_users(pv, web):
    url = web.add("/cached-users", "<title>users</title>")
    ok(preview(pv, url))
    ok(preview(pv, url, token=pv.new_token()))
    assert web.hits("/cached-users") == 1


def test_concurrent_requests_make_one_fetch(pv, web):
    url = web.add("/slow-shared", "<title>slow shared</title>", delay=1.0)
    with concurrent.futures.ThreadPoolExecutor(5) as ex:
        rs = list(ex.map(lambda _: preview(pv, url), range(5)))
    bodies = [ok(r) for r in rs]
    assert all(b == {"og:title": "slow shared"} for b in bodies), bodies
    assert web.hits("/slow-shared") == 1


def test_cache_by_language(web, make_stack, tmp_path):
    """Two stacks sharing one database, differing in language only: the
    second must fetch again, with its own Accept-Language."""
    shared = [
        "url_preview_enabled = true",
        "url_preview_ip_range_blacklist = " + SYNAPSE_BLACKLIST,
        "url_preview_ip_range_whitelist = 127.0.0.2/32",
        "database_path = " + str(tmp_path / "shared.db"),
        "media_store_path = " + str(tmp_path / "media"),
    ]
    en = make_stack(shared + ["url_preview_accept_language = en"])
    de = make_stack(shared + ["url_preview_accept_language = de"])
    url = web.add("/lang", "<title>language</title>")
    ok(preview(en, url))
    ok(preview(en, url))
    assert [r["headers"].get("Accept-Language")
            for r in web.seen("/lang")] == ["en"]
    ok(preview(de, url))
    ok(preview(de, url))
    assert [r["headers"].get("Accept-Language")
            for r in web.seen("/lang")] == ["en", "de"]


# --- the web server is still fine after all of it -----------------------------

def test_stack_healthy_and_canary_untouched(pv, canary):
    r = requests.get(pv.url(V1 + "/config"), headers=pv.auth(pv.token),
                     timeout=5)
    assert r.status_code == 200
    assert canary.hits("/ssrf", prefix=True) == 0
    log = pv.read_log()
    assert "Segmentation" not in log and "AddressSanitizer" not in log
