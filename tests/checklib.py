"""What the source checks (check-layers.py, check-snprintf.py) share: a
copy of the tree to plant mistakes in, one planted text at a time, and the
command line (ROOT, or --self-test)."""

import contextlib
import os
import shutil
import sys
import tempfile

SOURCE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@contextlib.contextmanager
def tree_copy(name, tops):
    """A temporary copy of the source folders tops, removed afterwards."""
    d = tempfile.mkdtemp(prefix=name + "-")
    try:
        for top in tops:
            shutil.copytree(os.path.join(SOURCE, top), os.path.join(d, top))
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


@contextlib.contextmanager
def planted(root, path, text):
    """text put before the first line of root/path inside the with block;
    the file as it was afterwards."""
    p = os.path.join(root, path)
    with open(p, encoding="utf-8") as f:
        orig = f.read()
    with open(p, "w", encoding="utf-8") as f:
        f.write(text + "\n" + orig)
    try:
        yield
    finally:
        with open(p, "w", encoding="utf-8") as f:
            f.write(orig)


def main(name, argv, run, self_test):
    """`NAME ROOT` runs run(root) -> exit status; `NAME --self-test` runs
    self_test() -> the list of what it failed to catch."""
    if argv[1:] == ["--self-test"]:
        failed = self_test()
        for f in failed:
            print(f"{name}: SELF-TEST FAILED: {f}")
        return 1 if failed else 0
    return run(argv[1] if len(argv) > 1 else SOURCE)


def exit_with(name, run, self_test):
    sys.exit(main(name, sys.argv, run, self_test))
