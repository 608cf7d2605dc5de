"""GET /metrics: the Prometheus text of every program's counters
(README, "Metrics"). promtool (Debian's prometheus package) checks the
format; a real Prometheus server scrapes us and answers a counter back
through its HTTP API; counts survive a kill -9 of the processes that made
them; only metrics_allowed_ips may read them."""
import json
import os
import re
import signal
import subprocess
import time

import pytest
import requests
from PIL import Image

from conftest import TOP, alive, free_port
from imgfixtures import encode, photo

PROMETHEUS = "/usr/bin/prometheus"
PROMTOOL = "/usr/bin/promtool"
DASHBOARD = os.path.join(TOP, "contrib", "grafana-mediarepo.json")
CREATE = "/_matrix/media/v1/create"
SAMPLE_RE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$")


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """Proxied from 127.0.0.1 (so X-Forwarded-For names a client), and a
    create limit low enough to be met."""
    from conftest import Stack
    s = Stack(tmp_path_factory.mktemp("stack"),
              ["trusted_proxies = 127.0.0.1/32",
               "rc_media_create_burst_count = 1",
               "rc_media_create_per_second = 0.01"])
    yield s
    s.stop()


def scrape(s, headers=None):
    r = requests.get(s.url("/metrics"), headers=headers, timeout=10)
    assert r.status_code == 200, r.text
    return r


