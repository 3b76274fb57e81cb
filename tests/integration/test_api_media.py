"""Recorded and live media through the HTTPS API, checked with ffprobe:
playback of a range as fragmented MP4 with the right duration and frame
count; a range whose recording was tampered with is refused with the camera,
the start of the failed segment and the reason, never served as intact;
JPEG stills; signed media URLs; live view over a WebSocket; and evidence
locks that keep footage through a retention run that deletes everything
around it."""

import base64
import json
import os
import socket
import sqlite3
import ssl
import struct
import time

import api_util
import cutest
import daemon_util
from cutest import Store, run

ADMIN_PW = "Media-Admin-Pass-7"
T0 = 1_767_225_600_000_000          # 2026-01-01T00:00:00Z in µs


def us(s):
    return T0 + int(s * 1_000_000)


class Playback(cutest.TempDirTest):
    @classmethod
    def setUpClass(cls):
        cls.clip_dir = cutest.tempfile.mkdtemp(prefix="cu-media-")
        cls.clip = cutest.make_clip(os.path.join(cls.clip_dir, "clip.mp4"), seconds=10)

    @classmethod
    def tearDownClass(cls):
        cutest.shutil.rmtree(cls.clip_dir, ignore_errors=True)

    def setUp(self):
        super().setUp()
        self.s = Store(self.tmp, "st", encryption="strong", segment_seconds=2)
        self.s.import_clip("cam1", self.clip, start=cutest.iso(T0))
        api_util.add_role(self.s, "admins", [("admin", "*")])
        api_util.add_user(self.s, self.tmp, "chief", ADMIN_PW, roles=["admins"])
        self.api = api_util.Api(self.tmp, self.s).start()
        self.tok = self.api.login("chief", ADMIN_PW)

    def tearDown(self):
        self.api.stop()
        super().tearDown()

    def fetch(self, path, token=True):
        return self.api.request("GET", path, token=self.tok if token else None)

    def save(self, name, data):
        p = os.path.join(self.tmp, name)
        with open(p, "wb") as f:
            f.write(data)
        return p

    def test_playback_is_valid_fmp4_with_the_right_frames(self):
        st, h, body = self.fetch(f"/api/v1/cameras/cam1/playback/{cutest.iso(us(2))}/"
                                 f"{cutest.iso(us(7))}")
        self.assertEqual(st, 200, body[:300])
        self.assertEqual(h["content-type"], "video/mp4")
        self.assertEqual(h.get("transfer-encoding"), "chunked")
        self.assertIn("max-age", h["strict-transport-security"])
        info = api_util.ffprobe(self.save("range.mp4", body))
        self.assertIn("mp4", info["format"]["format_name"])
        v = [s for s in info["streams"] if s["codec_name"] == "h264"][0]
        # 25 fps, key frame every second: frames at 2.00 s .. 7.00 s inclusive
        self.assertEqual(int(v["nb_read_frames"]), 5 * 25 + 1)
        self.assertAlmostEqual(float(info["format"]["duration"]), 5.04, delta=0.05)
        self.assertIn(b"moof", body)
        # it decodes: ffmpeg reads every frame without error
        p = cutest.subprocess.run(["ffmpeg", "-v", "error", "-i", self.save("r2.mp4", body),
                                   "-f", "null", "-"], capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stderr, "")

    def test_a_range_from_between_key_frames_starts_at_the_key_frame_before(self):
        st, _, body = self.fetch(f"/api/v1/cameras/cam1/playback/{us(3.5)}/{us(4.5)}")
        self.assertEqual(st, 200)
        info = api_util.ffprobe(self.save("mid.mp4", body))
        v = [s for s in info["streams"] if s["codec_name"] == "h264"][0]
        self.assertEqual(int(v["nb_read_frames"]), 38)   # 3.00 .. 4.50 s

    def test_tampered_range_is_refused_and_named(self):
        segs = self.s.segments("cam1")
        # the segment holding 6 s .. 8 s
        seq = [r[0] for r in segs if r[2] <= us(6.5) <= r[3]][0]
        start = [r[2] for r in segs if r[0] == seq][0]
        path = self.s.segment_path("cam1", seq)
        with open(path, "r+b") as f:
            f.seek(os.path.getsize(path) // 2)
            b = f.read(1)
            f.seek(-1, 1)
            f.write(bytes([b[0] ^ 0x40]))
        st, h, body = self.fetch(f"/api/v1/cameras/cam1/playback/{cutest.iso(us(5))}/"
                                 f"{cutest.iso(us(9))}")
        self.assertEqual(st, 409, body[:300])
        e = json.loads(body)["error"]
        self.assertEqual(e["code"], "tampered")
        self.assertEqual(e["camera"], "cam1")
        self.assertEqual(e["failed_segment_start"], cutest.iso(start))
        self.assertEqual(e["segment"], seq)
        self.assertTrue(e["reason"])
        self.assertNotIn(b"moof", body)
        # the footage before it is still served, and a still inside it is refused
        st, _, body = self.fetch(f"/api/v1/cameras/cam1/playback/{us(1)}/{us(3)}")
        self.assertEqual(st, 200)
        st, _, body = self.fetch(f"/api/v1/cameras/cam1/still/{us(6.5)}")
        self.assertEqual(st, 409, body[:300])
        self.assertEqual(json.loads(body)["error"]["code"], "tampered")

    def test_still_is_a_jpeg_with_camera_and_time(self):
        st, h, body = self.fetch(f"/api/v1/cameras/cam1/still/{cutest.iso(us(3.52))}")
        self.assertEqual(st, 200, body[:300])
        self.assertEqual(h["content-type"], "image/jpeg")
        self.assertTrue(body.startswith(b"\xff\xd8"))
        self.assertTrue(body.endswith(b"\xff\xd9"))
        self.assertIn(b"Exif\0\0", body)
        self.assertIn(b"cam1", body)
        self.assertIn(b"2026:01:01 00:00:03", body)   # EXIF DateTimeOriginal
        info = api_util.ffprobe(self.save("still.jpg", body))
        self.assertEqual(info["streams"][0]["codec_name"], "mjpeg")
        # before the recording, and past its end: nothing to show
        for t in (us(-5), us(30)):
            st, _, body = self.fetch(f"/api/v1/cameras/cam1/still/{t}")
            self.assertEqual(st, 404, body[:200])

    def test_bad_ranges_are_refused_with_a_reason(self):
        cases = [
            (f"/api/v1/cameras/cam1/playback/{us(5)}/{us(4)}", 400, "end after"),
            (f"/api/v1/cameras/cam1/playback/{us(0)}/{us(3601)}", 400, "3600"),
            ("/api/v1/cameras/cam1/playback/yesterday/{}".format(us(2)), 400, "ISO 8601"),
            ("/api/v1/cameras/cam1/still/noon", 400, "ISO 8601"),
            (f"/api/v1/cameras/nope/playback/{us(1)}/{us(2)}", 404, "no camera"),
            (f"/api/v1/cameras/cam1/playback/{us(100)}/{us(200)}", 404, "no video"),
            # a decoded %26 would split the value in two: refused, not misread
            ("/api/v1/cameras/cam1/ranges?from=2026-01-01T00:00:00Z%26to=x", 400, "%26"),
            ("/api/v1/cameras/cam1/ranges?to=%26", 400, "'&'"),
        ]
        for path, want, words in cases:
            with self.subTest(path=path):
                st, h, body = self.fetch(path)
                self.assertEqual(st, want, body[:300])
                self.assertEqual(h["content-type"], "application/json")
                self.assertIn(words, json.loads(body)["error"]["message"])

    def test_signed_media_url(self):
        path = f"/api/v1/cameras/cam1/playback/{us(1)}/{us(2)}"
        st, j = self.api.json("POST", "/api/v1/media-urls", token=self.tok, body={"path": path},
                              expect=200)
        url = j["url"]
        self.assertTrue(url.startswith(path + "?exp="))
        st, _, body = self.api.request("GET", url)           # no Authorization header
        self.assertEqual(st, 200)
        self.assertIn(b"moof", body)
        # bound to the exact path: another range or camera with that query is refused
        q = url.split("?", 1)[1]
        for other in (f"/api/v1/cameras/cam1/playback/{us(1)}/{us(3)}",
                      f"/api/v1/cameras/cam1/still/{us(1)}"):
            st, _, body = self.api.request("GET", other + "?" + q)
            self.assertEqual(st, 401, body[:200])
        # a flipped signature byte
        bad = url[:-2] + ("A" if url[-2] != "A" else "B") + url[-1]
        self.assertEqual(self.api.request("GET", bad)[0], 401)
        # only media paths are signed
        st, _ = self.api.json("POST", "/api/v1/media-urls", token=self.tok,
                              body={"path": "/api/v1/users"})
        self.assertEqual(st, 400)
        # and a token never works in the query string
        st, _, _ = self.api.request("GET", f"/api/v1/cameras?access_token={self.tok}")
        self.assertEqual(st, 401)

    def test_a_damaged_catalogue_row_is_a_server_error(self):
        """A bookmark row damaged behind custodyd's back is the server's
        fault: 500, the detail in its log, never a 400 that blames the
        request (CU_ERR_DAMAGED)."""
        st, b = self.api.json("POST", "/api/v1/cameras/cam1/bookmarks", token=self.tok,
                              body={"at": cutest.iso(us(1)), "title": "door"}, expect=201)
        st, _ = self.api.json("GET", f"/api/v1/bookmarks/{b['id']}", token=self.tok,
                              expect=200)
        db = sqlite3.connect(os.path.join(self.s.dir, "catalog.db"), timeout=10)
        db.execute("UPDATE bookmarks SET title = CAST(x'610062' AS TEXT) WHERE id = ?",
                   (b["id"],))
        db.commit()
        db.close()
        for path in (f"/api/v1/bookmarks/{b['id']}", "/api/v1/cameras/cam1/bookmarks"):
            st, j = self.api.json("GET", path, token=self.tok)
            self.assertEqual(st, 500, j)
            self.assertEqual(j["error"]["code"], "internal")
            self.assertNotIn("malformed", j["error"]["message"])
        log = self.api.daemon.read_log()
        self.assertIn(f"catalogue: bookmark {b['id']} is malformed", log)

    def test_ranges(self):
        st, j = self.api.json("GET", "/api/v1/cameras/cam1/ranges", token=self.tok, expect=200)
        self.assertEqual(len(j["ranges"]), 1)
        self.assertEqual(j["ranges"][0]["from"], cutest.iso(T0))
        self.assertEqual(j["gaps"], [])


def ws_connect(api, path):
    """A WebSocket client on the stdlib: returns the TLS socket after 101."""
    raw = socket.create_connection(("127.0.0.1", api.port), timeout=20)
    s = api.ctx.wrap_socket(raw, server_hostname="localhost")
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
               f"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: custody-live.v1\r\n\r\n")
              .encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(1)
        if not chunk:
            break
        head += chunk
    return s, head.decode(errors="replace")


