"""A small web server for the URL preview tests (test_preview.py).

WebServer is a threaded http.server on one address and a free port. Tests
register what a path answers (add(), redirect()); a few dynamic routes
need no registering:

  /r?to=URL[&code=N]     a redirect to URL (302 unless code says)
  /chain/N/TAG           N redirects in a row, then a page titled "end TAG"
  /ogimg?src=URL         a page with og:title and og:image = URL

Every request is recorded (method, path with query, headers) before it is
answered, so tests can count fetches and read the headers sent. Anything
unregistered is a 404, unless the server was made with a default page
(the canary: a server on every loopback address that no preview may ever
reach).

Pages can be slow (delay before answering) or hang (send part of the body
and then nothing until the server stops); stop() releases them.

JsonServer is the plumbing of the loopback fake homeservers
(test_homeserver_auth.py, test_synapse_admin.py, test_scale_out.py): every
GET goes to a function of the test's that returns the JSON reply, and the
port stays the same across stop() and start(), so a test can take the
homeserver down and bring it back.
"""
import http.server
import json
import socket
import threading
import time
import urllib.parse
from html import escape


class Page:
    def __init__(self, body=b"", ctype="text/html; charset=utf-8",
                 status=200, headers=(), delay=0.0, hang=False,
                 length=True, func=None):
        self.body = body
        self.ctype = ctype
        self.status = status
        self.headers = list(headers)
        self.delay = delay
        self.hang = hang
        self.length = length
        self.func = func          # func(query dict) -> Page, for dynamic ones


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"   # the body ends when the connection does
    server_version = "webfixture/1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        web = self.server.web
        web._record(self)
        page = web._lookup(self.path)
        try:
            self._answer(web, page)
        except (BrokenPipeError, ConnectionResetError):
            pass    # the client gave up, as the size cap does

    do_HEAD = do_GET

    def _answer(self, web, page):
        if page is None:
            page = web.default or Page(b"not here", "text/plain", 404)
        if page.delay:
            web.stopping.wait(page.delay)
        self.send_response(page.status)
        if page.ctype is not None:
            self.send_header("Content-Type", page.ctype)
        for k, v in page.headers:
            self.send_header(k, v)
        body = page.body
        if page.length and not page.hang:
            self.send_header("Content-Length", str(len(body)))
        elif page.hang:
            self.send_header("Content-Length", str(len(body) + 100000))
        self.end_headers()
        if self.command == "HEAD":
            return
        view = memoryview(body)
        for i in range(0, len(view), 1 << 16):
            self.wfile.write(view[i:i + (1 << 16)])
        self.wfile.flush()
        if page.hang:
            # Never finishes: a byte now and then, until the server stops.
            deadline = time.time() + 60
            while not web.stopping.wait(0.5) and time.time() < deadline:
                self.wfile.write(b" ")
                self.wfile.flush()


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64


class _Server6(_Server):
    address_family = socket.AF_INET6

    def server_bind(self):
        # Dual stack: 127.0.0.1, ::1, 0.0.0.0 and friends all land here.
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


class WebServer:
    def __init__(self, host="127.0.0.2", default=None):
        self.host = host
        self.default = default
        self.pages = {}
        self.requests = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        cls = _Server6 if ":" in host else _Server
        self.httpd = cls((host, 0), _Handler)
        self.httpd.web = self
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.1},
                                       daemon=True)
        self.thread.start()

    @property
    def base(self):
        return "http://%s:%d" % (self.host, self.port)

    def url(self, path):
        return self.base + path

    def stop(self):
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)

    # --- pages ---

    def add(self, path, body=b"", ctype="text/html; charset=utf-8", **kw):
        if isinstance(body, str):
            body = body.encode("utf-8")
        self.pages[path] = Page(body, ctype, **kw)
        return self.url(path)

    def add_func(self, path, func):
        self.pages[path] = Page(func=func)
        return self.url(path)

    def redirect(self, path, to, code=302):
        return self.add(path, b"", "text/plain", status=code,
                        headers=[("Location", to)])

    def _lookup(self, raw):
        u = urllib.parse.urlsplit(raw)
        q = dict(urllib.parse.parse_qsl(u.query))
        page = self.pages.get(raw) or self.pages.get(u.path)
        if page is not None and page.func is not None:
            return page.func(q)
        if page is not None:
            return page
        if u.path == "/r" and "to" in q:
            return Page(b"", "text/plain", int(q.get("code", 302)),
                        [("Location", q["to"])])
        parts = u.path.split("/")
        if len(parts) == 4 and parts[1] == "chain":
            n, tag = int(parts[2]), parts[3]
            if n == 0:
                return Page(("<title>end %s</title>" % tag).encode())
            # Alternate absolute and relative Locations, and the codes.
            nxt = "/chain/%d/%s" % (n - 1, tag)
            if n % 2:
                nxt = self.url(nxt)
            return Page(b"", "text/plain", (301, 302, 303, 307, 308)[n % 5],
                        [("Location", nxt)])
        if u.path == "/ogimg" and "src" in q:
            return Page(("<html><head><title>t</title>"
                         "<meta property='og:title' content='OG image test'>"
                         "<meta property='og:image' content='%s'>"
                         "</head></html>" % escape(q["src"], quote=True))
                        .encode())
        return None

    # --- what was asked ---

    def _record(self, h):
        with self.lock:
            self.requests.append({"method": h.command, "path": h.path,
                                  "headers": dict(h.headers.items()),
                                  "time": time.time()})

    def seen(self, path=None, prefix=False):
        """Requests for path (with query), or all of them."""
        with self.lock:
            reqs = list(self.requests)
        if path is None:
            return reqs
        return [r for r in reqs
                if r["path"] == path or (prefix and r["path"].startswith(path))]

    def hits(self, path, prefix=False):
        return len(self.seen(path, prefix))


def oembed_json(**fields):
    return Page(json.dumps(fields).encode(), "application/json")


class _JsonHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        answer = self.server.json_answer(self)
        status, body = answer[0], answer[1]
        headers = answer[2] if len(answer) > 2 else ()
        data = json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in headers:
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass    # the client gave up (a timeout it was told to keep)


class JsonServer:
    """A threaded http.server on 127.0.0.1 whose GETs are answered by
    answer(request) -> (status, body) or (status, body, headers): request
    is the http.server handler (path, headers), body is JSON-encoded,
    headers a list of (name, value) sent after Content-Type and
    Content-Length."""

    def __init__(self, answer):
        self.answer = answer
        self.port = 0           # a free one, chosen by the first start()
        self.httpd = None
        self.thread = None
        self.start()

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    @property
    def running(self):
        return self.httpd is not None

    def start(self):
        """Listens (again) on the port; a no-op while it listens."""
        if self.httpd is not None:
            return
        self.httpd = _Server(("127.0.0.1", self.port), _JsonHandler)
        self.httpd.json_answer = self.answer
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.1},
                                       daemon=True)
        self.thread.start()

    def stop(self):
        """Closes the port: connections are refused until start()."""
        if self.httpd is None:
            return
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)
        self.httpd = None
