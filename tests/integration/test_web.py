"""The browser client served by custodyd (issue 13): every file of web/ at its
path with the content type of its extension, an ETag that a revalidation
answers 304, the page security headers checked exactly (CSP without inline
code or eval, HSTS, frame-ancestors, nosniff, COOP/CORP, Permissions-Policy)
while the API keeps its own (no-store); only GET and HEAD; path attacks
refused; the embedding generator's types, ETags and refusals on a directory
of its own; the live WebSocket refused from a foreign Origin and accepted
from the server's own or with none."""

import base64
import hashlib
import os
import socket
import subprocess
import sys

import api_util
import cutest
from cutest import Store

ADMIN_PW = "Web-Admin-Pass-77"
SRC = os.environ.get("CU_SOURCE_ROOT", os.path.join(os.path.dirname(__file__), "..", ".."))
WEB = os.path.join(SRC, "web")
GENERATOR = os.path.join(SRC, "scripts", "embed.py")

PAGE_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: "
            "data:; media-src 'self' blob:; connect-src 'self'; worker-src 'self' blob:; "
            "font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
API_CSP = "default-src 'none'; frame-ancestors 'none'"
COMMON = {
    "strict-transport-security": "max-age=63072000",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=()",
}
TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
         ".mjs": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
         ".svg": "image/svg+xml; charset=utf-8", ".json": "application/json; charset=utf-8",
         ".txt": "text/plain; charset=utf-8", ".png": "image/png", ".ico": "image/x-icon",
         ".woff2": "font/woff2"}


def web_files():
    out = []
    for root, dirs, names in os.walk(WEB):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for n in names:
            if not n.startswith("."):
                full = os.path.join(root, n)
                out.append((os.path.relpath(full, WEB).replace(os.sep, "/"), full))
    return sorted(out)


def raw_request(api, head):
    """Sends raw request bytes over TLS; returns (status, head text, body)."""
    s = api.ctx.wrap_socket(socket.create_connection(("127.0.0.1", api.port), timeout=20),
                            server_hostname="localhost")
    try:
        s.sendall(head)
        data = b""
        while True:
            try:
                chunk = s.recv(65536)
            except (socket.timeout, ConnectionError, OSError):
                break
            if not chunk:
                break
            data += chunk
            if b"\r\n\r\n" in data:
                h, _, rest = data.partition(b"\r\n\r\n")
                if b" 101 " in h.split(b"\r\n")[0]:
                    break  # a WebSocket: the head is all there is to read
                cl = [l for l in h.split(b"\r\n") if l.lower().startswith(b"content-length:")]
                if cl and len(rest) >= int(cl[0].split(b":")[1]):
                    break
    finally:
        s.close()
    h, _, body = data.partition(b"\r\n\r\n")
    line = h.split(b"\r\n")[0].decode(errors="replace")
    status = int(line.split()[1]) if len(line.split()) > 1 else None
    return status, h.decode(errors="replace"), body


def ws_upgrade(api, path, origin=None, host="127.0.0.1"):
    """A WebSocket upgrade (custody-live.v1) with an optional Origin; the status."""
    key = base64.b64encode(os.urandom(16)).decode()
    extra = f"Origin: {origin}\r\n" if origin is not None else ""
    st, head, _ = raw_request(api, (f"GET {path} HTTP/1.1\r\nHost: {host}\r\n"
                                    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                                    f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                                    f"Sec-WebSocket-Protocol: custody-live.v1\r\n{extra}\r\n")
                              .encode())
    return st, head


