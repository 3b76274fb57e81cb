"""The HTTPS API's TLS, seen from the real `openssl s_client` (issue: HTTPS
API): TLS 1.0 and 1.1 refused by the server (the client is set to offer them,
and proven able to against a local s_server); weak TLS 1.2 cipher suites
(no forward secrecy, CBC, 3DES, RC4, NULL, EXPORT, anonymous; those this
openssl can still offer) refused; the Mozilla intermediate AEAD suites and
TLS 1.3 accepted; renegotiation declined; the chain verifies against
STORE/tls/ca.pem and not against another store's CA; the leaf is ECDSA P-256
with the configured names; HSTS and the other security headers on every
answer; plain HTTP on the port answered with nothing an HTTP client could
read; operator certificate files served (with their issuing CA), and a key
file others can read, a key of another certificate or no key refused at
start."""

import os
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import time

import api_util
import cutest
import daemon_util as du
from cutest import Store

OPENSSL_TIMEOUT = 20

# Suites the server must refuse in TLS 1.2, with why.
WEAK_TLS12 = [
    ("AES128-SHA", "RSA key exchange: no forward secrecy"),
    ("AES256-SHA256", "RSA key exchange: no forward secrecy"),
    ("AES128-GCM-SHA256", "RSA key exchange: no forward secrecy"),
    ("DES-CBC3-SHA", "3DES"),
    ("ECDHE-ECDSA-DES-CBC3-SHA", "3DES"),
    ("ECDHE-ECDSA-AES128-SHA", "CBC, not in intermediate"),
    ("ECDHE-ECDSA-AES256-SHA", "CBC, not in intermediate"),
    ("ECDHE-ECDSA-AES128-SHA256", "CBC, not in intermediate"),
    ("ECDHE-ECDSA-AES256-SHA384", "CBC, not in intermediate"),
    ("ECDHE-ECDSA-NULL-SHA", "no encryption"),
    ("NULL-SHA256", "no encryption"),
    ("RC4-SHA", "RC4"),
    ("ECDHE-ECDSA-RC4-SHA", "RC4"),
    ("EXP-RC4-MD5", "EXPORT"),
    ("EXPORT", "EXPORT"),
    ("AECDH-AES128-SHA", "anonymous: no authentication"),
    ("ADH-AES128-GCM-SHA256", "anonymous: no authentication"),
    ("aNULL", "anonymous: no authentication"),
    ("PSK", "pre-shared keys"),
]
GOOD_TLS12 = ["ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
              "ECDHE-ECDSA-CHACHA20-POLY1305"]
GOOD_TLS13 = ["TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384",
              "TLS_CHACHA20_POLY1305_SHA256"]

# What s_client says when it could not even offer what it was asked for:
# then a "refusal" would prove nothing about the server.
CLIENT_SIDE = ("no ciphers available", "no protocols available", "no cipher match",
               "Error with command", "SSL_CONF_cmd", "bad value", "Connection refused")


class Handshake:
    """The outcome of one `openssl s_client` run."""

    def __init__(self, p):
        self.rc = p.returncode
        self.out = p.stdout.decode("utf-8", "replace")
        self.err = p.stderr.decode("utf-8", "replace")
        self.text = self.out + "\n" + self.err
        m = re.search(r"^New, (\S+), Cipher is (\S+)", self.out, re.M)
        self.protocol = m.group(1) if m else None
        self.cipher = m.group(2) if m else None
        # a handshake completed only if a real cipher was agreed and s_client
        # exited normally
        self.ok = (self.rc == 0 and self.cipher not in (None, "(NONE)") and
                   self.protocol not in (None, "(NONE)"))
        m = re.search(r"SSL handshake has read (\d+) bytes and written (\d+) bytes", self.out)
        self.read_bytes = int(m.group(1)) if m else 0
        self.written = int(m.group(2)) if m else 0
        m = re.search(r"^Verify return code: (\d+)", self.out, re.M)
        self.verify_code = int(m.group(1)) if m else None
        m = re.search(r"^ALPN protocol: (\S+)", self.out, re.M)
        self.alpn = m.group(1) if m else None

    def certs(self):
        """PEM certificates the server sent (with -showcerts)."""
        return re.findall(r"-----BEGIN CERTIFICATE-----\n.*?-----END CERTIFICATE-----\n",
                          self.out, re.S)

    def client_side_failure(self):
        return any(w in self.text for w in CLIENT_SIDE)

    def __repr__(self):
        return f"s_client exit {self.rc}\nstdout:\n{self.out[-3000:]}\nstderr:\n{self.err[-2000:]}"


