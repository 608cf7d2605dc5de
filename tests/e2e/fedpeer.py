"""An independent federation peer for the e2e tests, and the TLS pieces.

The peer is written with matrix.org's own Python libraries (signedjson on
top of PyNaCl), not with anything of ours: it publishes its keys at
/_matrix/key/v2/server, serves media on /_matrix/federation/v1/media/download
as multipart/mixed (or MSC1902 raw bytes, or the legacy v3 download), checks
the X-Matrix signature of every federation request it gets against the
caller's published key, and signs requests of its own.

CertAuthority makes a throw-away certificate authority with the openssl
tool; the stacks and the peers present certificates it issued, and the
stacks are told to trust it with federation_ca_file.

Needs Debian's python3-signedjson and python3-nacl: run with /usr/bin/python3.
"""
import http.client
import http.server
import json
import os
import re
import socket
import socketserver
import ssl
import subprocess
import threading
import time

import signedjson.key
import signedjson.sign


# --- TLS ---------------------------------------------------------------------

class CertAuthority:
    """A CA (EC P-256) in a temp dir; issue() makes leaf certificates."""

    def __init__(self, directory):
        self.dir = str(directory)
        os.makedirs(self.dir, exist_ok=True)
        self.key = os.path.join(self.dir, "ca.key")
        self.pem = os.path.join(self.dir, "ca.pem")
        self._openssl("genpkey", "-algorithm", "EC", "-pkeyopt",
                      "ec_paramgen_curve:P-256", "-out", self.key)
        self._openssl("req", "-x509", "-new", "-key", self.key, "-sha256",
                      "-subj", "/CN=mediarepo e2e test CA", "-days", "2",
                      "-addext", "basicConstraints=critical,CA:TRUE",
                      "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                      "-out", self.pem)
        self._serial = 1

    @staticmethod
    def _openssl(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    def issue(self, name, dns=(), ips=()):
        """(cert path, key path) for a server certificate with these SANs."""
        base = os.path.join(self.dir, name)
        key, csr, pem, ext = (base + ".key", base + ".csr", base + ".pem",
                              base + ".ext")
        sans = ["DNS:" + d for d in dns] + ["IP:" + i for i in ips]
        with open(ext, "w") as f:
            f.write("subjectAltName=%s\nbasicConstraints=CA:FALSE\n"
                    "keyUsage=critical,digitalSignature\n"
                    "extendedKeyUsage=serverAuth\n" % ",".join(sans))
        self._openssl("genpkey", "-algorithm", "EC", "-pkeyopt",
                      "ec_paramgen_curve:P-256", "-out", key)
        self._openssl("req", "-new", "-key", key, "-subj", "/CN=" + name,
                      "-out", csr)
        self._serial += 1
        self._openssl("x509", "-req", "-in", csr, "-CA", self.pem, "-CAkey",
                      self.key, "-set_serial", str(self._serial), "-days",
                      "2", "-sha256", "-extfile", ext, "-out", pem)
        return pem, key

    def client_context(self):
        ctx = ssl.create_default_context(cafile=self.pem)
        ctx.check_hostname = True
        return ctx


class PinnedHTTPS(http.client.HTTPSConnection):
    """HTTPS to a server name (TLS name and Host header) at a fixed address,
    as federation_resolve does on our side."""

    def __init__(self, name, port, addr, context, timeout=10):
        super().__init__(name, port, context=context, timeout=timeout)
        self._addr = addr

    def connect(self):
        sock = socket.create_connection((self._addr, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


class Response:
    def __init__(self, status, headers, body):
        self.status_code = status
        self.headers = headers          # an http.client.HTTPMessage
        self.content = body

    def json(self):
        return json.loads(self.content)


def split_name(server_name):
    host, _, port = server_name.rpartition(":")
    return host, int(port)


# --- X-Matrix ----------------------------------------------------------------

def xmatrix_header(origin, destination, key_id, sig):
    return ('X-Matrix origin="%s",destination="%s",key="%s",sig="%s"'
            % (origin, destination, key_id, sig))


def parse_xmatrix(value):
    """The auth-params of an X-Matrix header (names lower-cased)."""
    if value is None or not value.startswith("X-Matrix "):
        raise ValueError("not X-Matrix: %r" % value)
    params = {}
    for m in re.finditer(r'\s*([A-Za-z]+)=("((?:[^"\\]|\\.)*)"|[^,]*)\s*,?',
                         value[len("X-Matrix "):]):
        v = m.group(3) if m.group(3) is not None else m.group(2)
        params[m.group(1).lower()] = re.sub(r"\\(.)", r"\1", v)
    return params


def sign_request(signing_key, origin, destination, method, uri):
    """The X-Matrix header value for a body-less request (spec 4.1/4.9)."""
    obj = signedjson.sign.sign_json(
        {"method": method, "uri": uri, "origin": origin,
         "destination": destination}, origin, signing_key)
    key_id, sig = next(iter(obj["signatures"][origin].items()))
    return xmatrix_header(origin, destination, key_id, sig)


# --- the peer ----------------------------------------------------------------

class Media:
    """What the peer serves for one media id.

    data/content_type/filename: inline bytes. location: a Location part
    instead. apis: which download APIs know the id ("v1", "msc1902",
    "legacy"); the others answer 404 M_UNRECOGNIZED. delay: seconds to wait
    before answering. respond: (status, [(header, value)], body) sent as it
    is on the v1 API instead of a well-formed answer.
    """

    def __init__(self, data=b"", content_type="application/octet-stream",
                 filename=None, location=None, apis=("v1",), delay=0,
                 respond=None):
        self.respond = respond
        self.data = data
        self.content_type = content_type
        self.filename = filename
        self.location = location
        self.apis = set(apis)
        self.delay = delay


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        pass    # refused handshakes are what some tests want


class FedPeer:
    """A federation peer at https://127.0.0.1:port, named server_name.

    resolve maps other server names to (address, port) for the key fetches
    it makes to check their signatures and for the requests it sends.
    requests: one dict per request received (method, path, headers,
    verified, why); a federation request whose signature does not check out
    is answered 401 and recorded with verified=False.
    """

    def __init__(self, ca, port, host="peer.test", key_valid_ms=3600_000,
                 cert=None):
        self.ca = ca
        self.port = port
        self.server_name = "%s:%d" % (host, port)
        self.signing_key = signedjson.key.generate_signing_key("peer1")
        self.key_id = "ed25519:peer1"
        self.key_valid_ms = key_valid_ms
        self.media = {}
        self.resolve = {}
        self.requests = []
        self.lock = threading.Lock()
        self._key_cache = {}
        cert, key = cert or ca.issue(host.replace(".", "_") + str(port),
                                     dns=[host])
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        self.httpd = _Server(("127.0.0.1", port), self._handler())
        # The handshake is made by the handler thread, on first read.
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket,
                                            server_side=True,
                                            do_handshake_on_connect=False)
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       daemon=True)
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)

    # --- what it saw

    def seen(self, pred=None):
        with self.lock:
            return [r for r in self.requests if pred is None or pred(r)]

    def downloads(self, media_id):
        return self.seen(lambda r: r["path"].split("?")[0].endswith(
            "/" + media_id) and "/download/" in r["path"])

    # --- keys

    def key_response(self):
        vk = signedjson.key.get_verify_key(self.signing_key)
        obj = {
            "server_name": self.server_name,
            "verify_keys": {self.key_id: {
                "key": signedjson.key.encode_verify_key_base64(vk)}},
            "old_verify_keys": {},
            "valid_until_ts": int(time.time() * 1000) + self.key_valid_ms,
        }
        return signedjson.sign.sign_json(obj, self.server_name,
                                         self.signing_key)

    def connection(self, server_name, timeout=10):
        addr, port = self.resolve[server_name]
        host, _ = split_name(server_name)
        return PinnedHTTPS(host, port, addr, self.ca.client_context(),
                           timeout)

    def fetch_verify_key(self, server_name, key_id):
        """The key server_name publishes under key_id, its self-signature
        checked; None when it has no such key."""
        if (server_name, key_id) in self._key_cache:
            return self._key_cache[(server_name, key_id)]
        c = self.connection(server_name)
        try:
            c.request("GET", "/_matrix/key/v2/server")
            r = c.getresponse()
            body = json.loads(r.read())
        finally:
            c.close()
        assert body["server_name"] == server_name, body
        assert body["valid_until_ts"] > time.time() * 1000, body
        keys = {}
        for kid, v in body["verify_keys"].items():
            alg, version = kid.split(":", 1)
            keys[kid] = signedjson.key.decode_verify_key_base64(
                alg, version, v["key"])
        # Every published key must have signed the response.
        for vk in keys.values():
            signedjson.sign.verify_signed_json(body, server_name, vk)
        for kid, vk in keys.items():
            self._key_cache[(server_name, kid)] = vk
        return keys.get(key_id)

    def check_signature(self, method, uri, authorization):
        """(origin, None) when authorization is a valid X-Matrix signature
        of this request for us, else (origin or None, why)."""
        try:
            p = parse_xmatrix(authorization)
        except ValueError as e:
            return None, str(e)
        origin = p.get("origin")
        if p.get("destination") != self.server_name:
            return origin, "destination %r" % p.get("destination")
        if origin not in self.resolve:
            return origin, "unknown origin %r" % origin
        try:
            vk = self.fetch_verify_key(origin, p.get("key"))
        except Exception as e:         # noqa: BLE001 - recorded for the test
            return origin, "key fetch failed: %r" % e
        if vk is None:
            return origin, "no key %r" % p.get("key")
        obj = {"method": method, "uri": uri, "origin": origin,
               "destination": self.server_name,
               "signatures": {origin: {p["key"]: p.get("sig", "")}}}
        try:
            signedjson.sign.verify_signed_json(obj, origin, vk)
        except Exception as e:         # noqa: BLE001
            return origin, "bad signature: %r" % e
        return origin, None

    # --- requests it sends

    def sign(self, destination, method, uri, origin=None, key=None):
        return sign_request(key or self.signing_key,
                            origin or self.server_name, destination, method,
                            uri)

    def request(self, server_name, uri, authorization=None, method="GET",
                timeout=15):
        """A request to server_name over verified TLS; authorization None
        signs it, False sends none, a string is sent as it is."""
        if authorization is None:
            authorization = self.sign(server_name, method, uri)
        headers = {"Authorization": authorization} if authorization else {}
        c = self.connection(server_name, timeout)
        try:
            c.request(method, uri, headers=headers)
            r = c.getresponse()
            return Response(r.status, r.headers, r.read())
        finally:
            c.close()

    # --- serving

    def _handler(self):
        peer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = 10

            def log_message(self, *args):
                pass

            def send(self, status, body, content_type="application/json",
                     extra=()):
                if isinstance(body, (dict, list)):
                    body = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for k, v in extra:
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def error(self, status, code, msg=""):
                self.send(status, {"errcode": code, "error": msg})

            def do_GET(self):
                path = self.path.split("?")[0]
                rec = {"method": "GET", "path": self.path,
                       "headers": dict(self.headers), "verified": None,
                       "why": None, "time": time.monotonic()}
                with peer.lock:
                    peer.requests.append(rec)
                if path == "/_matrix/key/v2/server":
                    return self.send(200, peer.key_response())
                if path.startswith("/_matrix/federation/"):
                    origin, why = peer.check_signature(
                        "GET", self.path, self.headers.get("Authorization"))
                    rec.update(verified=why is None, why=why, origin=origin)
                    if why is not None:
                        return self.error(401, "M_UNAUTHORIZED", why)
                m = re.fullmatch(r"/_matrix/federation/v1/media/download/"
                                 r"([^/]+)", path)
                if m:
                    return self.media_v1(m.group(1))
                m = re.fullmatch(r"/_matrix/federation/(?:v1|unstable/"
                                 r"org\.matrix\.msc1902)/remote_media/"
                                 r"download/([^/]+)/([^/]+)", path)
                if m:
                    return self.media_raw(m.group(1), m.group(2), "msc1902")
                m = re.fullmatch(r"/_matrix/media/(?:v3|r0)/download/"
                                 r"([^/]+)/([^/]+)", path)
                if m:
                    return self.media_raw(m.group(1), m.group(2), "legacy")
                return self.error(404, "M_UNRECOGNIZED", "unrecognized")

            def lookup(self, media_id, api):
                media = peer.media.get(media_id)
                if media is not None and media.delay:
                    time.sleep(media.delay)
                if media is not None and api not in media.apis:
                    self.error(404, "M_UNRECOGNIZED", "unrecognized")
                    return None
                if media is None:
                    self.error(404, "M_NOT_FOUND", "no such media")
                return media

            def disposition(self, media):
                if media.filename is None:
                    return []
                return [("Content-Disposition",
                         'attachment; filename="%s"' % media.filename)]

            def media_v1(self, media_id):
                media = self.lookup(media_id, "v1")
                if media is None:
                    return
                if media.respond is not None:
                    status, headers, body = media.respond
                    self.send_response(status)
                    for k, v in headers:
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    return self.wfile.write(body)
                b = "peerBoundary0123"
                if media.location is not None:
                    second = "Location: %s\r\n\r\n" % media.location
                    data = b""
                else:
                    second = "Content-Type: %s\r\n" % media.content_type
                    second += "".join("%s: %s\r\n" % kv
                                      for kv in self.disposition(media))
                    second += "\r\n"
                    data = media.data
                body = (("--%s\r\nContent-Type: application/json\r\n\r\n{}"
                         "\r\n--%s\r\n%s" % (b, b, second)).encode() + data +
                        ("\r\n--%s--\r\n" % b).encode())
                self.send(200, body, "multipart/mixed; boundary=" + b)

            def media_raw(self, server, media_id, api):
                if server != peer.server_name:
                    return self.error(404, "M_NOT_FOUND", "not ours")
                media = self.lookup(media_id, api)
                if media is None:
                    return
                self.send(200, media.data, media.content_type,
                          self.disposition(media))

        return Handler


class PlainServer:
    """A plain HTTP server on addr (a CDN for Location parts): serves
    routes {path: (status, headers, body)} and records every request."""

    def __init__(self, addr, port, routes):
        self.addr, self.port, self.routes = addr, port, routes
        self.requests = []
        srv = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = 10

            def log_message(self, *args):
                pass

            def do_GET(self):
                srv.requests.append(self.path)
                status, headers, body = srv.routes.get(
                    self.path, (404, {}, b"not here"))
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = _Server((addr, port), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       daemon=True)
        self.thread.start()

    def url(self, path):
        return "http://%s:%d%s" % (self.addr, self.port, path)

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


class SilentServer:
    """Accepts connections and never answers (nor reads): a peer that hangs.
    connections counts the accepted ones. With close, each connection is
    closed at once: a canary that only counts who came."""

    def __init__(self, addr, port, close=False):
        self.close = close
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((addr, port))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.conns = []
        self.connections = 0
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                c, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            self.connections += 1
            if self.close:
                c.close()
            else:
                self.conns.append(c)

    def stop(self):
        self._stop.set()
        self.thread.join(5)
        for c in self.conns:
            c.close()
        self.sock.close()
