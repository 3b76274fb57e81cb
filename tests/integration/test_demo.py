"""scripts/demo, the README's first command, as a user runs it: it must
record both simulated cameras, fetch playback that decodes and verify the
store intact, and it must fail, saying why, when the cameras cannot record
(here: the Pango plugin of gstreamer1.0-x hidden from GStreamer). Its verdict
(scripts/demo-check) is also fed reports that must each fail it."""

import json
import os
import re
import subprocess

import cutest
from test_camsim import without_plugin

SOURCE = os.environ.get("CU_SOURCE_ROOT", os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("CU_BUILD_ROOT", os.path.join(SOURCE, "build"))
DEMO = os.path.join(SOURCE, "scripts", "demo")
CHECK = os.path.join(SOURCE, "scripts", "demo-check")


def demo(where, env=None):
    env = dict(env or os.environ, CUSTODY_BUILD_DIR=BUILD, CUSTODY_DEMO_DIR=where)
    return subprocess.run([DEMO], capture_output=True, text=True, timeout=300, env=env,
                          stdin=subprocess.DEVNULL)


class Demo(cutest.TempDirTest):
    def test_demo_records_and_verifies(self):
        p = demo(os.path.join(self.tmp, "ok"))
        out = p.stdout + p.stderr
        self.assertEqual(p.returncode, 0, out)
        for cam in ("lobby", "gate"):
            m = re.search(rf"demo: camera {cam}: (\d+) frames over ([\d.]+) s of the ([\d.]+) s "
                          r"recording window \((\d+)%\), intact", out)
            self.assertIsNotNone(m, out)
            self.assertGreater(int(m.group(1)), 200, m.group(0))
            self.assertGreaterEqual(int(m.group(4)), 60, m.group(0))
        m = re.search(r"demo: the playback decodes: (\d+) video frames", out)
        self.assertIsNotNone(m, out)
        self.assertGreater(int(m.group(1)), 50)
        self.assertIn("demo-store: intact", out)
        self.assertNotIn("FAILED", out)
        store = os.path.join(self.tmp, "ok", "demo-store")
        self.assertTrue(os.path.isdir(store))
        # the store it left verifies on its own
        pw = os.path.join(self.tmp, "ok", "demo-store.work", "store.pw")
        cutest.run("verify", "--store", store, "--password-file", pw, check=0)

    def test_demo_fails_when_the_cameras_cannot_run(self):
        env = without_plugin(self.tmp, "libgstpango.so")
        p = demo(os.path.join(self.tmp, "broken"), env)
        out = p.stdout + p.stderr
        self.assertEqual(p.returncode, 1, out)
        self.assertIn("demo: FAILED: custody-camsim did not start (exit 3)", out)
        self.assertIn("'clockoverlay' is missing", out)
        self.assertIn("gstreamer1.0-x", out)
        self.assertNotIn("intact", out)


def report(result="intact", cams=(("lobby", 300, 0, 12_000_000), ("gate", 300, 0, 12_000_000))):
    t0 = 1_767_225_600_000_000
    return {"result": result, "cameras": [
        {"name": n, "result": result, "frames": f, "from": cutest.iso(t0 + a) if f else None,
         "to": cutest.iso(t0 + b) if f else None} for n, f, a, b in cams]}


class Verdict(cutest.TempDirTest):
    T0 = 1_767_225_600_000_000

    def verdict(self, rep, vexit=0, window=13_000_000, names=("lobby", "gate")):
        path = os.path.join(self.tmp, "verify.json")
        with open(path, "w") as f:
            json.dump(rep, f)
        return subprocess.run(["/usr/bin/python3", CHECK, path, str(vexit), str(self.T0),
                               str(self.T0 + window), *names], capture_output=True, text=True,
                              timeout=60)

    def test_good(self):
        p = self.verdict(report())
        self.assertEqual(p.returncode, 0, p.stdout)
        self.assertIn("demo: camera lobby: 300 frames over 12.0 s of the 13.0 s recording window "
                      "(92%), intact", p.stdout)

    def test_each_bad_report_fails(self):
        cases = {
            "no frames": (report(cams=(("lobby", 300, 0, 12_000_000), ("gate", 0, 0, 0))), 0,
                          "camera gate recorded 0 frames"),
            "short": (report(cams=(("lobby", 300, 0, 12_000_000), ("gate", 100, 0, 4_000_000))),
                      0, "camera gate recorded only 4.0 s"),
            "sparse": (report(cams=(("lobby", 300, 0, 12_000_000), ("gate", 20, 0, 12_000_000))),
                       0, "camera gate recorded 20 frames in 12.0 s"),
            "missing camera": (report(cams=(("lobby", 300, 0, 12_000_000),)), 0,
                               "camera gate is not in the store"),
            "tampered": (report(result="tampered"), 1, "custody verify: 'tampered', exit 1"),
            "exit status": (report(), 2, "custody verify: 'intact', exit 2"),
        }
        for name, (rep, vexit, words) in cases.items():
            with self.subTest(name):
                p = self.verdict(rep, vexit)
                self.assertEqual(p.returncode, 1, p.stdout)
                self.assertIn("demo: FAILED: " + words, p.stdout)
        path = os.path.join(self.tmp, "none.json")
        p = subprocess.run(["/usr/bin/python3", CHECK, path, "0", "0", "1", "lobby"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 1)
        self.assertIn("gave no report", p.stdout)


if __name__ == "__main__":
    cutest.main()