class Served(cutest.TempDirTest):
    @classmethod
    def setUpClass(cls):
        cls.root = cutest.tempfile.mkdtemp(prefix="cu-web-")
        cls.clip = cutest.make_clip(os.path.join(cls.root, "clip.mp4"), seconds=4)
        cls.s = Store(cls.root, "st", encryption="light", segment_seconds=2)
        cls.s.import_clip("cam1", cls.clip, start="2026-01-01T00:00:00Z")
        api_util.add_role(cls.s, "admins", [("admin", "*")])
        api_util.add_user(cls.s, cls.root, "chief", ADMIN_PW, roles=["admins"])
        cls.api = api_util.Api(cls.root, cls.s).start()
        cls.tok = cls.api.login("chief", ADMIN_PW)

    @classmethod
    def tearDownClass(cls):
        cls.api.stop()
        cutest.shutil.rmtree(cls.root, ignore_errors=True)

    def check_page_headers(self, h):
        for k, v in COMMON.items():
            self.assertEqual(h.get(k), v, k)
        self.assertEqual(h.get("content-security-policy"), PAGE_CSP)
        self.assertEqual(h.get("cache-control"), "no-cache")
        self.assertNotIn("unsafe", h["content-security-policy"])

    def test_every_file_served_with_its_type_and_etag(self):
        files = web_files()
        self.assertIn("index.html", [r for r, _ in files])
        for rel, full in files:
            with open(full, "rb") as f:
                data = f.read()
            st, h, body = self.api.request("GET", "/" + rel)
            self.assertEqual(st, 200, rel)
            self.assertEqual(body, data, rel)
            self.assertEqual(h["content-type"], TYPES[os.path.splitext(rel)[1].lower()], rel)
            self.assertEqual(h["etag"], '"' + hashlib.sha256(data).hexdigest()[:32] + '"', rel)
            self.check_page_headers(h)

    def test_root_is_index_and_revalidates(self):
        with open(os.path.join(WEB, "index.html"), "rb") as f:
            index = f.read()
        st, h, body = self.api.request("GET", "/")
        self.assertEqual((st, body), (200, index))
        etag = h["etag"]
        st, h2, body = self.api.request("GET", "/", headers={"If-None-Match": etag})
        self.assertEqual((st, body), (304, b""))
        self.assertEqual(h2["etag"], etag)
        self.check_page_headers(h2)
        st, _, _ = self.api.request("GET", "/", headers={"If-None-Match": '"0000", W/' + etag})
        self.assertEqual(st, 304)
        st, _, body = self.api.request("GET", "/index.html", headers={"If-None-Match": '"00"'})
        self.assertEqual((st, body), (200, index))
        # HEAD: the head of GET, no body
        st, h3, body = self.api.request("HEAD", "/index.html")
        self.assertEqual((st, body), (200, b""))
        self.assertEqual(h3["content-length"], str(len(index)))

    def test_api_headers_unchanged(self):
        st, h, _ = self.api.request("GET", "/api/v1/server", token=self.tok)
        self.assertEqual(st, 200)
        for k, v in COMMON.items():
            self.assertEqual(h.get(k), v, k)
        self.assertEqual(h["cache-control"], "no-store")
        self.assertEqual(h["content-security-policy"], API_CSP)
        # media: never cached either
        st, h, body = self.api.request(
            "GET", "/api/v1/cameras/cam1/playback/2026-01-01T00:00:00Z/2026-01-01T00:00:02Z",
            token=self.tok)
        self.assertEqual(st, 200, body[:200])
        self.assertEqual(h["content-type"], "video/mp4")
        self.assertEqual(h["cache-control"], "no-store")
        self.assertEqual(h["content-security-policy"], API_CSP)

    def test_other_methods_and_unknown_paths(self):
        for m in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS"):
            st, h, _ = self.api.request(m, "/index.html")
            self.assertEqual(st, 405, m)
            self.assertEqual(h["allow"], "GET, HEAD")
        for p in ("/nope.html", "/apix", "/api/v2/server", "/index.html/", "/INDEX.HTML"):
            st, _, body = self.api.request("GET", p)
            self.assertEqual(st, 404, p)
            self.assertIn(b"not_found", body)

    def get_raw(self, path):
        return raw_request(self.api, f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                     "Connection: close\r\n\r\n".encode("latin-1"))

    def test_path_attacks_refused(self):
        # refused outright: 400 naming why, or 404, or the connection closed
        refused = {"/../etc/passwd": (404,), "/..%2f..%2fetc/passwd": (404,),
                   "/%2e%2e/%2e%2e/etc/passwd": (404,), "/index.html%5c..%5c": (400,),
                   "/%252e%252e/index.html": (400,), "/index.html%00.js": (None, 400),
                   "/" + "a" * 300 + ".html": (400,), "/index.html/.": (404,),
                   "/%2e%2e%2fetc%2fpasswd": (404,), "/web/index.html": (404,),
                   "/daemon/web.c": (404,), "/.git/config": (404,)}
        for p, want in refused.items():
            st, head, body = self.get_raw(p)
            self.assertIn(st, want, f"{p}: {head}")
            self.assertNotIn(b"<!doctype", body.lower(), p)
        st, head, body = raw_request(self.api, b"GET /index.html\0.js HTTP/1.1\r\n"
                                               b"Host: 127.0.0.1\r\n\r\n")
        self.assertIn(st, (None, 400), head)
        self.assertNotIn(b"<!doctype", body.lower())
        st, _, body = self.api.request("GET", "/" + "b" * 300)
        self.assertEqual(st, 400)
        self.assertIn(b"256 bytes", body)
        st, _, body = self.api.request("GET", "/%2525")
        self.assertEqual(st, 400)
        self.assertIn(b"encoded", body)
        # libwebsockets decodes %XX and removes dot segments and empty segments
        # before custodyd sees the path (RFC 3986 5.2.4): these reach it as
        # /index.html and get exactly that file, never anything else
        # (docs/api.md, "Known deviations")
        with open(os.path.join(WEB, "index.html"), "rb") as f:
            index = f.read()
        for p in ("/index%2ehtml", "//index.html", "/%2findex.html", "/a/..//index.html",
                  "/.%2e/index.html", "/./index.html", "/x/%2e%2e/index.html"):
            st, head, body = self.get_raw(p)
            self.assertEqual((st, body), (200, index), p)

    def live_url(self):
        st, j = self.api.json("POST", "/api/v1/media-urls", token=self.tok,
                              body={"path": "/api/v1/cameras/cam1/live"}, expect=200)
        return j["url"]

    def test_websocket_origin(self):
        url = self.live_url()
        port = self.api.port
        st, head = ws_upgrade(self.api, url, origin="https://evil.example")
        self.assertEqual(st, 403, head)
        self.assertIn("content-security-policy: default-src 'none'", head.lower())
        for bad in (f"http://127.0.0.1:{port}", f"https://127.0.0.1:{port + 1}",
                    "https://127.0.0.1", f"https://127.0.0.1:{port}/", "null",
                    f"https://127.0.0.1:{port}.evil.example"):
            st, head = ws_upgrade(self.api, url, origin=bad, host=f"127.0.0.1:{port}")
            self.assertEqual(st, 403, f"{bad}: {head}")
        st, head = ws_upgrade(self.api, url, origin=f"https://127.0.0.1:{port}",
                              host=f"127.0.0.1:{port}")
        self.assertEqual(st, 101, head)
        st, head = ws_upgrade(self.api, url, origin=f"https://LOCALHOST:{port}",
                              host=f"localhost:{port}")
        self.assertEqual(st, 101, head)
        st, head = ws_upgrade(self.api, url)
        self.assertEqual(st, 101, head)
        log = self.api.daemon.read_log()
        self.assertIn("live view refused from", log)
        self.assertIn("Origin \"https://evil.example\"", log)