def s_client(port, *args, data=b""):
    p = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", *args],
                       input=data, capture_output=True, timeout=OPENSSL_TIMEOUT)
    return Handshake(p)


def client_can_offer(cipher, proto="-tls1_2"):
    """Whether this openssl can still offer cipher (at security level 0)."""
    p = subprocess.run(["openssl", "ciphers", "-s", proto, f"{cipher}:@SECLEVEL=0"],
                       capture_output=True, text=True)
    return p.returncode == 0 and p.stdout.strip() != ""


def x509(pem_or_path, *args):
    """openssl x509 on a PEM file or PEM text; stdout as text."""
    if pem_or_path.startswith("-----BEGIN"):
        p = subprocess.run(["openssl", "x509", "-noout", *args], input=pem_or_path.encode(),
                           capture_output=True, check=True)
    else:
        p = subprocess.run(["openssl", "x509", "-noout", "-in", pem_or_path, *args],
                           capture_output=True, check=True)
    return p.stdout.decode()


def fingerprint(pem_or_path):
    return x509(pem_or_path, "-fingerprint", "-sha256").strip().split("=", 1)[1]


def sans(pem_or_path):
    """The subjectAltName entries as a set of "DNS:x" / "IP:x"."""
    text = x509(pem_or_path, "-ext", "subjectAltName")
    lines = [l.strip() for l in text.splitlines()[1:] if l.strip()]
    out = set()
    for item in ",".join(lines).split(","):
        item = item.strip()
        if item.startswith("IP Address:"):
            out.add("IP:" + item[len("IP Address:"):])
        elif item:
            out.add(item)
    return out


class TlsBase(cutest.TempDirTest):
    def setUp(self):
        super().setUp()
        self.procs = []

    def tearDown(self):
        for p in reversed(self.procs):
            p.stop()
        super().tearDown()

    def api(self, store, **kw):
        a = api_util.Api(self.tmp, store, **kw)
        self.procs.append(a)
        return a

    def refused(self, h, what):
        self.assertFalse(h.ok, f"{what}: a handshake completed\n{h!r}")
        self.assertNotEqual(h.rc, 0, f"{what}: s_client exited 0\n{h!r}")
        self.assertFalse(h.client_side_failure(),
                         f"{what}: the client could not offer it, which proves nothing\n{h!r}")
        self.assertGreater(h.written, 0, f"{what}: no ClientHello was sent\n{h!r}")
        # the server said no: an alert, or the connection closed on the client
        self.assertRegex(h.text, r"SSL alert number|unexpected eof|Connection reset|"
                                 r"wrong version number",
                         f"{what}: no sign of the server refusing\n{h!r}")

    def accepted(self, h, what, protocol=None, cipher=None):
        self.assertTrue(h.ok, f"{what}: no handshake\n{h!r}")
        if protocol:
            self.assertEqual(h.protocol, protocol, what)
        if cipher:
            self.assertEqual(h.cipher, cipher, what)


