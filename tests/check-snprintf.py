#!/usr/bin/env python3
"""check-snprintf: every snprintf in lib/, daemon/ and cli/ is checked or cut
visibly (STYLE.md: "every snprintf checked for truncation"; docs/ARCHITECTURE.md,
"One helper per job").

A call to snprintf( or vsnprintf( whose result is discarded is refused: the
call is a statement of its own (also as the body of an if, else, for or
while, or after a label) or is cast to (void). Text that must not be cut
(paths, SQL, JSON, headers, URLs, keys, names compared later) goes through
cu_path or a check of the result (n < 0 || n >= len); text that may be cut
(log lines, messages, report reasons, error details) goes through
cu_fmt_cut / cu_vfmt_cut (custody/text.h), which say so by their name. The
helpers themselves use vsnprintf's result, so they need no exception.

  tests/check-snprintf.py [ROOT]        check the tree (exit 1 naming each
                                        discarded result as file:line)
  tests/check-snprintf.py --self-test   plant discarded calls in a copy and
                                        check that each is caught, and that
                                        checked ones are not

Standard library only."""

import os
import re

import checklib

DIRS = ("lib", "daemon", "cli")
CALL = re.compile(r"\b(v?snprintf)\s*\(")
WORD_BEFORE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*$")
LABEL = re.compile(r"(?:\bcase\b[^:]*|\bdefault|[A-Za-z_][A-Za-z0-9_]*)\s*$")


def blank(text):
    """text with comments, string and character literals and line splices
    replaced by spaces; newlines stay, so offsets and line numbers hold."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            j = min(j + 1, n)
            out.append(c + re.sub(r"[^\n]", " ", text[i + 1:j - 1]) + c)
            i = j
        elif c == "\\" and text.startswith("\n", i + 1):
            out.append(" \n")
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def discarded(code, pos):
    """Why the call at pos throws its result away, or None when it is used."""
    before = code[:pos].rstrip()
    if not before or before[-1] in ";{}":
        return "a statement of its own"
    if re.search(r"\belse$", before):
        return "a statement of its own (after else)"
    if before[-1] == ")":
        depth, i = 0, len(before) - 1
        while i >= 0:
            if before[i] == ")":
                depth += 1
            elif before[i] == "(":
                depth -= 1
                if depth == 0:
                    break
            i -= 1
        inner = before[i + 1:-1].strip()
        if inner == "void":
            return "cast to (void)"
        m = WORD_BEFORE.search(before[:i])
        if m and m.group(1) in ("if", "while", "for"):
            return f"a statement of its own (the body of {m.group(1)})"
        return None                     # a cast to another type uses it
    if before[-1] == ":":
        stmt = re.split(r"[;{}]", before)[-1]
        if "?" in stmt:
            return None                 # the second operand of ?:
        if LABEL.search(stmt[:-1].rstrip()):
            return "a statement of its own (after a label)"
    return None


def check_file(path, rel):
    with open(path, encoding="utf-8", errors="replace") as f:
        code = blank(f.read())
    for m in CALL.finditer(code):
        why = discarded(code, m.start())
        if why:
            line = code.count("\n", 0, m.start()) + 1
            yield (f"{rel}:{line}: the result of {m.group(1)} is discarded ({why}): check "
                   f"it (cu_path, or n < 0 || n >= len) or cut deliberately (cu_fmt_cut)")


def check(root):
    bad, files = [], 0
    for top in DIRS:
        for dirpath, dirnames, filenames in os.walk(os.path.join(root, top)):
            dirnames.sort()
            for fn in sorted(filenames):
                if fn.endswith((".c", ".h")):
                    files += 1
                    path = os.path.join(dirpath, fn)
                    bad.extend(check_file(path, os.path.relpath(path, root)))
    return bad, files


# What the self-test plants as the first lines of a file: (file, text, the
# line a finding must name, or None when nothing may be found).
PLANTS = [
    ("lib/util/err.c", 'static void planted(char *b) { snprintf(b, 4, "%d", 1); }', 1),
    ("daemon/http.c", 'static void planted(char *b) { (void)snprintf(b, 4, "%d", 1); }', 1),
    ("cli/main.c", "static void planted(char *b, va_list ap) { if (b)\n"
                   '\tvsnprintf(b, 4, "%d", ap); }', 2),
    ("lib/store/writer.c", "static void planted(char *b, int x) {\n"
                           "\tif (x) return; else snprintf(b, 4, \"%d\", x); }", 2),
    ("lib/auth/auth.c", "static void planted(char *b, int x) { switch (x) {\n"
                        '\tcase 1: snprintf(b, 4, "%d", x); } }', 2),
    ("daemon/export.c", "static void planted(char *b) {\n"
                        "\t/* \"a comment\" */ snprintf(b, 4,\n"
                        '\t         "}");\n}', 2),
    ("lib/audit/audit.c", "#define PLANTED(b) \\\n"
                          '\tdo { snprintf(b, 4, "x"); } while (0)', 2),
    # used: none of these may be reported
    ("cli/common.c", 'static int planted(char *b) { int n = snprintf(b, 4, "x"); '
                     'return n < 0 ? -1 : (b ? snprintf(b, 4, "y") : 0); }', None),
    ("lib/util/text.c", 'static bool planted(char *b) { return (size_t)snprintf(b, 4, "x")'
                        ' >= 4 || snprintf(b, 4, "snprintf(b, 1, \\"\\")") < 0; }', None),
]


def self_test():
    """Each planted discarded call in a copy of the tree must be caught, on
    its line; each planted checked one must not."""
    failed = []
    with checklib.tree_copy("check-snprintf", DIRS) as d:
        for path, text, line in PLANTS:
            planted_lines = text.count("\n") + 1
            with checklib.planted(d, path, text):
                found = [b for b in check(d)[0] if b.startswith(path + ":")
                         and int(b.split(":")[1]) <= planted_lines]
            if line is None:
                if found:
                    failed.append(f"a used result planted in {path} was reported: {found}")
                else:
                    print(f"check-snprintf: a used result planted in {path}: not reported")
            elif len(found) != 1 or not found[0].startswith(f"{path}:{line}:"):
                failed.append(f"planted in {path}: expected one finding on line {line}, "
                              f"got {found}")
            else:
                print(f"check-snprintf: caught the planted call: {found[0]}")
    return failed


def run(root):
    bad, files = check(root)
    if files < 10:
        print(f"check-snprintf: only {files} source files under {root}: wrong directory?")
        return 2
    for b in bad:
        print("check-snprintf: " + b)
    if bad:
        print(f"check-snprintf: {len(bad)} snprintf results discarded")
        return 1
    print(f"check-snprintf: every snprintf result in {files} files is used")
    return 0


if __name__ == "__main__":
    checklib.exit_with("check-snprintf", run, self_test)
