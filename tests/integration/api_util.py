"""Helpers for the HTTPS API tests: custodyd with an [https] section on a free
port, a TLS client that trusts only the store's site TLS CA (Python's ssl and
http.client, nothing else), users and roles made with the custody CLI."""

import http.client
import json
import os
import ssl
import subprocess
import time

import cutest
import daemon_util
from cutest import run


class Api:
    """custodyd with the API on; stopped by its PID."""

    def __init__(self, d, store, cameras=None, https_opts=None, daemon_opts=None,
                 store_opts=None, name="custodyd"):
        self.port = daemon_util.free_port()
        self.daemon = daemon_util.Daemon(d, store, cameras or {}, daemon_opts=daemon_opts,
                                         store_opts=store_opts, name=name)
        # the custody program player folders carry: in the build tree it is not
        # beside custodyd, where an installed one would be found (None: unset)
        opts = {"listen": "127.0.0.1", "port": str(self.port),
                "player": os.path.abspath(cutest.CUSTODY), **(https_opts or {})}
        opts = {k: v for k, v in opts.items() if v is not None}
        with open(self.daemon.conf, "a") as f:
            f.write("\n[https]\n" + "".join(f"{k} = {v}\n" for k, v in opts.items()))
        self.store = store
        self.ca = os.path.join(store.dir, "tls", "ca.pem")

    def start(self):
        self.daemon.start()
        self.daemon.wait_event("https.listening", timeout=60)
        ctx = ssl.create_default_context(cafile=self.ca)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        self.ctx = ctx
        return self

    def stop(self):
        self.daemon.stop()

    def term(self):
        return self.daemon.term()

    def conn(self):
        return http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx, timeout=60)

    def request(self, method, path, token=None, body=None, headers=None, raw_body=None,
                conn=None):
        """(status, headers dict (lower-case names), body bytes)."""
        h = dict(headers or {})
        data = raw_body
        if body is not None:
            data = json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        if token is not None:
            h["Authorization"] = "Bearer " + token
        c = conn or self.conn()
        try:
            c.request(method, path, body=data, headers=h)
            r = c.getresponse()
            payload = r.read()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, payload
        finally:
            if conn is None:
                c.close()

    def json(self, method, path, token=None, body=None, expect=None):
        st, h, b = self.request(method, path, token=token, body=body)
        if expect is not None and st != expect:
            raise AssertionError(f"{method} {path}: {st}, expected {expect}: {b[:500]!r}")
        return st, (json.loads(b) if b and h.get("content-type", "").startswith(
            "application/json") else None)

    def login(self, user, password):
        st, j = self.json("POST", "/api/v1/auth/login", body={"user": user, "password": password},
                          expect=200)
        return j["token"]


def secret(d, name, text):
    path = os.path.join(d, name)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text + "\n")
    os.chmod(path, 0o600)
    return path


ADMIN_COMMANDS = ("user", "role", "group", "profile")


def cli(store, *args):
    """custody CMD SUB --store DIR ...; a change of users, roles, groups or
    profiles also gets the store password (it is written to the audit log)."""
    extra = (["--store-password-file", store.pw]
             if args[0] in ADMIN_COMMANDS and args[1] != "list" else [])
    return run(args[0], args[1], "--store", store.dir, *extra, *args[2:], check=0)


def add_user(store, d, name, password, roles=()):
    pw = secret(d, name + ".userpw", password)
    args = ["user", "add", "--name", name, "--password-file", pw]
    for r in roles:
        args += ["--role", r]
    cli(store, *args)


def add_role(store, role, grants):
    """grants: [(function, scope)], scope a camera name, "group:NAME" or "*"."""
    cli(store, "role", "add", "--name", role)
    for fn, scope in grants:
        where = (["--all"] if scope == "*" else
                 ["--group", scope[6:]] if scope.startswith("group:") else ["--camera", scope])
        cli(store, "role", "grant", "--name", role, "--function", fn, *where)


def import_clip(store, camera, clip, start):
    store.import_clip(camera, clip, start=start)


def ffprobe(path):
    p = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-show_entries",
                        "format=format_name,duration:stream=codec_name,nb_read_frames",
                        "-of", "json", path], capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        raise AssertionError("ffprobe refused the file: " + p.stderr)
    return json.loads(p.stdout)