class StoreCertificate(TlsBase):
    """One custodyd with the store's certificate for the checks that only
    look (started once: they change nothing)."""

    @classmethod
    def setUpClass(cls):
        cls.root = tempfile.mkdtemp(prefix="custody-tls-")
        cls.store = Store(cls.root, "st", encryption="none")
        api_util.add_role(cls.store, "admins", [("admin", "*")])
        cls.pw = "Tls-Header-Check-5531"
        api_util.add_user(cls.store, cls.root, "admin", cls.pw, roles=("admins",))
        cls.a = api_util.Api(cls.root, cls.store)
        try:
            cls.a.start()
        except BaseException:
            cls.a.stop()
            raise
        cls.port = cls.a.port
        cls.ca = os.path.join(cls.store.dir, "tls", "ca.pem")

    @classmethod
    def tearDownClass(cls):
        cls.a.stop()
        shutil.rmtree(cls.root, ignore_errors=True)

    # --- protocol versions ---

    def test_old_protocols_refused(self):
        # Control: the same client options complete a TLS 1.0 / 1.1 handshake
        # with a local s_server that allows them, so a refusal below is the
        # server's and not this openssl's default security level.
        pki = du.PKI(self.tmp)
        for flag, name in (("-tls1", "TLS 1.0"), ("-tls1_1", "TLS 1.1")):
            with self.subTest(name):
                client = [flag, "-cipher", "DEFAULT@SECLEVEL=0"]
                ctl = self.control_server(pki, flag)
                if not ctl.ok:
                    self.skipTest(f"this openssl cannot do {name} even at SECLEVEL=0: {ctl!r}")
                h = s_client(self.port, *client)
                self.refused(h, name)
                self.assertRegex(h.text, r"alert protocol version|unsupported protocol|"
                                         r"wrong version number|protocol version",
                                 f"{name}: not refused for its version\n{h!r}")
                # TLS 1.2 with the very same client settings works
                self.accepted(s_client(self.port, "-tls1_2", "-cipher", "DEFAULT@SECLEVEL=0"),
                              "TLS 1.2 control", protocol="TLSv1.2")

    def control_server(self, pki, flag):
        """s_client against a local s_server that allows flag's version."""
        port = du.free_port()
        # stdin stays open: s_server stops at its end of input
        srv = subprocess.Popen(["openssl", "s_server", "-accept", f"127.0.0.1:{port}",
                                "-cert", pki.cert, "-key", pki.key, flag,
                                "-cipher", "DEFAULT@SECLEVEL=0"],
                               stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 10
            while True:
                h = s_client(port, flag, "-cipher", "DEFAULT@SECLEVEL=0")
                if "Connection refused" not in h.text or time.monotonic() > deadline:
                    return h
                time.sleep(0.1)
        finally:
            srv.kill()
            srv.wait()
            srv.stdin.close()

    def test_tls12_weak_ciphers_refused(self):
        offered = 0
        for cipher, why in WEAK_TLS12:
            with self.subTest(cipher=cipher, why=why):
                if not client_can_offer(cipher):
                    continue  # this openssl cannot offer it any more: nothing to prove
                offered += 1
                h = s_client(self.port, "-tls1_2", "-cipher", f"{cipher}:@SECLEVEL=0")
                self.refused(h, f"{cipher} ({why})")
        # the meaningful ones are still in every OpenSSL 3
        self.assertGreaterEqual(offered, 8)

    def test_tls12_intermediate_accepted(self):
        for cipher in GOOD_TLS12:
            with self.subTest(cipher):
                h = s_client(self.port, "-tls1_2", "-cipher", cipher)
                self.accepted(h, cipher, protocol="TLSv1.2", cipher=cipher)
        # offered everything, the server picks forward secrecy and an AEAD
        h = s_client(self.port, "-tls1_2", "-cipher", "ALL:@SECLEVEL=0")
        self.accepted(h, "ALL")
        self.assertIn(h.cipher, GOOD_TLS12)

    def test_tls13_accepted(self):
        for suite in GOOD_TLS13:
            with self.subTest(suite):
                h = s_client(self.port, "-tls1_3", "-ciphersuites", suite)
                self.accepted(h, suite, protocol="TLSv1.3", cipher=suite)
        # a default client gets TLS 1.3
        h = s_client(self.port)
        self.accepted(h, "default", protocol="TLSv1.3")

    def test_renegotiation_refused(self):
        # s_client reads its input only once the handshake is done: "R" then
        # asks for a TLS 1.2 renegotiation, which the server must decline
        p = subprocess.Popen(["openssl", "s_client", "-connect", f"127.0.0.1:{self.port}",
                              "-tls1_2"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        try:
            p.stdin.write(b"R\n")
            p.stdin.flush()
            time.sleep(1.5)
            p.stdin.close()
            p.wait(timeout=OPENSSL_TIMEOUT)
            err = p.stderr.read().decode("utf-8", "replace")
            out = p.stdout.read().decode("utf-8", "replace")
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            p.stdout.close()
            p.stderr.close()
        self.assertIn("New, TLSv1.2", out)  # the first handshake was fine
        self.assertIn("RENEGOTIATING", err)
        self.assertRegex(err, r"no renegotiation|alert", err)
        self.accepted(s_client(self.port), "after a renegotiation attempt")

    def test_alpn(self):
        h = s_client(self.port, "-alpn", "http/1.1")
        self.accepted(h, "ALPN")
        self.assertEqual(h.alpn, "http/1.1", repr(h))

    # --- the certificate ---

    def test_chain_verifies_against_store_ca(self):
        for check in (["-verify_hostname", "localhost", "-servername", "localhost"],
                      ["-verify_ip", "127.0.0.1"]):
            with self.subTest(check[1]):
                h = s_client(self.port, "-CAfile", self.ca, "-verify_return_error", *check)
                self.accepted(h, "store CA")
                self.assertEqual(h.verify_code, 0, repr(h))
        # a name the certificate does not hold fails
        h = s_client(self.port, "-CAfile", self.ca, "-verify_return_error",
                     "-verify_hostname", "not-this-server.example")
        self.assertFalse(h.ok, repr(h))

    def test_chain_does_not_verify_against_another_ca(self):
        other = Store(self.tmp, "other", encryption="none")
        other_ca = os.path.join(other.dir, "tls", "ca.pem")
        if not os.path.exists(other_ca):
            cutest.run("tls", "--store", other.dir, "--password-file", other.pw, check=0)
        self.assertNotEqual(fingerprint(other_ca), fingerprint(self.ca))
        h = s_client(self.port, "-CAfile", other_ca, "-verify_return_error",
                     "-verify_ip", "127.0.0.1")
        self.assertFalse(h.ok, repr(h))
        self.assertNotEqual(h.rc, 0)
        self.assertRegex(h.text, r"certificate verify failed|Verification error|"
                                 r"unable to get local issuer|self.signed")
        # nor against the same store's evidence site CA (Ed25519): the TLS CA
        # is a separate one
        h = s_client(self.port, "-CAfile", os.path.join(self.store.dir, "site-ca.pem"),
                     "-verify_return_error", "-verify_ip", "127.0.0.1")
        self.assertFalse(h.ok, repr(h))

    def test_served_leaf(self):
        h = s_client(self.port, "-showcerts")
        self.accepted(h, "showcerts")
        certs = h.certs()
        self.assertGreaterEqual(len(certs), 1, repr(h))
        leaf = os.path.join(self.tmp, "leaf.pem")
        with open(leaf, "w") as f:
            f.write(certs[0])
        # openssl verify with the store's CA, as a purpose of an SSL server
        p = subprocess.run(["openssl", "verify", "-CAfile", self.ca, "-purpose", "sslserver",
                            leaf], capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn(": OK", p.stdout)
        # the leaf is the store's tls/server.pem
        self.assertEqual(fingerprint(leaf),
                         fingerprint(os.path.join(self.store.dir, "tls", "server.pem")))
        # ECDSA on P-256, not a CA, for serverAuth
        text = x509(leaf, "-text")
        self.assertIn("id-ecPublicKey", text)
        self.assertRegex(text, r"NIST CURVE: P-256|prime256v1")
        self.assertRegex(text, r"Signature Algorithm: ecdsa-with-SHA(256|384)")
        self.assertRegex(text, r"CA:FALSE")
        self.assertIn("TLS Web Server Authentication", text)
        # the default names
        names = sans(leaf)
        for n in ("DNS:localhost", "IP:127.0.0.1", "IP:0:0:0:0:0:0:0:1"):
            self.assertIn(n, names)
        # the CA: also ECDSA P-256, a CA
        ca_text = x509(self.ca, "-text")
        self.assertIn("id-ecPublicKey", ca_text)
        self.assertRegex(ca_text, r"NIST CURVE: P-256|prime256v1")
        self.assertIn("CA:TRUE", ca_text)
        # a chain sent beyond the leaf must be the store's TLS CA, nothing else
        for extra in certs[1:]:
            self.assertEqual(fingerprint(extra), fingerprint(self.ca))

    # --- HTTP over TLS ---

    def raw_https(self, request):
        ctx = ssl.create_default_context(cafile=self.ca)
        with socket.create_connection(("127.0.0.1", self.port), timeout=20) as s:
            with ctx.wrap_socket(s, server_hostname="localhost") as t:
                t.sendall(request)
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = t.recv(65536)
                    if not chunk:
                        break
                    data += chunk
        head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1")
        lines = head.split("\r\n")
        headers = {}
        for l in lines[1:]:
            k, _, v = l.partition(":")
            headers.setdefault(k.strip().lower(), []).append(v.strip())
        return lines[0], headers

    def check_security_headers(self, h, what):
        hsts = h.get("strict-transport-security", [""])
        self.assertEqual(len(hsts), 1, what)
        m = re.match(r"max-age=(\d+)", hsts[0])
        self.assertTrue(m, f"{what}: HSTS {hsts}")
        self.assertGreaterEqual(int(m.group(1)), 15552000, f"{what}: HSTS under 180 days")
        self.assertEqual(h.get("x-content-type-options"), ["nosniff"], what)
        self.assertIn("no-store", h.get("cache-control", [""])[0], what)
        csp = h.get("content-security-policy", [""])[0]
        self.assertIn("default-src 'none'", csp, what)
        self.assertIn("frame-ancestors 'none'", csp, what)
        self.assertIn(h.get("x-frame-options", [""])[0].upper(), ("DENY",), what)
        self.assertEqual(h.get("referrer-policy"), ["no-referrer"], what)

    def test_security_headers(self):
        # unauthenticated (401), unknown path (404), through s_client -quiet
        status, h = self.raw_https(b"GET /api/v1/server HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertEqual(status, "HTTP/1.1 401 Unauthorized")
        self.check_security_headers(h, "401")
        status, h = self.raw_https(b"GET /nothing-here HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertTrue(status.startswith("HTTP/1.1 404"), status)
        self.check_security_headers(h, "404")
        p = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{self.port}",
                            "-quiet", "-CAfile", self.ca, "-verify_return_error"],
                           input=b"GET /api/v1/server HTTP/1.1\r\nHost: x\r\n"
                                 b"Connection: close\r\n\r\n",
                           capture_output=True, timeout=OPENSSL_TIMEOUT)
        out = p.stdout.decode("latin-1")
        self.assertTrue(out.startswith("HTTP/1.1 401"), out[:300] + p.stderr.decode())
        self.assertRegex(out.lower(), r"strict-transport-security: max-age=\d+")
        # with a token: 200 and the same headers
        tok = self.a.login("admin", self.pw)
        st, hd, body = self.a.request("GET", "/api/v1/server", token=tok)
        self.assertEqual(st, 200, body)
        self.check_security_headers({k: [v] for k, v in hd.items()}, "200")
        self.a.request("POST", "/api/v1/auth/logout", token=tok)

    def test_plain_http_gets_nothing(self):
        for req in (b"GET /api/v1/server HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
                    b"POST /api/v1/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    b"Content-Type: application/json\r\nContent-Length: 34\r\n\r\n"
                    b"{\"user\":\"admin\",\"password\":\"xx\"}\r\n"):
            with self.subTest(req[:20]):
                data = b""
                with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
                    s.sendall(req)
                    try:
                        while len(data) < 65536:
                            chunk = s.recv(4096)
                            if not chunk:
                                break  # closed: what we want
                            data += chunk
                    except (socket.timeout, ConnectionResetError):
                        pass
                self.assertNotIn(b"HTTP/", data)
                self.assertNotIn(b"{", data)
                self.assertNotIn(b"api", data)
                self.assertNotIn(b"location", data.lower())
                if data:
                    # at most a TLS record (an alert) saying it is not TLS
                    self.assertIn(data[0], (0x15, 0x16), data[:64])
                    self.assertLess(len(data), 64, data[:64])
        # the server is still fine afterwards
        self.accepted(s_client(self.port), "after plain HTTP")


class OperatorCertificate(TlsBase):
    """cert_file and key_file given by the operator; names = ..."""

    def operator_pki(self):
        pki = du.PKI.__new__(du.PKI)
        pki.d = self.tmp
        ca, ca_key = pki.make_ca("operator")
        key, csr = os.path.join(self.tmp, "op.key"), os.path.join(self.tmp, "op.csr")
        crt, ext = os.path.join(self.tmp, "op.pem"), os.path.join(self.tmp, "op.ext")
        with open(ext, "w") as f:
            f.write("subjectAltName=DNS:vms.example.net,IP:127.0.0.1\n"
                    "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\n"
                    "extendedKeyUsage=serverAuth\n")
        du.openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                   "-keyout", key, "-out", csr, "-subj", "/CN=vms.example.net")
        du.openssl("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
                   "-out", crt, "-days", "2", "-extfile", ext)
        chain = os.path.join(self.tmp, "op-chain.pem")
        with open(chain, "w") as f, open(crt) as a, open(ca) as b:
            f.write(a.read() + b.read())
        os.chmod(key, 0o600)
        return ca, crt, chain, key

    def test_operator_files(self):
        ca, crt, chain, key = self.operator_pki()
        store = Store(self.tmp, "st", encryption="none")
        a = self.api(store, https_opts={"cert_file": chain, "key_file": key}).start()
        h = s_client(a.port, "-showcerts", "-CAfile", ca, "-verify_return_error",
                     "-verify_hostname", "vms.example.net", "-servername", "vms.example.net")
        self.accepted(h, "operator certificate")
        self.assertEqual(h.verify_code, 0, repr(h))
        certs = h.certs()
        self.assertEqual(fingerprint(certs[0]), fingerprint(crt))
        # it does not chain to the store's own TLS CA
        h = s_client(a.port, "-CAfile", os.path.join(store.dir, "tls", "ca.pem"),
                     "-verify_return_error", "-verify_ip", "127.0.0.1")
        self.assertFalse(h.ok, repr(h))
        # the same TLS policy applies to it
        self.refused(s_client(a.port, "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"), "TLS 1.1")
        self.refused(s_client(a.port, "-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA"),
                     "CBC with the operator's certificate")
        self.accepted(s_client(a.port, "-tls1_3"), "TLS 1.3", protocol="TLSv1.3")

    def test_operator_chain_with_intermediate(self):
        # root CA -> issuing CA -> leaf; cert_file holds the leaf and the
        # issuing CA, clients trust the root only: the server must send the
        # issuing CA with its certificate, or no client can build the chain
        pki = du.PKI.__new__(du.PKI)
        pki.d = self.tmp
        root, root_key = pki.make_ca("op-root")
        ikey, icsr = os.path.join(self.tmp, "issuing.key"), os.path.join(self.tmp, "issuing.csr")
        icrt, iext = os.path.join(self.tmp, "issuing.pem"), os.path.join(self.tmp, "issuing.ext")
        with open(iext, "w") as f:
            f.write("basicConstraints=critical,CA:TRUE,pathlen:0\n"
                    "keyUsage=critical,keyCertSign,cRLSign\n")
        du.openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                   "-keyout", ikey, "-out", icsr, "-subj", "/CN=operator issuing CA")
        du.openssl("x509", "-req", "-in", icsr, "-CA", root, "-CAkey", root_key,
                   "-CAcreateserial", "-out", icrt, "-days", "2", "-extfile", iext)
        leaf, key = pki.make_leaf("op-leaf", icrt, ikey)
        os.chmod(key, 0o600)
        chain = os.path.join(self.tmp, "op-leaf-chain.pem")
        with open(chain, "w") as f, open(leaf) as a, open(icrt) as b:
            f.write(a.read() + b.read())
        store = Store(self.tmp, "st", encryption="none")
        a = self.api(store, https_opts={"cert_file": chain, "key_file": key}).start()
        h = s_client(a.port, "-showcerts", "-CAfile", root, "-verify_return_error",
                     "-verify_ip", "127.0.0.1")
        sent = [fingerprint(c) for c in h.certs()]
        self.assertEqual(sent[:1], [fingerprint(leaf)], repr(h))
        self.assertIn(fingerprint(icrt), sent,
                      "the issuing CA from cert_file is not sent with the certificate")
        self.accepted(h, "chain through the issuing CA")
        self.assertEqual(h.verify_code, 0, repr(h))

    def test_readable_key_file_refused(self):
        ca, crt, chain, key = self.operator_pki()
        store = Store(self.tmp, "st", encryption="none")
        for mode in (0o644, 0o640, 0o604):
            with self.subTest(mode=oct(mode)):
                os.chmod(key, mode)
                a = self.api(store, https_opts={"cert_file": chain, "key_file": key},
                             name=f"custodyd-{mode:o}")
                a.daemon.start()
                try:
                    rc = a.daemon.p.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    rc = None
                log = a.daemon.read_log()
                self.assertIsNotNone(rc, f"custodyd accepted a key file of mode {mode:o} "
                                         f"and kept running:\n{log}")
                self.assertNotEqual(rc, 0, log)
                self.assertIn(key, log)
                self.assertRegex(log, r"mode|permission|read by others|readable", log)
                # nothing was listening
                self.assertEqual(a.daemon.count("https.listening"), 0)
        # and once it is 0600 it starts
        os.chmod(key, 0o600)
        a = self.api(store, https_opts={"cert_file": chain, "key_file": key}).start()
        self.accepted(s_client(a.port), "key 0600")

    def test_mismatched_key_refused(self):
        # a key that is not the certificate's, and a file that is no key
        ca, crt, chain, key = self.operator_pki()
        other = os.path.join(self.tmp, "other.key")
        du.openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                   "-out", other)
        os.chmod(other, 0o600)
        notkey = os.path.join(self.tmp, "notkey.pem")
        with open(notkey, "w") as f, open(crt) as c:
            f.write(c.read())
        os.chmod(notkey, 0o600)
        store = Store(self.tmp, "st", encryption="none")
        for k in (other, notkey):
            with self.subTest(os.path.basename(k)):
                a = self.api(store, https_opts={"cert_file": chain, "key_file": k},
                             name="custodyd-" + os.path.basename(k))
                a.daemon.start()
                rc = a.daemon.p.wait(timeout=60)
                log = a.daemon.read_log()
                self.assertNotEqual(rc, 0, log)
                self.assertRegex(log, r"certificate|key", log)
                self.assertEqual(a.daemon.count("https.listening"), 0)

    def test_cert_without_key_refused(self):
        ca, crt, chain, key = self.operator_pki()
        store = Store(self.tmp, "st", encryption="none")
        a = self.api(store, https_opts={"cert_file": chain})
        a.daemon.start()
        rc = a.daemon.p.wait(timeout=60)
        self.assertNotEqual(rc, 0)
        self.assertIn("key_file", a.daemon.read_log())

    def test_names(self):
        store = Store(self.tmp, "st", encryption="none")
        a = self.api(store, https_opts={"names": "localhost, 127.0.0.1, cctv.example.org"})
        a.start()
        h = s_client(a.port, "-showcerts", "-CAfile", a.ca, "-verify_return_error",
                     "-verify_hostname", "cctv.example.org", "-servername", "cctv.example.org")
        self.accepted(h, "names")
        leaf = h.certs()[0]
        self.assertEqual(sans(leaf), {"DNS:localhost", "IP:127.0.0.1", "DNS:cctv.example.org"})
        self.assertEqual(fingerprint(leaf), fingerprint(os.path.join(store.dir, "tls",
                                                                     "server.pem")))
        # ::1 was not asked for this time
        self.assertNotIn("IP:0:0:0:0:0:0:0:1", sans(leaf))
        for check in (["-verify_hostname", "localhost"], ["-verify_ip", "127.0.0.1"]):
            self.accepted(s_client(a.port, "-CAfile", a.ca, "-verify_return_error", *check),
                          check[1])
        self.assertFalse(s_client(a.port, "-CAfile", a.ca, "-verify_return_error",
                                  "-verify_hostname", "other.example.org").ok)
        # the next start with other names re-issues; the CA stays
        ca_fp = fingerprint(a.ca)
        a.stop()
        b = self.api(store, https_opts={"names": "vms.example.com"}, name="custodyd2").start()
        leaf2 = s_client(b.port, "-showcerts").certs()[0]
        self.assertEqual(sans(leaf2), {"DNS:vms.example.com"})
        self.assertEqual(fingerprint(a.ca), ca_fp)
        p = subprocess.run(["openssl", "verify", "-CAfile", a.ca, "/dev/stdin"],
                           input=leaf2.encode(), capture_output=True)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)


if __name__ == "__main__":
    cutest.main()
