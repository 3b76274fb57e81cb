#!/usr/bin/env python3
"""check-layers: the include rules of custody's layers (docs/ARCHITECTURE.md,
"Layers"), checked over every #include "..." of the tree.

  lib/MODULE     may include its own headers, the internal headers
                 (lib/X/*.h other than *_int.h) and the public headers
                 (include/custody/*.h) of the modules below it, and nothing
                 of a module above or beside it; X_int.h is MODULE X's alone
  include/custody/*.h  only public headers of its own module or below
  daemon/, cli/  only include/custody/*.h and their own folder's headers
  tools/         nothing of ours

  tests/check-layers.py [ROOT]            check the tree (exit 1 naming each
                                          forbidden include)
  tests/check-layers.py --self-test       plant a forbidden include in a copy
                                          and check that it is caught

Standard library only."""

import os
import re

import checklib

# Each module with the modules it may use, directly; the rule is transitive.
# util <- crypto <- media <- store <- {rtsp, audit, auth} <- package
# util <- crypto <- media <- notify (event store, outbox, notification channels)
# util <- crypto <- onvif (camera events over ONVIF)
LAYERS = {
    "util": [],
    "crypto": ["util"],
    "media": ["util", "crypto"],
    "store": ["util", "crypto", "media"],
    "rtsp": ["util", "crypto", "media"],
    "audit": ["util", "crypto", "store"],
    "auth": ["util", "crypto", "store"],
    "package": ["util", "crypto", "media", "store", "audit", "auth"],
    "notify": ["util", "crypto", "media"],
    "onvif": ["util", "crypto"],
}

# The module each public header belongs to.
PUBLIC = {
    "error.h": "util", "time.h": "util", "util.h": "util", "parse.h": "util",
    "text.h": "util", "file.h": "util", "secret.h": "util", "buf.h": "util",
    "crypto.h": "crypto", "x509.h": "crypto",
    "media.h": "media", "mux.h": "media", "tamper.h": "media",
    "store.h": "store", "tls.h": "store",
    "rtsp.h": "rtsp", "audit.h": "audit", "auth.h": "auth", "package.h": "package",
    "notify.h": "notify", "evdb.h": "notify",
    "onvif.h": "onvif",
}

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def below(module):
    """Every module module may use, itself included."""
    seen, todo = set(), [module]
    while todo:
        m = todo.pop()
        if m not in seen:
            seen.add(m)
            todo.extend(LAYERS[m])
    return seen


def includes(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    for m in INCLUDE.finditer(text):
        yield text.count("\n", 0, m.start()) + 1, m.group(1)


def verdict(where, module, inc, allowed_dirs):
    """None when inc may be included from a file of module (None: daemon,
    cli, tools) in where; else the reason."""
    if inc.startswith("custody/"):
        owner = PUBLIC.get(inc[len("custody/"):])
        if owner is None:
            return f"{inc} is not a known public header (add it to PUBLIC)"
        if where == "tools":
            return "tools use nothing of custody's"
        if module is not None and owner not in below(module):
            return f"{inc} belongs to {owner}, which is not below {module}"
        return None
    if "/" not in inc:
        return None if "" in allowed_dirs else "a header from another folder"
    top, name = inc.split("/", 1)
    if module is None:
        return (f"{where}/ may include only public headers (include/custody/), not "
                f"libcustody's internal {inc}")
    if top not in LAYERS:
        return f"{inc}: no such module"
    if top not in below(module):
        return f"{inc} belongs to {top}, which is not below {module}"
    if name.endswith("_int.h") and top != module:
        return f"{inc} is private to {top}"
    return None


def check(root):
    bad = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        parts = rel.split(os.sep)
        if parts[0] in (".git",) or parts[0].startswith("build"):
            dirnames[:] = []
            continue
        for fn in filenames:
            if not fn.endswith((".c", ".h")):
                continue
            path = os.path.join(dirpath, fn)
            relpath = os.path.relpath(path, root)
            if parts[0] == "lib" and len(parts) >= 2:
                where, module = "lib", parts[1]
                if module not in LAYERS:
                    bad.append(f"{relpath}: lib/{module} is not in the layer table")
                    continue
            elif parts[0] == "include":
                where, module = "include", PUBLIC.get(fn)
                if module is None:
                    bad.append(f"{relpath}: not in the public header table")
                    continue
            elif parts[0] in ("daemon", "cli"):
                where, module = parts[0], None
            elif parts[0] == "tools":
                where, module = "tools", None
            else:
                continue                # tests, fuzz and bench may look inside
            for line, inc in includes(path):
                if where == "include" and not inc.startswith("custody/"):
                    why = "a public header includes only public headers"
                elif where == "tools" and (inc.startswith("custody/") or "/" in inc):
                    why = "tools use nothing of custody's"
                else:
                    why = verdict(where, module, inc, {""})
                if why:
                    bad.append(f"{relpath}:{line}: #include \"{inc}\": {why}")
    return bad


PLANTS = [
    ("lib/util/err.c", '#include "store/store_int.h"', "not below util"),
    ("lib/crypto/crypto.c", '#include "custody/store.h"', "not below crypto"),
    ("lib/rtsp/client.c", '#include "store/store_int.h"', "not below rtsp"),
    ("lib/package/export.c", '#include "auth/auth_int.h"', "is private to auth"),
    ("daemon/api.c", '#include "util/db.h"', "only public headers"),
    ("cli/main.c", '#include "auth/auth_int.h"', "only public headers"),
]


def self_test():
    """A planted forbidden include in a copy of the tree must be caught."""
    failed = []
    with checklib.tree_copy("check-layers", ("lib", "include", "daemon", "cli", "tools")) as d:
        for path, line, words in PLANTS:
            with checklib.planted(d, path, line):
                found = [b for b in check(d) if b.startswith(path + ":1:")]
            if not found or words not in found[0]:
                failed.append(f"planted {line} in {path}: not caught ({found})")
            else:
                print(f"check-layers: caught the planted {line} in {path}: {found[0]}")
    return failed


def run(root):
    bad = check(root)
    for b in bad:
        print("check-layers: " + b)
    if bad:
        print(f"check-layers: {len(bad)} forbidden includes")
        return 1
    print("check-layers: every include follows the layers")
    return 0


if __name__ == "__main__":
    checklib.exit_with("check-layers", run, self_test)