def samples(text):
    """{(name, labels text): value} of every sample line."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE_RE.match(line)
        assert m, line
        out[(m.group(1), m.group(2) or "")] = float(m.group(3))
    return out


def value(s, name, labels=""):
    return samples(scrape(s).text).get((name, labels), 0.0)


def test_format_passes_promtool(stack, tmp_path):
    stack.upload(b"some bytes")
    r = scrape(stack)
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert r.headers.get("Cache-Control") == "no-store"
    for family in ("mediarepo_http_requests_total",
                   "mediarepo_http_request_duration_seconds",
                   "mediarepo_http_response_bytes_total",
                   "mediarepo_upload_bytes_total",
                   "mediarepo_thumbnails_generated_total",
                   "mediarepo_remote_fetches_total",
                   "mediarepo_url_previews_total",
                   "mediarepo_ratelimited_total",
                   "mediarepo_waiting_slots_in_use",
                   "mediarepo_stored_media",
                   "mediarepo_stored_media_bytes"):
        assert "\n# TYPE %s " % family in "\n" + r.text, family
    p = subprocess.run([PROMTOOL, "check", "metrics"], input=r.text,
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stdout + p.stderr
    # HEAD: the same headers, no body.
    h = requests.head(stack.url("/metrics"), timeout=10)
    assert h.status_code == 200 and h.content == b""


def test_requests_and_events_are_counted(stack):
    upload_ok = ('mediarepo_http_requests_total',
                 '{program="upload",method="POST",status="200"}')
    before = samples(scrape(stack).text)
    png = encode(photo(400, 300, seed=11), "PNG")
    stack.upload(png, "image/png")
    stack.upload(b"x" * 1000)
    token = stack.new_token()
    assert requests.post(stack.url(CREATE), headers=stack.auth(token),
                         timeout=10).status_code == 200
    assert requests.post(stack.url(CREATE), headers=stack.auth(token),
                         timeout=10).status_code == 429
    after = samples(scrape(stack).text)

    def delta(name, labels=""):
        return after.get((name, labels), 0) - before.get((name, labels), 0)

    assert delta(*upload_ok) == 2
    assert delta("mediarepo_upload_bytes_total") == len(png) + 1000
    assert delta("mediarepo_http_requests_total",
                 '{program="create",method="POST",status="429"}') == 1
    assert delta("mediarepo_ratelimited_total",
                 '{limit="rc_media_create"}') == 1
    # The PNG got its configured thumbnails made at upload.
    assert delta("mediarepo_thumbnails_generated_total",
                 '{method="crop"}') >= 1
    assert delta("mediarepo_thumbnails_generated_total",
                 '{method="scale"}') >= 1
    assert delta("mediarepo_http_request_duration_seconds_count",
                 '{program="upload"}') == 2
    assert delta("mediarepo_http_response_bytes_total",
                 '{program="upload"}') > 0
    assert after[("mediarepo_stored_media", '{kind="local"}')] >= 2
    assert after[("mediarepo_stored_media_bytes", '{kind="local"}')] >= \
        len(png) + 1000
    assert ("mediarepo_waiting_slots_in_use", '{program="upload"}') in after


def test_size_refusals_name_their_limit(make_stack):
    """413s past max_image_pixels (a thumbnail) and past max_upload_size
    met only while reading a chunked body are counted under their limit
    and named in the log line, like the 429s."""
    s = make_stack(["max_upload_size = 1000", "max_image_pixels = 100"])
    before = samples(scrape(s).text)
    img = encode(Image.new("RGB", (40, 30), (10, 120, 200)), "PNG")
    assert len(img) < 1000
    mid = s.upload(img, "image/png")
    r = requests.get(s.url("/_matrix/media/v3/thumbnail/%s/%s"
                           % (s.server_name, mid)),
                     params={"width": 8, "height": 8, "method": "crop"},
                     timeout=30)
    assert r.status_code == 413, r.text
    # Chunked (no Content-Length): refused once the bytes pass the cap.
    # lighttpd (whole KiB) and Apache pass 1010 bytes on to the program;
    # nginx holds max_upload_size exactly and refuses it itself.
    big = requests.post(s.url("/_matrix/media/v3/upload"),
                        data=iter([b"x" * 505, b"y" * 505]),
                        headers=s.auth(s.token), timeout=30)
    assert big.request.headers.get("Transfer-Encoding") == "chunked"
    assert big.status_code == 413, big.text
    after = samples(scrape(s).text)

    def delta(limit):
        key = ("mediarepo_ratelimited_total", '{limit="%s"}' % limit)
        return after.get(key, 0) - before.get(key, 0)

    by_program = "X-Request-Id" in big.headers
    assert by_program == (s.webserver != "nginx")
    assert delta("max_image_pixels") == 1
    assert delta("max_upload_size") == (1 if by_program else 0)
    assert delta("other") == 0
    log = s.read_log().splitlines()
    line, = [ln for ln in log if r.headers["X-Request-Id"] in ln]
    assert re.search(r" 413 .* M_TOO_LARGE .*limit=max_image_pixels$",
                     line), line
    if by_program:
        line, = [ln for ln in log if big.headers["X-Request-Id"] in ln]
        assert re.search(r" 413 .* M_TOO_LARGE .*limit=max_upload_size$",
                         line), line


def test_counts_survive_kill_9(stack):
    key = ("mediarepo_http_requests_total",
           '{program="download",method="GET",status="404"}')
    for _ in range(3):
        r = requests.get(stack.url(
            "/_matrix/media/v3/download/%s/nosuchmedia" % stack.server_name),
            timeout=10)
        assert r.status_code == 404
    before = samples(scrape(stack).text)[key]
    victims = stack.child_pids("download")
    assert victims
    for pid in victims:
        os.kill(pid, signal.SIGKILL)
    deadline = time.time() + 10
    while any(alive(p) for p in victims) and time.time() < deadline:
        time.sleep(0.1)
    assert samples(scrape(stack).text)[key] == before
    # And again, once folded away: still the same.
    assert samples(scrape(stack).text)[key] == before
    r = requests.get(stack.url(
        "/_matrix/media/v3/download/%s/nosuchmedia" % stack.server_name),
        timeout=10)
    assert r.status_code == 404
    assert samples(scrape(stack).text)[key] == before + 1


def test_only_allowed_addresses(stack):
    # The trusted proxy (127.0.0.1) names a client outside the list.
    r = requests.get(stack.url("/metrics"),
                     headers={"X-Forwarded-For": "203.0.113.9"}, timeout=10)
    assert r.status_code == 403, r.text
    assert r.json()["errcode"] == "M_FORBIDDEN"
    assert "mediarepo" not in r.text
    line = [ln for ln in stack.read_log().splitlines()
            if r.headers["X-Request-Id"] in ln]
    assert line and "client=203.0.113.9" in line[0] and " 403 " in line[0]
    # A loopback client is in the default list.
    r = scrape(stack, headers={"X-Forwarded-For": "127.0.0.1"})
    assert "mediarepo_http_requests_total" in r.text


def test_allowed_ips_setting(make_stack):
    s = make_stack(["metrics_allowed_ips = 10.0.0.0/8"])
    r = requests.get(s.url("/metrics"), timeout=10)
    assert r.status_code == 403 and r.json()["errcode"] == "M_FORBIDDEN"


def test_bad_allowed_ips_stops_the_programs(tmp_path):
    from conftest import ADMIN
    conf = tmp_path / "mediarepo.conf"
    conf.write_text("server_name = example.org\n"
                    "metrics_allowed_ips = 10.0.0.0/40\n")
    p = subprocess.run([ADMIN, "config-get", "metrics_allowed_ips"],
                       env=dict(os.environ, MEDIAREPO_CONFIG=str(conf)),
                       capture_output=True, text=True)
    assert p.returncode != 0
    assert "metrics_allowed_ips" in p.stderr


class Prometheus:
    """A Prometheus server on a free loopback port, in tmp, scraping the
    stack every second; stopped by its PID."""

    def __init__(self, tmp, target):
        self.port = free_port()
        conf = tmp / "prometheus.yml"
        conf.write_text(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            "scrape_configs:\n  - job_name: mediarepo\n"
            "    static_configs:\n      - targets: ['%s']\n" % target)
        self.log = open(tmp / "prometheus.log", "w")
        self.proc = subprocess.Popen(
            [PROMETHEUS, "--config.file=%s" % conf,
             "--storage.tsdb.path=%s" % (tmp / "data"),
             "--web.listen-address=127.0.0.1:%d" % self.port],
            stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True)

    def query(self, q):
        r = requests.get("http://127.0.0.1:%d/api/v1/query" % self.port,
                         params={"query": q}, timeout=10)
        r.raise_for_status()
        body = r.json()
        assert body["status"] == "success", body
        return body["data"]["result"]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


@pytest.mark.skipif(not os.path.exists(PROMETHEUS),
                    reason="needs Debian's prometheus (make deps)")
def test_a_real_prometheus_scrapes_us(stack, tmp_path):
    prom = Prometheus(tmp_path, "127.0.0.1:%d" % stack.port)
    try:
        for _ in range(4):
            stack.upload(b"counted by prometheus %d" % time.monotonic_ns())
        want = value(stack, "mediarepo_http_requests_total",
                     '{program="upload",method="POST",status="200"}')
        q = ('sum(mediarepo_http_requests_total{job="mediarepo",'
             'program="upload",method="POST",status="200"})')
        got = None
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                res = prom.query(q)
            except requests.ConnectionError:
                res = []
            if res:
                got = float(res[0]["value"][1])
                if got == want:
                    break
            time.sleep(0.5)
        assert got == want, (got, want, open(tmp_path /
                                              "prometheus.log").read()[-2000:])
        up = prom.query('up{job="mediarepo"}')
        assert up and up[0]["value"][1] == "1"
        # Every query of the Grafana dashboard is PromQL Prometheus takes.
        for expr in dashboard_exprs():
            prom.query(expr.replace("$__rate_interval", "1m")
                       .replace("$job", ".*"))
    finally:
        prom.stop()
    assert not alive(prom.proc.pid)


def dashboard_exprs():
    with open(DASHBOARD) as f:
        dash = json.load(f)
    return [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]


def test_grafana_dashboard_uses_our_metrics(stack):
    """contrib/grafana-mediarepo.json names only families we export, and
    shows each of them."""
    text = scrape(stack).text
    families = set(re.findall(r"^# TYPE (\S+) ", text, re.M))
    used = set()
    for expr in dashboard_exprs():
        for name in re.findall(r"\bmediarepo_[a-z_]+", expr):
            used.add(re.sub(r"_(bucket|sum|count)$", "", name)
                     if name.startswith("mediarepo_http_request_duration")
                     else name)
    assert used <= families, used - families
    assert families <= used, families - used
