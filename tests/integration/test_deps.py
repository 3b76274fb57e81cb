"""The dependency check (scripts/check-deps) over the real tree, and the check
itself: it must pass with scripts/packages as it is, and fail, naming what
is used and the package to add, on a copy of the list with one package taken
out. Packages whose files the tests, the demo, the benchmarks, camsim or the
build use directly are the ones taken out (nothing else in the list depends
on them, so their files would be missing on a fresh Debian)."""

import os
import subprocess

import cutest

SOURCE = os.environ.get("CU_SOURCE_ROOT", os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("CU_BUILD_ROOT", os.path.join(SOURCE, "build"))
CAMSIM = os.environ.get("CU_CAMSIM", os.path.join(BUILD, "tools/camsim/custody-camsim"))
CHECK = os.path.join(SOURCE, "scripts", "check-deps")
LIST = os.path.join(SOURCE, "scripts", "packages")


def check(*args):
    return subprocess.run(["/usr/bin/python3", CHECK, "--build", BUILD, "--camsim", CAMSIM,
                           *args], capture_output=True, text=True, timeout=600)


def packages():
    out = []
    with open(LIST, encoding="utf-8") as f:
        for line in f:
            out += line.split("#", 1)[0].split()
    return out


class Deps(cutest.TempDirTest):
    def test_everything_is_declared(self):
        p = check("--verbose")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        last = p.stdout.splitlines()[-1]
        self.assertRegex(last, r"^check-deps: \d+ programs, \d+ Python modules, \d+ GStreamer "
                               r"elements, \d+ pkg-config libraries, \d+ shared libraries: ")
        # It looked at what it should: the demo's and the tests' programs,
        # camsim's elements, the build's libraries.
        for item in ("program ffprobe: /usr/bin/ffprobe from ffmpeg",
                     "program openssl: /usr/bin/openssl from openssl",
                     "program curl: ", "program wrk: ", "program gst-inspect-1.0: ",
                     "GStreamer element clockoverlay: ", "GStreamer element x264enc: ",
                     "GStreamer element rtpbin: ", "library libsodium: ", "library sqlite3: ",
                     "library libssl.so.3: "):
            self.assertIn(item, p.stdout)
        self.assertIn("gstreamer1.0-x", p.stdout)

    def test_a_package_taken_out_is_named(self):
        cases = {
            "gstreamer1.0-x": ["GStreamer element clockoverlay", "add gstreamer1.0-x"],
            "ffmpeg": ["program ffprobe", "program ffmpeg", "add ffmpeg"],
            "wrk": ["program wrk", "add wrk", "bench/bench-api"],
            "libsodium-dev": ["library libsodium", "add libsodium-dev"],
            "curl": ["program curl", "add curl", "scripts/demo"],
            "gstreamer1.0-plugins-ugly": ["GStreamer element x264enc",
                                          "add gstreamer1.0-plugins-ugly"],
            "firefox-esr": ["program firefox-esr", "add firefox-esr",
                            "tests/integration/marionette.py"],
        }
        listed = packages()
        for pkg, words in cases.items():
            with self.subTest(pkg):
                self.assertIn(pkg, listed)
                copy = os.path.join(self.tmp, "without-" + pkg)
                with open(copy, "w", encoding="utf-8") as f:
                    f.write("\n".join(x for x in listed if x != pkg) + "\n")
                p = check("--packages", copy)
                self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
                for w in words:
                    self.assertIn(w, p.stdout)
                self.assertRegex(p.stdout.splitlines()[-1], r"^check-deps: \d+ undeclared ")

    def test_a_missing_list_cannot_be_checked(self):
        p = check("--packages", os.path.join(self.tmp, "nothing"))
        self.assertEqual(p.returncode, 2, p.stdout + p.stderr)

    def test_an_uninstalled_package_is_refused(self):
        copy = os.path.join(self.tmp, "with-unknown")
        with open(copy, "w", encoding="utf-8") as f:
            f.write("\n".join(packages() + ["custody-no-such-package"]) + "\n")
        p = check("--packages", copy)
        self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
        self.assertIn("custody-no-such-package", p.stderr)


if __name__ == "__main__":
    cutest.main()
