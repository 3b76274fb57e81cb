"""The audit log (issue: audit tamper tests): a log of ~50 entries built with
`custody audit append`; on fresh copies, an entry edited (detail, actor, time,
type), deleted, swapped with the next, or fabricated and inserted, and a tree
head replaced (root, signature, size, another store's head), each directly in
the SQLite file: `custody audit verify --json` exits 1 and names exactly the
first bad index; untouched it exits 0. The CSV and JSON exports parse. An
independent verifier written from docs/formats/audit-log.md alone (hashlib,
struct, sqlite3 and the openssl command) agrees with custody on the same log
and on the checked-in vector (tests/data/audit-vector).

    python3 test_audit.py --write-vector   rewrites tests/data/audit-vector/expected.json
"""

import csv
import hashlib
import io
import json
import os
import shutil
import sqlite3
import struct
import subprocess
import sys
import tempfile
import unittest

import cutest
from cutest import Store, run

VECTOR = os.path.join(cutest.DATA, "audit-vector")
N = 50          # entries in the dense log (a head after each)
N_SPARSE = 30   # entries in the sparse log (a head after every 10th)


def H(b):
    return hashlib.sha256(b).digest()


class IndependentLog:
    """Reads and checks an audit.db from the format document alone."""

    def __init__(self, store_dir, work):
        self.dir = store_dir
        with open(os.path.join(store_dir, "keyring.json")) as f:
            self.store_id = bytes.fromhex(json.load(f)["store_id"])
        server = os.path.join(store_dir, "server.pem")
        der = subprocess.run(["openssl", "x509", "-in", server, "-outform", "DER"],
                             check=True, capture_output=True).stdout
        self.key_id = H(der)
        self.pub = os.path.join(work, "pub.pem")
        with open(self.pub, "wb") as f:
            f.write(subprocess.run(["openssl", "x509", "-in", server, "-pubkey", "-noout"],
                                   check=True, capture_output=True).stdout)
        self.work = work
        db = sqlite3.connect(os.path.join(store_dir, "audit.db"))
        try:
            meta = dict(db.execute("SELECT key, value FROM meta"))
            assert meta["format"] == "custody-audit" and meta["version"] == "1", meta
            assert bytes.fromhex(meta["store_id"]) == self.store_id
            self.rows = db.execute("SELECT idx, time_us, type, actor, source, detail, chain "
                                   "FROM entries ORDER BY idx").fetchall()
            self.heads = db.execute("SELECT id, size, time_us, root, chain, key_id, signature "
                                    "FROM heads ORDER BY id").fetchall()
        finally:
            db.close()

    @staticmethod
    def leaf_bytes(idx, t, typ, actor, source, detail):
        b = bytes([1]) + struct.pack("<Qq", idx, t)
        for s in (typ, actor, source):
            e = s.encode()
            b += struct.pack("<H", len(e)) + e
        d = detail.encode()
        return b + struct.pack("<I", len(d)) + d

    def leaves(self):
        return [H(b"\x00" + self.leaf_bytes(*r[:6])) for r in self.rows]

    def chains(self):
        c = H(b"custody/v1/audit-chain\x00" + self.store_id)
        out = [c]  # out[n] = chain value of a log of n entries
        for lh in self.leaves():
            c = H(c + lh)
            out.append(c)
        return out

    @staticmethod
    def mth(leaves):
        n = len(leaves)
        if n == 0:
            return H(b"")
        if n == 1:
            return leaves[0]
        k = 1
        while k * 2 < n:
            k *= 2
        return H(b"\x01" + IndependentLog.mth(leaves[:k]) + IndependentLog.mth(leaves[k:]))

    def signature_ok(self, msg, sig):
        m, s = os.path.join(self.work, "m"), os.path.join(self.work, "s")
        with open(m, "wb") as f:
            f.write(msg)
        with open(s, "wb") as f:
            f.write(sig)
        p = subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", self.pub,
                            "-rawin", "-in", m, "-sigfile", s], capture_output=True)
        return p.returncode == 0

    def check(self):
        """Asserts the whole log is intact; returns its description."""
        leaves, chains = self.leaves(), self.chains()
        for i, r in enumerate(self.rows):
            assert r[0] == i, f"index {r[0]} at {i}"
            assert bytes.fromhex(r[6]) == chains[i + 1], f"chain of entry {i}"
        heads = []
        for hid, size, t, root, chain, kid, sig in self.heads:
            assert size <= len(leaves)
            assert bytes.fromhex(kid) == self.key_id, f"head {hid}: key id"
            want_root = self.mth(leaves[:size])
            assert bytes.fromhex(root) == want_root, f"head {hid}: root"
            assert bytes.fromhex(chain) == chains[size], f"head {hid}: chain"
            msg = (b"custody/v1/tree-head\x00" + struct.pack("<Qq", size, t) + want_root +
                   chains[size] + self.store_id)
            assert len(msg) == 117
            assert self.signature_ok(msg, bytes.fromhex(sig)), f"head {hid}: signature"
            heads.append({"size": size, "root": root, "chain": chain})
        return {
            "entries": len(leaves),
            "root": self.mth(leaves).hex(),
            "leaf_hashes": [x.hex() for x in leaves],
            "chains": [c.hex() for c in chains[1:]],
            "tree_heads": heads,
        }


