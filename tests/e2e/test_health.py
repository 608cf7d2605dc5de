"""GET /health for load balancers: 200 "OK" while the database and the
media store answer, 503 with a Matrix error otherwise; no token needed
(README, "Health check")."""
import os
import subprocess

import requests

from conftest import ADMIN


def config_get(stack, key):
    return subprocess.run([ADMIN, "config-get", key], env=stack.env,
                          check=True, capture_output=True,
                          text=True).stdout.strip()


def health(stack, method="GET", path="/health"):
    return requests.request(method, stack.url(path), timeout=10)


def assert_healthy(stack):
    r = health(stack)
    assert r.status_code == 200, (r.status_code, r.text)
    assert r.text == "OK"
    assert r.headers["Content-Type"].startswith("text/plain")
    assert r.headers.get("Cache-Control") == "no-store"


def assert_unhealthy(stack, what):
    r = health(stack)
    assert r.status_code == 503, (r.status_code, r.text)
    assert r.headers["Content-Type"].startswith("application/json")
    body = r.json()
    assert body["errcode"] == "M_UNKNOWN"
    assert what in body["error"]


def test_health_ok_without_auth(stack):
    assert_healthy(stack)
    # A query string changes nothing (a balancer may add one).
    r = health(stack, path="/health?probe=1")
    assert r.status_code == 200 and r.text == "OK"
    r = health(stack, "HEAD")
    assert r.status_code == 200 and r.content == b""


def test_health_other_paths_and_methods(stack):
    r = health(stack, "POST")
    assert r.status_code == 405, r.text
    assert r.json()["errcode"] == "M_UNRECOGNIZED"
    # Only the exact path: /_matrix/ neighbours stay unrecognised.
    r = health(stack, path="/_matrix/health")
    assert r.status_code == 404 and r.json()["errcode"] == "M_UNRECOGNIZED"


def test_health_503_without_database(stack):
    db = config_get(stack, "database_path")
    os.rename(db, db + ".away")
    try:
        assert_unhealthy(stack, "database")
    finally:
        os.rename(db + ".away", db)
    assert_healthy(stack)


def test_health_503_without_media_store(stack):
    store = config_get(stack, "media_store_path")
    os.rename(store, store + ".away")
    try:
        assert_unhealthy(stack, "media store")
    finally:
        os.rename(store + ".away", store)
    assert_healthy(stack)
    assert "mediarepo config " in stack.read_log()