def ws_read(s, seconds):
    """Concatenated payloads of the binary messages received for seconds."""
    out, buf = b"", b""
    deadline = time.monotonic() + seconds
    s.settimeout(0.5)
    while time.monotonic() < deadline:
        try:
            chunk = s.recv(65536)
        except (socket.timeout, ssl.SSLWantReadError):
            continue
        if not chunk:
            break
        buf += chunk
        while len(buf) >= 2:
            op, ln = buf[0] & 0x0F, buf[1] & 0x7F
            hl = 2
            if ln == 126:
                if len(buf) < 4:
                    break
                ln, hl = struct.unpack(">H", buf[2:4])[0], 4
            elif ln == 127:
                if len(buf) < 10:
                    break
                ln, hl = struct.unpack(">Q", buf[2:10])[0], 10
            if len(buf) < hl + ln:
                break
            payload, buf = buf[hl:hl + ln], buf[hl + ln:]
            if op == 2:
                out += payload
            elif op == 8:
                return out
    return out


class LiveAndLocks(cutest.TempDirTest):
    def setUp(self):
        super().setUp()
        self.sim = daemon_util.Camsim(self.tmp, cameras=1)
        self.s = Store(self.tmp, "st", encryption="light", segment_seconds=1)
        api_util.add_role(self.s, "admins", [("admin", "*")])
        api_util.add_user(self.s, self.tmp, "chief", ADMIN_PW, roles=["admins"])
        api_util.add_role(self.s, "watch", [("playback", "cam1")])
        api_util.add_user(self.s, self.tmp, "guard", ADMIN_PW, roles=["watch"])

    def tearDown(self):
        if hasattr(self, "api"):
            self.api.stop()
        self.sim.stop()
        super().tearDown()

    def start(self, camera_opts=None, daemon_opts=None):
        self.api = api_util.Api(self.tmp, self.s,
                                cameras={"cam1": {"url": self.sim.url(1), **(camera_opts or {})}},
                                daemon_opts=daemon_opts).start()
        self.api.daemon.wait_event("camera.online", "cam1")
        self.tok = self.api.login("chief", ADMIN_PW)

    def test_live_view_over_websocket(self):
        self.start()
        path = "/api/v1/cameras/cam1/live"
        # a user with playback only may not sign a live URL
        gtok = self.api.login("guard", ADMIN_PW)
        st, _ = self.api.json("POST", "/api/v1/media-urls", token=gtok, body={"path": path})
        self.assertEqual(st, 403)
        # no signature: refused
        s, head = ws_connect(self.api, path)
        self.assertNotIn(" 101 ", head.split("\r\n")[0])
        s.close()
        st, j = self.api.json("POST", "/api/v1/media-urls", token=self.tok, body={"path": path},
                              expect=200)
        s, head = ws_connect(self.api, j["url"])
        self.assertIn(" 101 ", head.split("\r\n")[0], head)
        self.assertIn("custody-live.v1", head)
        data = ws_read(s, 4.5)
        s.close()
        self.assertTrue(data.startswith(b"\0\0\0") and data[4:8] == b"ftyp", data[:16])
        self.assertIn(b"moof", data)
        with open(os.path.join(self.tmp, "live.mp4"), "wb") as f:
            f.write(data)
        info = api_util.ffprobe(os.path.join(self.tmp, "live.mp4"))
        v = [x for x in info["streams"] if x["codec_name"] == "h264"][0]
        self.assertGreaterEqual(int(v["nb_read_frames"]), 25)
        # the view is in the audit log, start and end, grouped by one session
        time.sleep(0.5)
        self.api.term()
        p = run("audit", "export", "--store", self.s.dir, "--format", "json", check=0)
        ents = json.loads(p.stdout)["entries"]
        starts = [e for e in ents if e["type"] == "view.live.start"]
        ends = [e for e in ents if e["type"] == "view.live.end"]
        self.assertEqual(len(starts), 1)
        self.assertEqual(len(ends), 1)
        self.assertEqual(starts[0]["actor"], "chief")
        self.assertEqual(starts[0]["detail"]["session"], ends[0]["detail"]["session"])
        self.assertGreater(ends[0]["detail"]["frames"], 0)

    def test_evidence_lock_survives_retention(self):
        # record ~12 s in 1 s segments, then keep only 4 s, every second
        self.start(camera_opts={"max_age": "4s"}, daemon_opts={"retention_interval": "1s"})
        time.sleep(3)
        st, j = self.api.json("GET", "/api/v1/cameras/cam1/ranges", token=self.tok, expect=200)
        first = cutest.parse_iso(j["ranges"][0]["from"])
        lock_from, lock_to = first + 1_000_000, first + 2_000_000
        st, lock = self.api.json("POST", "/api/v1/evidence-locks", token=self.tok, expect=201,
                                 body={"cameras": ["cam1"], "headline": "Incident 4711",
                                       "description": "fight at the entrance",
                                       "from": cutest.iso(lock_from), "to": cutest.iso(lock_to),
                                       "expires": None})
        self.assertIsNone(lock["expires"])
        time.sleep(11)
        st, j = self.api.json("GET", "/api/v1/cameras/cam1/ranges", token=self.tok, expect=200)
        ranges = [(cutest.parse_iso(r["from"]), cutest.parse_iso(r["to"])) for r in j["ranges"]]
        self.assertGreaterEqual(len(ranges), 2, ranges)
        # the locked footage is still there ...
        self.assertLessEqual(ranges[0][0], lock_from, ranges)
        self.assertGreaterEqual(ranges[0][1], lock_to, ranges)
        # ... while what was recorded around it is gone (retention ran)
        self.assertGreater(ranges[1][0], lock_to + 2_000_000, ranges)
        self.assertGreater(self.api.daemon.count("retention", "cam1"), 0)
        st, _, body = self.api.request("GET", f"/api/v1/cameras/cam1/playback/{lock_from}/"
                                              f"{lock_to}", token=self.tok)
        self.assertEqual(st, 200, body[:300])
        self.assertIn(b"moof", body)
        rc, rep = self.s.verify()
        self.assertEqual(rc, 0, rep)
        # lift the lock: the next retention run deletes that footage too
        st, _, _ = self.api.request("DELETE", f"/api/v1/evidence-locks/{lock['id']}",
                                    token=self.tok)
        self.assertEqual(st, 204)
        time.sleep(3)
        st, j = self.api.json("GET", "/api/v1/cameras/cam1/ranges", token=self.tok, expect=200)
        self.assertGreater(cutest.parse_iso(j["ranges"][0]["from"]), lock_to, j)
        self.api.term()
        rc, rep = self.s.verify()
        self.assertEqual(rc, 0, rep)
        p = run("audit", "export", "--store", self.s.dir, "--format", "json", check=0)
        types = [e["type"] for e in json.loads(p.stdout)["entries"]]
        self.assertIn("evidence_lock.create", types)
        self.assertIn("evidence_lock.delete", types)


if __name__ == "__main__":
    cutest.main()