def verify(store_dir):
    p = run("audit", "verify", "--store", store_dir, "--json")
    if p.returncode not in (0, 1):
        raise AssertionError(f"audit verify failed to run ({p.returncode}): {p.stderr}")
    rep = json.loads(p.stdout)
    assert (p.returncode == 1) == (rep["result"] == "tampered"), "exit code vs result"
    return p.returncode, rep


class Audit(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.root = tempfile.mkdtemp(prefix="custody-audit-")
        cls.dense = Store(cls.root, "dense", encryption="none")
        for i in range(N):
            cls.append(cls.dense, i)
        cls.sparse = Store(cls.root, "sparse", encryption="none")
        for i in range(N_SPARSE):
            cls.append(cls.sparse, i, sign=(i + 1) % 10 == 0)
        cls.other = Store(cls.root, "other", encryption="none")
        for i in range(3):
            cls.append(cls.other, i)
        cls.n = 0

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.root, ignore_errors=True)

    @staticmethod
    def append(store, i, sign=True, **kw):
        types = ["auth.login", "auth.login_failed", "auth.logout", "auth.token_refused",
                 "user.add", "role.change", "camera.change", "bookmark.add", "lock.add",
                 "export", "view.live", "view.playback"]
        detail = kw.pop("detail", json.dumps({"n": i, "camera": f"cam{i % 3}",
                                              "comment": f"entry \"{i}\", with, commas"}))
        args = ["audit", "append", "--store", store.dir, "--password-file", store.pw,
                "--type", kw.pop("type", types[i % len(types)]),
                "--actor", kw.pop("actor", ["alice", "bob", "Zoë", "-"][i % 4]),
                "--source", kw.pop("source", f"192.0.2.{i % 250}"), "--detail", detail]
        if not sign:
            args.append("--no-sign")
        p = run(*args, check=0)
        assert f"appended entry {i}\n" in p.stdout, p.stdout

    def fresh(self, base):
        Audit.n += 1
        return base.copy(f"case{Audit.n}")

    def db(self, s):
        return sqlite3.connect(os.path.join(s.dir, "audit.db"))

    def sql(self, s, *statements):
        c = self.db(s)
        try:
            with c:
                for st in statements:
                    c.execute(st[0], st[1]) if isinstance(st, tuple) else c.execute(st)
        finally:
            c.close()

    def rechain(self, s):
        """What an attacker can do without the key: recompute the chain column."""
        log = IndependentLog(s.dir, self.root)
        chains = log.chains()
        self.sql(s, *[("UPDATE entries SET chain = ? WHERE idx = ?", (chains[i + 1].hex(), r[0]))
                      for i, r in enumerate(log.rows)])

    def expect(self, s, index, words=None):
        code, rep = verify(s.dir)
        self.assertEqual(code, 1, rep)
        self.assertEqual(rep["result"], "tampered")
        self.assertEqual(rep["first_bad_index"], index, rep)
        if words:
            self.assertIn(words, rep["reason"])
        self.assertLessEqual(rep["proven_entries"], index)
        # the text form names it too
        p = run("audit", "verify", "--store", s.dir)
        self.assertEqual(p.returncode, 1)
        self.assertIn(f"first bad entry: {index}\n", p.stdout)
        return rep

    # --- untouched ---

    def test_untouched(self):
        for base, n in ((self.dense, N), (self.sparse, N_SPARSE)):
            code, rep = verify(base.dir)
            self.assertEqual(code, 0, rep)
            self.assertEqual(rep["result"], "intact")
            self.assertEqual(rep["entries"], n)
            self.assertEqual(rep["unsigned_entries"], 0)
            self.assertEqual(rep["signed_entries"], n)
            self.assertNotIn("first_bad_index", rep)
            p = run("audit", "verify", "--store", base.dir, check=0)
            self.assertIn("intact", p.stdout)
        # verify changes nothing in the store directory
        before = sorted(os.listdir(self.dense.dir))
        verify(self.dense.dir)
        self.assertEqual(sorted(os.listdir(self.dense.dir)), before)

    def test_independent_verifier_agrees(self):
        for base, n, heads in ((self.dense, N, N + 1), (self.sparse, N_SPARSE, 4)):
            got = IndependentLog(base.dir, self.root).check()
            self.assertEqual(got["entries"], n)
            self.assertEqual(len(got["tree_heads"]), heads)
            code, rep = verify(base.dir)
            self.assertEqual(rep["root"], got["root"])
            self.assertEqual(rep["tree_heads"], heads)

    def test_vector(self):
        with open(os.path.join(VECTOR, "expected.json")) as f:
            want = json.load(f)
        copy = os.path.join(self.root, "vector")
        shutil.copytree(os.path.join(VECTOR, "store"), copy)
        got = IndependentLog(copy, self.root).check()
        self.assertEqual(got, want)
        self.assertEqual([h["size"] for h in got["tree_heads"]], [0, 1, 2, 3, 5, 8])
        code, rep = verify(copy)
        self.assertEqual(code, 0, rep)
        self.assertEqual(rep["root"], want["root"])
        self.assertEqual(rep["entries"], want["entries"])

    # --- entries edited ---

    def test_edit_detail(self):
        s = self.fresh(self.dense)
        self.sql(s, "UPDATE entries SET detail = '{\"camera\":\"cam9\"}' WHERE idx = 17")
        self.expect(s, 17, "chain value")

    def test_edit_actor(self):
        s = self.fresh(self.dense)
        self.sql(s, "UPDATE entries SET actor = 'mallory' WHERE idx = 0")
        self.expect(s, 0)

    def test_edit_time(self):
        s = self.fresh(self.dense)
        self.sql(s, "UPDATE entries SET time_us = time_us + 1 WHERE idx = 33")
        self.expect(s, 33)

    def test_edit_type(self):
        s = self.fresh(self.dense)
        self.sql(s, "UPDATE entries SET type = 'auth.logout' WHERE idx = 49")
        self.expect(s, 49)

    def test_edit_source_sparse_heads(self):
        # heads only every 10 entries: the chain column still names the entry
        s = self.fresh(self.sparse)
        self.sql(s, "UPDATE entries SET source = '203.0.113.9' WHERE idx = 13")
        self.expect(s, 13)

    def test_edit_with_chain_rewritten(self):
        # the attacker recomputes the chain; the signed heads still catch it:
        # exactly with a head per entry, at the head interval's start otherwise
        s = self.fresh(self.dense)
        self.sql(s, "UPDATE entries SET detail = '{}' WHERE idx = 26")
        self.rechain(s)
        self.expect(s, 26, "Merkle root")
        s = self.fresh(self.sparse)
        self.sql(s, "UPDATE entries SET detail = '{}' WHERE idx = 26")
        self.rechain(s)
        self.expect(s, 20, "Merkle root")

    # --- entries removed, reordered, inserted ---

    def test_delete(self):
        s = self.fresh(self.dense)
        self.sql(s, "DELETE FROM entries WHERE idx = 21")
        self.expect(s, 21, "missing")

    def test_delete_renumbered(self):
        s = self.fresh(self.dense)
        self.sql(s, "DELETE FROM entries WHERE idx = 21",
                 "UPDATE entries SET idx = -idx WHERE idx > 21",
                 "UPDATE entries SET idx = -idx - 1 WHERE idx < 0")
        self.expect(s, 21)

    def test_delete_last(self):
        s = self.fresh(self.dense)
        self.sql(s, f"DELETE FROM entries WHERE idx = {N - 1}")
        self.expect(s, N - 1, "missing")

    def test_reorder(self):
        s = self.fresh(self.dense)
        self.sql(s, "UPDATE entries SET idx = -1 WHERE idx = 10",
                 "UPDATE entries SET idx = 10 WHERE idx = 11",
                 "UPDATE entries SET idx = 11 WHERE idx = -1")
        self.expect(s, 10)

    def test_reorder_contents(self):
        # the rows keep their index and chain; their contents trade places
        s = self.fresh(self.dense)
        cols = "time_us, type, actor, source, detail"
        c = self.db(s)
        a = c.execute(f"SELECT {cols} FROM entries WHERE idx = 30").fetchone()
        b = c.execute(f"SELECT {cols} FROM entries WHERE idx = 31").fetchone()
        c.close()
        upd = ("UPDATE entries SET time_us = ?, type = ?, actor = ?, source = ?, detail = ? "
               "WHERE idx = ?")
        self.sql(s, (upd, (*b, 30)), (upd, (*a, 31)))
        self.expect(s, 30)

    def insert_fabricated(self, s, k):
        self.sql(s, f"UPDATE entries SET idx = -idx - 100 WHERE idx >= {k}",
                 "UPDATE entries SET idx = -idx - 99 WHERE idx < 0",
                 ("INSERT INTO entries(idx, time_us, type, actor, source, detail, chain) "
                  "SELECT ?, time_us + 1, 'user.add', 'mallory', source, '{\"user\":\"mallory\"}', "
                  "chain FROM entries WHERE idx = ?", (k, k - 1)))

    def test_insert(self):
        s = self.fresh(self.dense)
        self.insert_fabricated(s, 25)
        self.expect(s, 25, "chain value")

    def test_insert_with_own_chain(self):
        # the fabricated row gets a chain value that matches it; the entries
        # after it are left alone
        s = self.fresh(self.dense)
        self.insert_fabricated(s, 25)
        log = IndependentLog(s.dir, self.root)
        self.sql(s, ("UPDATE entries SET chain = ? WHERE idx = 25", (log.chains()[26].hex(),)))
        self.expect(s, 25, "Merkle root")

    def test_insert_with_chain_rewritten(self):
        s = self.fresh(self.dense)
        self.insert_fabricated(s, 25)
        self.rechain(s)
        self.expect(s, 25)

    def test_append_fabricated_at_end(self):
        s = self.fresh(self.dense)
        self.sql(s, ("INSERT INTO entries SELECT ?, time_us, type, 'mallory', source, detail, "
                     "chain FROM entries WHERE idx = ?", (N, N - 1)))
        self.expect(s, N, "chain value")
        # with a matching chain value it is an unsigned entry; dated a day
        # before the newest head it cannot be the tail of a crash
        self.sql(s, f"UPDATE entries SET time_us = time_us - 86400000000 WHERE idx = {N}")
        self.rechain(s)
        rep = self.expect(s, N, "not under a signed tree head")
        self.assertEqual(rep["unsigned_entries"], 1)

    # --- tree heads replaced ---

    def head_id(self, s, size):
        c = self.db(s)
        try:
            return c.execute("SELECT id FROM heads WHERE size = ?", (size,)).fetchone()[0]
        finally:
            c.close()

    def test_head_root_changed(self):
        s = self.fresh(self.dense)
        self.sql(s, "UPDATE heads SET root = substr(root, 3) || '00' WHERE size = 20")
        rep = self.expect(s, 19, "tree head")
        self.assertEqual(rep["first_bad_head"], self.head_id(s, 20))
        self.assertEqual(rep["bad_tree_heads"], 1)

    def test_head_signature_changed(self):
        s = self.fresh(self.dense)
        self.sql(s, "UPDATE heads SET signature = '00' || substr(signature, 3) WHERE size = 35")
        self.expect(s, 34, "invalid signature")

    def test_head_size_changed(self):
        s = self.fresh(self.dense)
        hid = self.head_id(s, 40)
        self.sql(s, "UPDATE heads SET size = 41 WHERE size = 40")
        rep = self.expect(s, 39, "invalid signature")
        self.assertEqual(rep["first_bad_head"], hid)
        s = self.fresh(self.sparse)
        self.sql(s, "UPDATE heads SET size = 25 WHERE size = 20")
        self.expect(s, 10, "invalid signature")

    def test_head_from_another_store(self):
        s = self.fresh(self.dense)
        c = sqlite3.connect(os.path.join(self.other.dir, "audit.db"))
        row = c.execute("SELECT size, time_us, root, chain, key_id, signature FROM heads "
                        "WHERE size = 3").fetchone()
        c.close()
        self.sql(s, ("UPDATE heads SET size = ?, time_us = ?, root = ?, chain = ?, key_id = ?, "
                     "signature = ? WHERE size = 3", row))
        self.expect(s, 2, "another key")

    def test_heads_removed(self):
        s = self.fresh(self.dense)
        self.sql(s, "DELETE FROM heads")
        self.expect(s, 0, "no valid tree head")

    # --- unsigned tail, exports, errors ---

    def test_unsigned_tail(self):
        s = self.fresh(self.sparse)
        self.append(s, N_SPARSE, sign=False)
        self.append(s, N_SPARSE + 1, sign=False)
        code, rep = verify(s.dir)
        self.assertEqual(code, 0, rep)
        self.assertEqual(rep["unsigned_entries"], 2)
        self.assertEqual(rep["signed_entries"], N_SPARSE)
        p = run("audit", "sign", "--store", s.dir, "--password-file", s.pw, check=0)
        self.assertIn("signed tree head", p.stdout)
        p = run("audit", "sign", "--store", s.dir, "--password-file", s.pw, check=0)
        self.assertIn("newest tree head", p.stdout)
        code, rep = verify(s.dir)
        self.assertEqual((code, rep["unsigned_entries"]), (0, 0))

    def rows(self, s):
        c = self.db(s)
        try:
            return c.execute("SELECT idx, time_us, type, actor, source, detail FROM entries "
                             "ORDER BY idx").fetchall()
        finally:
            c.close()

    def test_export_csv(self):
        # bytes, not text: the line ends are part of the format
        p = subprocess.run([cutest.CUSTODY, "audit", "export", "--store", self.dense.dir,
                            "--format", "csv"], capture_output=True, check=True)
        text = p.stdout.decode("utf-8")
        self.assertEqual(text.count("\r\n"), N + 1)
        self.assertNotIn("\n", text.replace("\r\n", ""))
        got = list(csv.reader(io.StringIO(text, newline="")))
        self.assertEqual(got[0], ["index", "time", "type", "actor", "source", "detail"])
        self.assertEqual(len(got), N + 1)
        for row, (idx, t, typ, actor, source, detail) in zip(got[1:], self.rows(self.dense)):
            self.assertEqual(row, [str(idx), cutest.iso(t), typ, actor, source, detail])
            self.assertIn("with, commas", json.loads(row[5])["comment"])
        # to a file, never over an existing one
        out = os.path.join(self.root, "export.csv")
        run("audit", "export", "--store", self.dense.dir, "--format", "csv", "--output", out,
            check=0)
        with open(out, newline="") as f:
            self.assertEqual(list(csv.reader(f)), got)
        run("audit", "export", "--store", self.dense.dir, "--format", "csv", "--output", out,
            check=2)

    def test_export_json(self):
        p = run("audit", "export", "--store", self.dense.dir, "--format", "json", check=0)
        doc = json.loads(p.stdout)
        self.assertEqual(doc["format"], "custody-audit-export")
        self.assertEqual(len(doc["entries"]), N)
        self.assertEqual(len(doc["tree_heads"]), N + 1)
        for e, (idx, t, typ, actor, source, detail) in zip(doc["entries"], self.rows(self.dense)):
            self.assertEqual((e["index"], e["time_us"], e["time"], e["type"], e["actor"],
                              e["source"], e["detail"]),
                             (idx, t, cutest.iso(t), typ, actor, source, json.loads(detail)))
        log = IndependentLog(self.dense.dir, self.root)
        self.assertEqual([h["root"] for h in doc["tree_heads"]], [h[3] for h in log.heads])

    def test_errors(self):
        # no audit log yet: an error, not a verdict
        s = Store(self.root, "fresh-nolog", encryption="none")
        p = run("audit", "verify", "--store", s.dir, check=2)
        self.assertIn("no audit log", p.stderr)
        self.assertFalse(os.path.exists(os.path.join(s.dir, "audit.db")))
        run("audit", "export", "--store", s.dir, "--format", "csv", check=2)
        for bad in (["--detail", "[1]"], ["--detail", "{\"a\": 1, \"a\": 2}"],
                    ["--type", "Bad.Type"], ["--actor", "a\tb"]):
            args = ["audit", "append", "--store", s.dir, "--password-file", s.pw,
                    "--type", "x", *bad]
            run(*args, check=2)
        run("audit", "frobnicate", "--store", s.dir, check=2)
        run("audit", "verify", "--store", s.dir, "--format", "csv", check=2)
        run("audit", "export", "--store", s.dir, "--format", "xml", check=2)


def write_vector():
    work = tempfile.mkdtemp(prefix="custody-audit-vector-")
    try:
        copy = os.path.join(work, "store")  # reading a WAL database may write beside it
        shutil.copytree(os.path.join(VECTOR, "store"), copy)
        got = IndependentLog(copy, work).check()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    with open(os.path.join(VECTOR, "expected.json"), "w") as f:
        json.dump(got, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    if sys.argv[1:] == ["--write-vector"]:
        write_vector()
    else:
        cutest.main()