class Generator(cutest.TempDirTest):
    def gen(self, files):
        d = os.path.join(self.tmp, "web")
        for rel, data in files.items():
            p = os.path.join(d, rel)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "wb") as f:
                f.write(data)
        out, dep = os.path.join(self.tmp, "w.c"), os.path.join(self.tmp, "w.d")
        p = subprocess.run([sys.executable, GENERATOR, "web", d, out, dep], capture_output=True,
                           text=True)
        text = open(out).read() if p.returncode == 0 else None
        return p, text, (open(dep).read() if p.returncode == 0 else None)

    def test_types_etags_and_depfile(self):
        files = {f"a{ext}": ext.encode() * 3 for ext in TYPES}
        files["sub/dir/x.js"] = b"x"
        files[".hidden.swp"] = b"editor"
        p, text, dep = self.gen(files)
        self.assertEqual(p.returncode, 0, p.stderr)
        for rel, data in files.items():
            if rel.startswith("."):
                self.assertNotIn(rel, text)
                continue
            etag = hashlib.sha256(data).hexdigest()[:32]
            ctype = TYPES[os.path.splitext(rel)[1]]
            self.assertIn(f'{{"{rel}", "{ctype}", "\\"{etag}\\""', text)
        self.assertIn(f"cd_web_nfiles = {len(files) - 1};", text)
        # ninja learns of every file and every directory (a new file rebuilds)
        self.assertIn(os.path.join(self.tmp, "web", "sub", "dir"), dep)
        self.assertIn(os.path.join(self.tmp, "web", "sub", "dir", "x.js"), dep)

    def test_refusals(self):
        for rel, why in (("a.exe", "no content type"), ("b c.html", "only A-Z"),
                         ("x" * 100 + "/" + "y" * 100 + "/" + "z" * 60 + ".js",
                          "over 256 bytes")):
            cutest.shutil.rmtree(os.path.join(self.tmp, "web"), ignore_errors=True)
            p, _, _ = self.gen({rel: b"1"})
            self.assertEqual(p.returncode, 1, rel)
            self.assertIn(why, p.stderr)


if __name__ == "__main__":
    cutest.main()
