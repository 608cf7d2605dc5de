"""The request log: one line per request with time, program, client,
user, method, path (never the query), status, bytes, duration and cause;
log_format = json gives the same as one JSON object per line (README,
"Request log")."""
import json
import re

import requests

CREATE = "/_matrix/media/v1/create"
TIME_RE = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
LIMITS = ["rc_media_create_burst_count = 1",
          "rc_media_create_per_second = 0.01"]


def lines_for(s, rid):
    return [ln for ln in s.read_log().splitlines() if rid in ln]


def create_until_refused(s, token):
    """Two creates: the second is refused by rc_media_create."""
    first = requests.post(s.url(CREATE + "?access_token=" + token),
                          timeout=10)
    assert first.status_code == 200, first.text
    second = requests.post(s.url(CREATE), headers=s.auth(token), timeout=10)
    assert second.status_code == 429, second.text
    return first, second


def test_text_lines(make_stack):
    s = make_stack(LIMITS)
    user = "@logged:" + s.server_name
    token = s.new_token(user)
    first, second = create_until_refused(s, token)

    line, = lines_for(s, first.headers["X-Request-Id"])
    m = re.match(r"^mediarepo create (\S+): POST (\S+) 200 (\d+) (\d+)ms "
                 r"time=(%s) client=127\.0\.0\.1 user=(\S+)$" % TIME_RE, line)
    assert m, line
    assert m.group(1) == first.headers["X-Request-Id"]
    assert m.group(2) == CREATE          # no query string, no token
    assert int(m.group(3)) == len(first.content)
    assert m.group(6) == user
    assert token not in s.read_log()

    line, = lines_for(s, second.headers["X-Request-Id"])
    assert re.match(r"^mediarepo create \S+: POST %s 429 \d+ \d+ms time=%s "
                    r"client=127\.0\.0\.1 user=%s M_LIMIT_EXCEEDED .*"
                    r"limit=rc_media_create$" % (CREATE, TIME_RE,
                                                 re.escape(user)), line), line

    # Not authenticated: no user.
    r = requests.get(s.url("/_matrix/client/v1/media/config"), timeout=10)
    line, = lines_for(s, r.headers["X-Request-Id"])
    assert " 401 " in line and " user=- M_MISSING_TOKEN " in line, line


def test_json_lines(make_stack):
    s = make_stack(LIMITS + ["log_format = json"])
    user = "@jsonlog:" + s.server_name
    token = s.new_token(user)
    first, second = create_until_refused(s, token)
    anon = requests.get(s.url("/health"), timeout=10)

    records = {}
    for ln in s.read_log().splitlines():
        if ln.startswith("{"):
            rec = json.loads(ln)
            records[rec["id"]] = rec
    rec = records[first.headers["X-Request-Id"]]
    assert set(rec) == {"time", "program", "id", "client", "user", "method",
                        "path", "status", "bytes", "duration_ms", "error"}
    assert re.fullmatch(TIME_RE, rec["time"])
    assert rec["program"] == "create" and rec["method"] == "POST"
    assert rec["path"] == CREATE
    assert rec["client"] == "127.0.0.1" and rec["user"] == user
    assert rec["status"] == 200 and rec["bytes"] == len(first.content)
    assert isinstance(rec["duration_ms"], int) and rec["duration_ms"] >= 0
    assert rec["error"] is None

    rec = records[second.headers["X-Request-Id"]]
    assert rec["status"] == 429
    assert rec["error"].startswith("M_LIMIT_EXCEEDED")
    assert rec["error"].endswith("limit=rc_media_create")

    rec = records[anon.headers["X-Request-Id"]]
    assert rec["program"] == "config" and rec["path"] == "/health"
    assert rec["user"] is None and rec["status"] == 200 and rec["bytes"] == 2
    assert token not in s.read_log()
    # Every request line is JSON: none in the text form.
    assert not re.search(r"^mediarepo \S+ \S+: ", s.read_log(), re.M)


def test_refusals_say_who_and_which_limit(make_stack):
    s = make_stack(["max_pending_media_uploads = 1",
                    "max_upload_size = 1000"])
    user = "@refused:" + s.server_name
    token = s.new_token(user)
    first = requests.post(s.url(CREATE), headers=s.auth(token), timeout=10)
    assert first.status_code == 200, first.text
    second = requests.post(s.url(CREATE), headers=s.auth(token), timeout=10)
    assert second.status_code == 429, second.text
    line, = lines_for(s, second.headers["X-Request-Id"])
    assert re.search(r" 429 \d+ \d+ms time=%s client=127\.0\.0\.1 user=%s "
                     r"M_LIMIT_EXCEEDED .*limit=max_pending_media_uploads$"
                     % (TIME_RE, re.escape(user)), line), line

    # Past max_upload_size (but inside the web server's rounding up to
    # whole KiB): the program refuses it, naming the limit. A web server
    # that refuses first answers without a request id of ours.
    big = requests.post(s.url("/_matrix/media/v3/upload"), data=b"x" * 1010,
                        headers=s.auth(token), timeout=10)
    assert big.status_code == 413, big.text
    if "X-Request-Id" in big.headers:
        line, = lines_for(s, big.headers["X-Request-Id"])
        assert re.search(r"POST /_matrix/media/v3/upload 413 .* user=%s "
                         r"M_TOO_LARGE .*limit=max_upload_size$"
                         % re.escape(user), line), line

    # Other failures carry their errcode and message too.
    r = requests.get(s.url("/_matrix/media/v3/download/%s/nothing"
                           % s.server_name), timeout=10)
    line, = lines_for(s, r.headers["X-Request-Id"])
    assert re.search(r" 404 \d+ \d+ms .* user=- M_NOT_FOUND \S", line), line
