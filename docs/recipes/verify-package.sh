#!/bin/sh
# verify-package.sh — check a custody evidence package without custody's code.
#
#   sh verify-package.sh PACKAGE [PASSWORD_FILE]
#
# This is the recipe of docs/formats/evidence-package.md ("Checking a package
# by hand"), written out as a POSIX shell script so that an expert can run it
# and read every step. It uses only standard tools: sh, openssl (3.0), argon2
# (the Debian package "argon2", for encrypted packages: openssl 3.0 has no
# Argon2id), tar (GNU), head and tail (to cut bytes), od (to read them), cut,
# tr, sed, awk, grep, sha256sum, printf, cmp, mktemp, wc, date (GNU, to turn
# times into dates) and rm (to remove its temporary directory), as Debian 12
# has them (GNU coreutils: od --endian, head -c, date -d). Nothing of custody
# runs.
#
# PASSWORD_FILE is for encrypted packages: its first line is the password
# (without the line break), as for `custody verify --password-file`.
#
# It prints what it checks, step by step, in the order of the format's
# "Verification" section, and ends with one line:
#   RESULT: intact                      exit 0
#   RESULT: tampered: <reason>          exit 1 (a damaged header or a truncated
#                                               file is reported here too)
#   RESULT: wrong password              exit 2
#   RESULT: cannot check: <reason>      exit 2 (missing tool, newer format, ...)
#
# It is slow (it starts a few processes for every recorded frame): minutes for
# a long package. It needs free space in $TMPDIR of about twice the
# package's size. It checks no GCM tag (see step 3): integrity rests on the
# signatures and hashes, which cover every byte: the certificates by their
# SHA-256, each segment copy by its own hash chain (its final chain value,
# last seal and first entry number in the signed manifest) and the rules
# that force every byte the chain does not cover (the format page, "What
# covers each byte of a segment copy").
#
# Conventions of the formats: integers are little-endian (od --endian=little),
# times are µs since 1970-01-01T00:00:00Z, hex is lower case.

set -u
LC_ALL=C
export LC_ALL
umask 077

# ---------------------------------------------------------------- output ----

say() { printf '%s\n' "$*"; }
step() { printf '\n[%s] %s\n' "$1" "$2"; }
ok() { printf '    ok    %s\n' "$*"; }
note() { printf '    note  %s\n' "$*"; }
bad() { printf '    FAIL  %s\n' "$*"; }

tampered() {
	bad "$*"
	printf '\nRESULT: tampered: %s\n' "$*"
	exit 1
}
cannot() {
	printf '\nRESULT: cannot check: %s\n' "$*"
	exit 2
}

[ $# -ge 1 ] && [ $# -le 2 ] || {
	echo "usage: sh verify-package.sh PACKAGE [PASSWORD_FILE]" >&2
	cannot "wrong arguments"
}
PKG=$1
PWFILE=${2:-}
[ -f "$PKG" ] && [ -r "$PKG" ] || cannot "$PKG: not a readable file"
if [ -n "$PWFILE" ]; then
	[ -f "$PWFILE" ] && [ -r "$PWFILE" ] || cannot "$PWFILE: not a readable file"
fi
for tool in openssl tar od head tail cut tr sed awk grep sha256sum cmp mktemp wc date rm; do
	command -v "$tool" >/dev/null 2>&1 || cannot "the $tool command is missing"
done

W=$(mktemp -d "${TMPDIR:-/tmp}/verify-package.XXXXXX") || cannot "no temporary directory"
trap 'rm -rf "$W"' EXIT
trap 'exit 2' HUP INT TERM

# ------------------------------------------------------------ byte tools ----

# piece FILE OFFSET LENGTH: LENGTH bytes of FILE from byte OFFSET (0 = first).
piece() { tail -c +$(($2 + 1)) "$1" | head -c "$3"; }

# hexat FILE OFFSET LENGTH: those bytes as lower-case hex.
hexat() { od -An -v -tx1 -j "$2" -N "$3" "$1" | tr -d ' \n'; }

# uat FILE OFFSET LENGTH: an unsigned little-endian integer of 1, 2, 4 or 8 bytes.
uat() { od -An -v --endian=little -tu"$3" -j "$2" -N "$3" "$1" | tr -d ' \n'; }

# iat FILE OFFSET: a signed little-endian 8-byte integer (i64).
iat() { od -An -v --endian=little -td8 -j "$2" -N 8 "$1" | tr -d ' \n'; }

# filesize FILE
filesize() { wc -c < "$1" | tr -d ' '; }

# sha FILE: its SHA-256 in hex.
sha() { sha256sum < "$1" | cut -c1-64; }

# zeros N: N zero bytes.
zeros() { head -c "$1" /dev/zero; }

ZERO32=0000000000000000000000000000000000000000000000000000000000000000

# le BYTE...: the unsigned value of hex bytes given in file order
# (little-endian), into $LE. Shell arithmetic only: no process.
le() {
	_v=
	for _b; do _v=$_b$_v; done
	case $_v in [89a-f]???????????????) LE=-1; return ;; esac # > 2^63: refused
	LE=$((0x$_v))
}

# les BYTE...: the same, two's complement signed (8 bytes), into $LE.
les() {
	_v=
	for _b; do _v=$_b$_v; done
	case $_v in
	[89a-f]*)
		_n=
		for _b; do _n=$(printf '%02x' $((255 - 0x$_b)))$_n; done
		LE=$((-(0x$_n) - 1)) ;;
	*) LE=$((0x$_v)) ;;
	esac
}

# bin_of_hex HEX: the bytes, written with printf's octal escapes.
bin_of_hex() {
	_h=$1 _e=
	while [ -n "$_h" ]; do
		_r=${_h#??}
		_e="$_e\\$(printf '%03o' "0x${_h%"$_r"}")"
		_h=$_r
	done
	printf "$_e"
}

# le_bytes VALUE COUNT: VALUE as COUNT little-endian bytes (two's complement).
le_bytes() {
	_n=$1 _k=$2 _e=
	while [ "$_k" -gt 0 ]; do
		_e="$_e\\$(printf '%03o' $((_n & 255)))"
		_n=$((_n >> 8))
		_k=$((_k - 1))
	done
	printf "$_e"
}

# -------------------------------------------------------------- time tools ----

# iso_us TEXT: µs since the epoch of custody's ISO 8601 form
# (YYYY-MM-DDTHH:MM:SSZ or YYYY-MM-DDTHH:MM:SS.uuuuuuZ, UTC).
iso_us() {
	case $1 in
	[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9]Z)
		_base=${1%Z} _frac=000000 ;;
	[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z)
		_base=${1%.*} _frac=${1#*.}
		_frac=${_frac%Z} ;;
	*) return 1 ;;
	esac
	_s=$(date -u -d "${_base}Z" +%s 2>/dev/null) || return 1
	echo $((_s * 1000000 + 1$_frac - 1000000))
}

# us_iso US: custody's ISO 8601 form of µs since the epoch.
us_iso() {
	[ "$1" -ge 0 ] || { printf '(none)'; return; }
	_t=$(date -u -d "@$(($1 / 1000000))" +%Y-%m-%dT%H:%M:%S)
	if [ $(($1 % 1000000)) -ne 0 ]; then
		printf '%s.%06dZ' "$_t" $(($1 % 1000000))
	else
		printf '%sZ' "$_t"
	fi
}

# ------------------------------------------------------------ JSON tools ----

# manifest.json is canonical JSON (jansson, compact, keys sorted). This awk
# program reads any JSON text and prints one line per value:
#     PATH <tab> VALUE
# e.g. "cameras[0].segments[1].seq<tab>2" or "case<tab>"VECTOR-1"" — strings
# keep their quotes and escapes; every array also gives "PATH#<tab>LENGTH".
# It refuses invalid JSON, control characters in strings and duplicate keys.
# The key order does not matter to it.
JSON_FLATTEN='
function die(m) { print "manifest.json: " m " (near character " pos ")" > "/dev/stderr"; failed = 1; exit 1 }
function ws() { while (pos <= n && index(" \t\r\n", substr(s, pos, 1)) > 0) pos++ }
function emit(path, v) { if (path in seen) die("duplicate key " path); seen[path] = 1; print path "\t" v }
function str(   start, c) {
	start = pos; pos++
	for (;;) {
		c = substr(s, pos, 1)
		if (c == "") die("unterminated string")
		if (c < " ") die("a control character in a string")
		if (c == "\\") pos += 2
		else if (c == "\"") { pos++; return substr(s, start, pos - start) }
		else pos++
	}
}
function value(path,   c, k, i, start) {
	ws(); c = substr(s, pos, 1)
	if (c == "{") {
		pos++; ws()
		if (substr(s, pos, 1) == "}") { pos++; emit(path, "{}"); return }
		for (;;) {
			ws(); if (substr(s, pos, 1) != "\"") die("a key expected")
			k = str(); k = substr(k, 2, length(k) - 2)
			ws(); if (substr(s, pos, 1) != ":") die("\":\" expected"); pos++
			value(path == "" ? k : path "." k)
			ws(); c = substr(s, pos, 1); pos++
			if (c == "}") return
			if (c != ",") die("\",\" or \"}\" expected")
		}
	}
	if (c == "[") {
		pos++; ws()
		if (substr(s, pos, 1) == "]") { pos++; emit(path "#", 0); return }
		for (i = 0;; i++) {
			value(path "[" i "]")
			ws(); c = substr(s, pos, 1); pos++
			if (c == "]") { emit(path "#", i + 1); return }
			if (c != ",") die("\",\" or \"]\" expected")
		}
	}
	if (c == "\"") { emit(path, str()); return }
	start = pos
	while (pos <= n && index("0123456789+-.eEtruefalsn", substr(s, pos, 1)) > 0) pos++
	c = substr(s, start, pos - start)
	if (c !~ /^(-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?|true|false|null)$/) die("a value expected")
	emit(path, c)
}
{ s = s $0 "\n" }
END {
	if (failed) exit 1
	pos = 1; n = length(s)
	value("")
	ws(); if (pos <= n) die("text after the JSON value")
}'

# JSON_HEX: awk functions that turn the text between a JSON string'"'"'s quotes
# into the hex of the bytes it stands for (UTF-8), so that strings are
# compared byte for byte with what the certificates and records hold.
JSON_HEX='
function hexval(h,   i, v) { v = 0; h = tolower(h); for (i = 1; i <= length(h); i++) v = v * 16 + index("0123456789abcdef", substr(h, i, 1)) - 1; return v }
function utf8(cp) {
	if (cp < 128) return sprintf("%02x", cp)
	if (cp < 2048) return sprintf("%02x%02x", 192 + int(cp / 64), 128 + cp % 64)
	if (cp < 65536) return sprintf("%02x%02x%02x", 224 + int(cp / 4096), 128 + int(cp / 64) % 64, 128 + cp % 64)
	return sprintf("%02x%02x%02x%02x", 240 + int(cp / 262144), 128 + int(cp / 4096) % 64, 128 + int(cp / 64) % 64, 128 + cp % 64)
}
function jhex(t,   i, c, out, cp, lo) {
	if (!("a" in ORD)) for (i = 1; i < 256; i++) ORD[sprintf("%c", i)] = i
	out = ""
	for (i = 1; i <= length(t); i++) {
		c = substr(t, i, 1)
		if (c != "\\") { out = out sprintf("%02x", ORD[c]); continue }
		c = substr(t, ++i, 1)
		if (c == "u") {
			cp = hexval(substr(t, i + 1, 4)); i += 4
			if (cp >= 55296 && cp < 56320 && substr(t, i + 1, 2) == "\\u") {
				lo = hexval(substr(t, i + 3, 4)); i += 6
				cp = 65536 + (cp - 55296) * 1024 + (lo - 56320)
			}
			out = out utf8(cp)
		} else if (c == "n") out = out "0a"
		else if (c == "t") out = out "09"
		else if (c == "r") out = out "0d"
		else if (c == "b") out = out "08"
		else if (c == "f") out = out "0c"
		else out = out sprintf("%02x", ORD[c])
	}
	return out
}'

FLAT=$W/manifest.flat

# m PATH: the manifest value at PATH as JSON text ("" and status 1 when absent).
m() { awk -F '\t' -v p="$1" '$1 == p { print $2; f = 1; exit } END { exit !f }' "$FLAT"; }

# ms PATH: a manifest string (the text between the quotes, JSON escapes kept).
ms() {
	_j=$(m "$1") || return 1
	case $_j in \"*\") ;; *) return 1 ;; esac
	_j=${_j#\"}
	printf '%s' "${_j%\"}"
}

# mhex PATH: the bytes of a manifest string, in hex.
mhex() { awk -F '\t' -v p="$1" "$JSON_HEX"'
	$1 == p && $2 ~ /^".*"$/ { print jhex(substr($2, 2, length($2) - 2)); f = 1; exit }
	END { exit !f }' "$FLAT"; }

# mint PATH: a manifest integer (non-negative).
mint() {
	_j=$(m "$1") || return 1
	case $_j in '' | *[!0-9]*) return 1 ;; esac
	printf '%s' "$_j"
}

# shown TEXT: TEXT without control characters, for printing text from the package.
shown() { printf '%s' "$1" | tr -d '\000-\037\177'; }

# -------------------------------------------------------------- 1. header ----

step 1 "the header (128 bytes, in the clear)"
FILESIZE=$(filesize "$PKG")
[ "$FILESIZE" -ge 128 ] || tampered "damaged: the file is $FILESIZE bytes, shorter than a package header"
[ "$(hexat "$PKG" 0 8)" = 43555354504b4700 ] || tampered "damaged: not a custody evidence package (no CUSTPKG magic)"
ok "magic CUSTPKG\\0"
VERSION=$(uat "$PKG" 8 2)
[ "$VERSION" -le 1 ] || cannot "format version $VERSION is newer than this recipe (version 1)"
[ "$VERSION" -eq 1 ] || tampered "damaged: format version $VERSION"
ok "format version 1"
HHASH=$(hexat "$PKG" 96 32)
[ "$(head -c 96 "$PKG" | sha256sum | cut -c1-64)" = "$HHASH" ] ||
	tampered "damaged: the header hash (bytes 96-127) is not the SHA-256 of bytes 0-95"
ok "header hash = SHA-256(bytes 0-95) = $HHASH"

FLAGS=$(uat "$PKG" 10 2)
HLEN=$(uat "$PKG" 12 4)
CHUNK=$(uat "$PKG" 16 4)
KT=$(uat "$PKG" 20 4)
KM=$(uat "$PKG" 24 4)
KP=$(uat "$PKG" 28 4)
SALT=$(hexat "$PKG" 32 16)
KEYCHECK=$(hexat "$PKG" 48 32)
L=$(uat "$PKG" 80 8)
RESERVED=$(hexat "$PKG" 88 8)
ENCRYPTED=$((FLAGS & 1))
NOREEXPORT=$(((FLAGS >> 1) & 1))
[ $((FLAGS & ~3)) -eq 0 ] || tampered "damaged: unknown flag bits in the header ($FLAGS)"
[ "$HLEN" -eq 128 ] || tampered "damaged: header length $HLEN, not 128"
[ "$CHUNK" -eq 1048576 ] || tampered "damaged: chunk size $CHUNK, not 1048576"
[ "$RESERVED" = 0000000000000000 ] || tampered "damaged: reserved header bytes 88-95 are not zero"
if [ "$ENCRYPTED" -eq 1 ]; then
	[ "$KT" -ge 1 ] && [ "$KT" -le 16 ] && [ "$KM" -ge 19456 ] && [ "$KM" -le 1048576 ] &&
		[ "$KP" -ge 1 ] && [ "$KP" -le 8 ] ||
		tampered "damaged: Argon2id parameters t=$KT m=$KM p=$KP outside the allowed ranges"
else
	[ "$KT$KM$KP" = 000 ] && [ "$SALT" = 00000000000000000000000000000000 ] &&
		[ "$KEYCHECK" = "$ZERO32" ] ||
		tampered "damaged: an unencrypted package with key derivation fields set"
fi
[ "$L" -gt 0 ] || tampered "damaged: plaintext length 0"
NCHUNKS=$(((L + 1048575) / 1048576))
if [ "$ENCRYPTED" -eq 1 ]; then
	WANT=$((128 + L + 16 * NCHUNKS))
else
	WANT=$((128 + L))
fi
[ "$FILESIZE" -eq "$WANT" ] ||
	tampered "damaged: the file is $FILESIZE bytes; the header says $WANT (truncated or extended)"
ok "flags: encrypted $ENCRYPTED, prevent re-export $NOREEXPORT; header length 128; chunk size 1 MiB"
ok "tar stream $L bytes in $NCHUNKS chunk(s); file size $FILESIZE bytes as the header implies"

# ------------------------------------------------------ 2. the password ----

PLAIN=$W/plain.tar
if [ "$ENCRYPTED" -eq 1 ]; then
	step 2 "the password (Argon2id, then HKDF-SHA256)"
	[ -n "$PWFILE" ] || cannot "the package is encrypted: give its password file"
	command -v argon2 >/dev/null 2>&1 || cannot "the argon2 command is missing (Debian package argon2)"
	# The password is the first line of the file without its line break.
	pw() { sed -n '1{s/\r$//;p;q;}' "$PWFILE" | tr -d '\n'; }
	PWLEN=$(pw | wc -c | tr -d ' ')
	[ "$PWLEN" -ge 1 ] || cannot "$PWFILE: empty password"
	# The argon2 command reads at most 127 bytes of password.
	[ "$PWLEN" -le 127 ] || cannot "the password is $PWLEN bytes; the argon2 command takes at most 127"
	# The Argon2id salt is the 32-character hex text of the 16 salt bytes.
	note "Argon2id t=$KT m=$KM KiB p=$KP, salt \"$SALT\" (as text, 32 bytes)"
	MASTER=$(pw | argon2 "$SALT" -id -v 13 -t "$KT" -k "$KM" -p "$KP" -l 32 -r) ||
		cannot "argon2 failed"
	# HKDF-SHA256 (RFC 5869) without salt (openssl then uses 32 zero bytes).
	hkdf() {
		openssl kdf -binary -keylen 32 -kdfopt digest:SHA256 -kdfopt "hexkey:$MASTER" \
			-kdfopt "info:$1" HKDF | od -An -v -tx1 | tr -d ' \n'
	}
	KEY=$(hkdf custody/v1/package-key)
	CHECK=$(hkdf custody/v1/package-check)
	[ ${#KEY} -eq 64 ] && [ ${#CHECK} -eq 64 ] || cannot "openssl kdf HKDF failed"
	if [ "$CHECK" != "$KEYCHECK" ]; then
		bad "the key check derived from the password is not the header's (bytes 48-79)"
		printf '\nRESULT: wrong password\n'
		exit 2
	fi
	ok "key check = HKDF(master, \"custody/v1/package-check\") matches the header: the password is right"

	step 3 "the chunks (AES-256-GCM, decrypted as AES-256-CTR)"
	note "openssl enc has no GCM: each chunk's 16-byte tag is cut off and NOT checked."
	note "That is safe for the verdict: the signatures, hashes and hash chains below cover"
	note "every byte of the plaintext; a changed byte is reported there as tampering."
	# openssl enc takes the key on its command line (-K), where other users of
	# this machine can see it (ps): run the recipe on a machine you control.
	: > "$PLAIN"
	i=0
	while [ "$i" -lt "$NCHUNKS" ]; do
		len=$((L - i * 1048576))
		[ "$len" -le 1048576 ] || len=1048576
		# GCM with a 96-bit nonce encrypts with AES-CTR from nonce || 00000002;
		# nonce_i = 00000000 || i as 8 bytes big-endian.
		iv=$(printf '00000000%016x00000002' "$i")
		piece "$PKG" $((128 + i * 1048592)) "$len" |
			openssl enc -d -aes-256-ctr -nopad -K "$KEY" -iv "$iv" >> "$PLAIN" ||
			cannot "openssl enc failed on chunk $i"
		i=$((i + 1))
	done
	[ "$(filesize "$PLAIN")" -eq "$L" ] || cannot "decryption gave the wrong length"
	ok "$NCHUNKS chunk(s) decrypted: $L bytes of tar stream"
else
	step 2 "the password"
	note "the package is not encrypted: no password, no key"
	[ -z "$PWFILE" ] || note "the password file given is not used"
	step 3 "the chunks"
	note "not encrypted: the tar stream is the file after its 128-byte header"
	tail -c +129 "$PKG" > "$PLAIN"
fi

# -------------------------------------------------------------- 4. tar ----

step 4 "the tar stream"
X=$(mktemp -d "$W/x.XXXXXX") || cannot "no temporary directory"
# Look before extracting: regular files only, with names the format allows
# (no absolute path, no "..", no link), each once.
tar -tvf "$PLAIN" > "$W/tar.long" 2> "$W/tar.err" ||
	tampered "the plaintext is not a tar archive: $(shown "$(head -n 1 "$W/tar.err")")"
tar -tf "$PLAIN" > "$W/tar.names" 2> /dev/null
[ -z "$(cut -c1 "$W/tar.long" | grep -v '^-$')" ] ||
	tampered "the tar stream holds an entry that is not a regular file"
BADNAME=$(grep -Ev '^(manifest\.json|manifest\.sig|certs/(site-ca|recorder|exporter)\.pem|segments/[A-Za-z0-9][A-Za-z0-9._-]*/[0-9]{16}\.seg)$' "$W/tar.names" | head -n 1)
[ -z "$BADNAME" ] || tampered "the tar stream holds a name the format does not allow: $(shown "$BADNAME")"
DUP=$(awk 'seen[$0]++ { print; exit }' "$W/tar.names")
[ -z "$DUP" ] || tampered "the tar stream holds $DUP twice"
tar -xf "$PLAIN" -C "$X" --no-same-owner --no-same-permissions 2> "$W/tar.err" ||
	tampered "the tar stream does not extract: $(shown "$(head -n 1 "$W/tar.err")")"
ok "$(wc -l < "$W/tar.names" | tr -d ' ') regular files, names as the format allows; extracted"

[ "$(head -n 1 "$W/tar.names")" = manifest.json ] ||
	tampered "the first file of the tar stream is not manifest.json"
awk "$JSON_FLATTEN" "$X/manifest.json" > "$FLAT" 2> "$W/json.err" ||
	tampered "$(shown "$(head -n 1 "$W/json.err")")"
FORMAT=$(ms format) && [ "$FORMAT" = custody-evidence-package ] ||
	tampered "manifest.json: format is not custody-evidence-package"
MVERSION=$(mint version) || tampered "manifest.json: no version"
[ "$MVERSION" -le 1 ] || cannot "manifest version $MVERSION is newer than this recipe (version 1)"
[ "$MVERSION" -eq 1 ] || tampered "manifest.json: version $MVERSION"
ok "manifest.json is JSON: format custody-evidence-package, version 1"

# The manifest's parts this recipe uses, each checked for its form.
need() { tampered "manifest.json: $1 is missing or malformed"; }
ishex() { case $1 in *[!0-9a-f]*) return 1 ;; esac; [ ${#1} -eq "$2" ]; }
STORE=$(ms store) && ishex "$STORE" 32 || need store
EXPORTED=$(ms exported) && EXPORTED_US=$(iso_us "$EXPORTED") || need exported
NCAM=$(mint 'cameras#') && [ "$NCAM" -ge 1 ] && [ "$NCAM" -le 64 ] || need cameras
[ "$(mint 'files#')" = 3 ] || need files
for i in 0 1 2; do
	ms "files[$i].name" > /dev/null && mint "files[$i].bytes" > /dev/null &&
		ishex "$(ms "files[$i].sha256")" 64 || need "files[$i]"
done
[ "$(ms 'files[0].name')" = certs/site-ca.pem ] && [ "$(ms 'files[1].name')" = certs/recorder.pem ] &&
	[ "$(ms 'files[2].name')" = certs/exporter.pem ] ||
	tampered "manifest.json: files is not certs/site-ca.pem, certs/recorder.pem, certs/exporter.pem"

# seg_rows CAMERA: one line per segment of cameras[CAMERA]:
#   file seq from to frames bytes first_entry chain last_seal
seg_rows() {
	awk -F '\t' -v c="cameras[$1].segments[" '
	index($1, c) == 1 {
		rest = substr($1, length(c) + 1); k = rest; sub(/\].*/, "", k); f = rest; sub(/^[0-9]+\]\./, "", f)
		v = $2; if (v ~ /^".*"$/) v = substr(v, 2, length(v) - 2)
		if (v == "") v = "-"
		val[k, f] = v; if (k + 1 > n) n = k + 1
	}
	END {
		for (k = 0; k < n; k++)
			print val[k, "file"], val[k, "seq"], val[k, "from"], val[k, "to"], val[k, "frames"], val[k, "bytes"], val[k, "first_entry"], val[k, "chain"], val[k, "last_seal"]
	}' "$FLAT"
}

# The layout the manifest fixes: every file, in order.
{
	echo manifest.json
	echo manifest.sig
	echo certs/site-ca.pem
	echo certs/recorder.pem
	echo certs/exporter.pem
	c=0
	while [ "$c" -lt "$NCAM" ]; do
		seg_rows "$c" | while read -r file rest; do echo "$file"; done
		c=$((c + 1))
	done
} > "$W/layout.names"
c=0
while [ "$c" -lt "$NCAM" ]; do
	name=$(ms "cameras[$c].name") || need "cameras[$c].name"
	case $name in [A-Za-z0-9]*) ;; *) need "cameras[$c].name" ;; esac
	case $name in *[!A-Za-z0-9._-]*) need "cameras[$c].name" ;; esac
	ishex "$(ms "cameras[$c].id")" 32 || need "cameras[$c].id"
	mint "cameras[$c].segments#" > /dev/null || need "cameras[$c].segments"
	seg_rows "$c" > "$W/cam$c.rows"
	while read -r file seq from to frames bytes first_entry chain last_seal; do
		case $seq in '' | *[!0-9]*) need "a segment's seq of camera $name" ;; esac
		[ "$file" = "segments/$name/$(printf '%016d' "$seq").seg" ] ||
			need "the file name of segment $seq of camera $name"
		ishex "$chain" 64 || need "the chain of $file"
		ishex "$last_seal" 64 || need "the last_seal of $file"
		case $bytes$frames$first_entry in '' | *[!0-9]*) need "bytes, frames or first_entry of $file" ;; esac
		iso_us "$from" > /dev/null && iso_us "$to" > /dev/null || need "from or to of $file"
	done < "$W/cam$c.rows"
	c=$((c + 1))
done
for f in $(grep -Fxv -f "$W/tar.names" "$W/layout.names"); do
	tampered "$f is missing from the package (manifest.json lists it)"
done
for f in $(grep -Fxv -f "$W/layout.names" "$W/tar.names"); do
	tampered "$f is in the package but manifest.json does not list it"
done
cmp -s "$W/layout.names" "$W/tar.names" ||
	tampered "the files of the tar stream are not in the order manifest.json fixes"
ok "the files are exactly those manifest.json lists, in its order"

# Every byte of the tar stream follows from the manifest: rebuild the stream
# the format defines (ustar headers with fixed fields, mtime = the export
# time in seconds, padding, two zero blocks) from the extracted files and
# compare it byte for byte with the one in the package.
MTIME=$((EXPORTED_US / 1000000))
# ustar_header NAME SIZE CHECKSUM: a header block; CHECKSUM "" gives the
# block with the checksum field as eight spaces (how the sum is taken).
ustar_header() {
	printf '%s' "$1"
	zeros $((100 - ${#1}))
	printf '%s\000' 0000644 0000000 0000000 # mode, uid, gid
	printf '%011o\000%011o\000' "$2" "$MTIME" # size, mtime
	if [ -z "$3" ]; then printf '        '; else printf '%06o\000 ' "$3"; fi
	printf '0' # typeflag: regular file
	zeros 100  # linkname
	printf 'ustar\000%s' 00
	zeros 247
}
canonical_tar() {
	at=0
	while read -r name size; do
		sum=$(ustar_header "$name" "$size" "" | od -An -v -tu1 |
			awk '{ for (i = 1; i <= NF; i++) s += $i } END { print s }')
		ustar_header "$name" "$size" "$sum"
		head -c "$size" "$X/$name"
		zeros $(((512 - size % 512) % 512))
		echo "$at $((at + 512)) $((at + 512 + size)) $name $((at + 512 + (size + 511) / 512 * 512))" >> "$W/layout.offsets"
		at=$((at + 512 + (size + 511) / 512 * 512))
	done
	zeros 1024
}
{
	echo "manifest.json $(filesize "$X/manifest.json")"
	echo "manifest.sig 64"
	for i in 0 1 2; do echo "$(ms "files[$i].name") $(mint "files[$i].bytes")"; done
	c=0
	while [ "$c" -lt "$NCAM" ]; do
		while read -r file seq from to frames bytes rest; do echo "$file $bytes"; done < "$W/cam$c.rows"
		c=$((c + 1))
	done
} > "$W/layout.sizes"
: > "$W/layout.offsets"
if ! canonical_tar < "$W/layout.sizes" | cmp - "$PLAIN" > "$W/cmp.out" 2>&1; then
	# cmp names the first byte that differs (counting from 1), or says
	# which stream ended first
	at=$(sed -nE 's/.*(differ: [a-z]+|after [a-z]+) ([0-9]+).*/\2/p' "$W/cmp.out" | head -n 1)
	case $(head -n 1 "$W/cmp.out") in
	*"EOF on -"*) where="(the package's stream is longer than the manifest accounts for)" ;;
	*EOF*) where="(the package's stream is shorter than the manifest accounts for)" ;;
	*) where=$(awk -v b="${at:-0}" '
		b - 1 >= $1 && b - 1 < $2 { w = "in the tar header of " $4 }
		b - 1 >= $2 && b - 1 < $3 { w = "in the content of " $4 " (its size differs from the manifest)" }
		b - 1 >= $3 && b - 1 < $5 { w = "in the padding after " $4 }
		END { print (w != "" ? w : "in the two zero blocks that end the stream") }' "$W/layout.offsets") ;;
	esac
	tampered "the tar stream is not the one the manifest fixes: it differs at byte ${at:-?} $where"
fi
ok "the tar stream is byte for byte the canonical one (headers, export time, padding, end)"

# --------------------------------------------------- 5. export signature ----

step 5 "the export signature (manifest.sig, Ed25519 by certs/exporter.pem)"
C=$X/certs
openssl x509 -in "$C/exporter.pem" -pubkey -noout > "$W/exporter.pub" 2> /dev/null ||
	tampered "certs/exporter.pem is not a certificate"
{ printf 'custody/v1/export\000'; head -c "$(filesize "$X/manifest.json")" "$X/manifest.json"; } > "$W/export.msg"
openssl pkeyutl -verify -pubin -inkey "$W/exporter.pub" -rawin -in "$W/export.msg" \
	-sigfile "$X/manifest.sig" > /dev/null 2>&1 ||
	tampered "the export signature does not verify: manifest.json was altered, or signed by another key than certs/exporter.pem's"
ok "Ed25519 signature over \"custody/v1/export\\0\" || manifest.json verifies"
say "          what the export signature covers (text as written in manifest.json):"
say "          case      $(shown "$(ms case)")"
say "          exported  $EXPORTED by $(shown "$(ms exporter)") (profile $(shown "$(ms profile.name)"))"
say "          comments  $(shown "$(ms comments)")"

# ------------------------------------------------------ 6. certificates ----

step 6 "the certificates"
for f in site-ca recorder exporter; do
	[ "$(grep -c -- '-----BEGIN' "$C/$f.pem")" -eq 1 ] ||
		tampered "certs/$f.pem does not hold exactly one certificate"
	openssl x509 -in "$C/$f.pem" -noout -text > "$W/$f.txt" 2> /dev/null ||
		tampered "certs/$f.pem is not a certificate"
	[ "$(grep -c 'Algorithm: ED25519' "$W/$f.txt")" -ge 2 ] ||
		tampered "certs/$f.pem is not an Ed25519 certificate signed with Ed25519"
done
# fingerprint (SHA-256 of the DER) and subject (RFC 2253) against the manifest
for pair in site-ca:site_ca recorder:recorder exporter:server; do
	f=${pair%:*} k=${pair#*:}
	fp=$(openssl x509 -in "$C/$f.pem" -outform DER | sha256sum | cut -c1-64)
	subj=$(openssl x509 -in "$C/$f.pem" -noout -subject -nameopt RFC2253 | sed 's/^subject=//')
	[ "$fp" = "$(ms "$k.sha256")" ] && [ "$(printf '%s' "$subj" | od -An -v -tx1 | tr -d ' \n')" = "$(mhex "$k.subject")" ] ||
		tampered "certs/$f.pem is not the certificate manifest.json names as $k"
	ok "certs/$f.pem: $(shown "$subj")"
	say "          SHA-256 $fp"
done
note "the site CA's fingerprint above is the trust anchor: compare it with the one"
note "recorded at custody init (custody verify --ca-fingerprint does this)."
grep -A1 'Basic Constraints' "$W/site-ca.txt" | grep -q 'CA:TRUE' ||
	tampered "certs/site-ca.pem is not a CA certificate"
for f in recorder exporter; do
	! grep -A1 'Basic Constraints' "$W/$f.txt" | grep -q 'CA:TRUE' &&
		grep -A1 'Key Usage' "$W/$f.txt" | grep -q 'Digital Signature' ||
		tampered "certs/$f.pem is a CA or lacks the digitalSignature key usage"
done
# chain_at FILE SECONDS: FILE chains to the site CA at that time. The site
# CA is self-signed, so it is the whole chain's anchor (no -partial_chain);
# -check_ss_sig checks its self-signature too. -attime: the time of the
# signature in question, not today (an old package stays verifiable after
# its certificates expire, and a certificate made after the signature fails).
chain_at() {
	openssl verify -x509_strict -check_ss_sig -CAfile "$C/site-ca.pem" -attime "$2" \
		"$C/$1.pem" > "$W/verify.out" 2>&1
}
chain_at exporter "$MTIME" ||
	tampered "certs/exporter.pem does not chain to certs/site-ca.pem at the export time $EXPORTED: $(shown "$(grep -m1 error "$W/verify.out")")"
ok "certs/exporter.pem chains to certs/site-ca.pem at the export time $EXPORTED"
note "certs/recorder.pem is checked at its signatures' times after step 8"

# ------------------------------------------------------------- 7. files ----

step 7 "the files manifest.json lists"
for i in 0 1 2; do
	f=$(ms "files[$i].name")
	[ "$(filesize "$X/$f")" = "$(mint "files[$i].bytes")" ] && [ "$(sha "$X/$f")" = "$(ms "files[$i].sha256")" ] ||
		tampered "$f differs from the file manifest.json lists (SHA-256 or size)"
	ok "$f: SHA-256 and size as listed"
done
[ "$(m profile.encrypted)" = "$([ "$ENCRYPTED" -eq 1 ] && echo true || echo false)" ] &&
	[ "$(m profile.prevent_reexport)" = "$([ "$NOREEXPORT" -eq 1 ] && echo true || echo false)" ] ||
	tampered "the header's flags differ from the signed profile"
[ "$(m profile.signed)" = true ] || tampered "the manifest's profile says it is not signed"
ok "the header's encrypted and prevent-re-export flags are the signed profile's"
note "the segment copies: their chain values and sizes are checked with each segment in step 8"

# -------------------------------------------------------- 8. recordings ----

step 8 "the recordings: every segment, every entry, every seal"
openssl x509 -in "$C/recorder.pem" -pubkey -noout > "$W/recorder.pub"
KEYID=$(openssl x509 -in "$C/recorder.pem" -outform DER | sha256sum | cut -c1-64)
note "signer: certs/recorder.pem, key id (SHA-256 of its DER) $KEYID"

# entry_header SEG OFF: decodes the 40-byte entry header at OFF (one od).
entry_header() {
	# shellcheck disable=SC2046 # split into the 40 bytes on purpose
	set -- $(od -An -v -tx1 -j "$2" -N 40 "$1")
	[ $# -eq 40 ] || { E_MAGIC=; return; }
	E_MAGIC=$1$2$3$4
	E_TYPE=$((0x$5))
	le $9 ${10} ${11} ${12} ${13} ${14} ${15} ${16}; E_SEQ=$LE
	les ${17} ${18} ${19} ${20} ${21} ${22} ${23} ${24}; E_TIME=$LE
	le ${25} ${26} ${27} ${28}; E_DUR=$LE
	le ${29} ${30} ${31} ${32}; E_PLAIN=$LE
	le ${33} ${34} ${35} ${36}; E_STORED=$LE
	E_RESERVED=${37}${38}${39}${40}
}

# check_segment NAME ID FILE SEQ: walks one segment copy as
# media-database.md describes (mode none), and leaves in S_* what the
# links between segments need. Returns 1 with S_WHY set on the first failure.
check_segment() {
	cname=$1 cid=$2 seg=$X/$3 sseq=$4
	size=$(filesize "$seg")
	S_WHY=
	[ "$size" -ge 160 ] || { S_WHY="shorter than a segment header"; return 1; }
	# The header (160 bytes).
	[ "$(hexat "$seg" 0 8)" = 4355535453454731 ] || { S_WHY="no CUSTSEG1 magic"; return 1; }
	[ "$(uat "$seg" 8 2)" = 1 ] && [ "$(uat "$seg" 10 2)" = 160 ] || { S_WHY="not a version 1 segment header"; return 1; }
	[ "$(hexat "$seg" 12 4)" = 00010100 ] || { S_WHY="header bytes 12-15 are not: mode none, SHA-256, Ed25519, 0"; return 1; }
	[ "$(hexat "$seg" 16 32)" = "$ZERO32" ] || { S_WHY="the key salt of a copy in mode none is not zero"; return 1; }
	[ "$(hexat "$seg" 136 24)" = 000000000000000000000000000000000000000000000000 ] || { S_WHY="reserved header bytes are not zero"; return 1; }
	[ "$(hexat "$seg" 48 16)" = "$STORE" ] || { S_WHY="its header names another store"; return 1; }
	[ "$(hexat "$seg" 64 16)" = "$cid" ] && [ "$(uat "$seg" 80 8)" = "$sseq" ] ||
		{ S_WHY="its header names another camera or segment number (spliced in from elsewhere)"; return 1; }
	S_CREATED=$(iat "$seg" 88)
	S_FIRST_ENTRY=$(uat "$seg" 96 8)
	S_PREV_CHAIN=$(hexat "$seg" 104 32)
	# The chain starts from the canonical header, bytes 48-135.
	cur=$W/chain.a nxt=$W/chain.b
	{ printf 'custody/v1/segment\000'; piece "$seg" 48 88; } | openssl dgst -sha256 -binary > "$cur"
	off=160 next=$S_FIRST_ENTRY covered=$S_FIRST_ENTRY
	S_FRAMES=0 S_SEALS=0 S_RECORDS=0 S_FIRST_TS=-1 S_END_TS=-1 S_MAX_SEAL=-1
	S_FIRST_PREV_SEAL='' S_LAST_SEAL='' sealed_end=-1
	: > "$W/seg.gaps"
	: > "$W/seg.rets"
	while [ "$off" -lt "$size" ]; do
		[ $((off + 40)) -le "$size" ] || { S_WHY="$((size - off)) bytes after the last entry are not an entry"; break; }
		entry_header "$seg" "$off"
		[ "$E_MAGIC" = 4355454e ] || { S_WHY="no entry (CUEN) at byte $off"; return 1; }
		[ "$E_SEQ" = "$next" ] || { S_WHY="entry at byte $off is number $E_SEQ, expected $next (entries removed, inserted or reordered)"; return 1; }
		[ "$E_STORED" = "$E_PLAIN" ] && [ "$E_RESERVED" = 00000000 ] || { S_WHY="entry $E_SEQ: lengths or reserved bytes are wrong for mode none"; return 1; }
		body=$((off + 40))
		[ $((body + E_STORED)) -le "$size" ] || { S_WHY="entry $E_SEQ runs past the end of the file"; break; }
		case $E_TYPE in
		1) # a frame
			[ "$E_PLAIN" -ge 1 ] && [ "$E_PLAIN" -le 16777216 ] && [ "$E_DUR" -le 10000000 ] ||
				{ S_WHY="frame $E_SEQ: a length or duration out of range"; return 1; }
			S_FRAMES=$((S_FRAMES + 1))
			[ "$S_FIRST_TS" -ge 0 ] || S_FIRST_TS=$E_TIME
			[ $((E_TIME + E_DUR)) -le "$S_END_TS" ] || S_END_TS=$((E_TIME + E_DUR))
			;;
		2) # a seal: check it against the chain so far, then its signature
			[ "$E_STORED" -eq 176 ] || { S_WHY="seal $E_SEQ is not 176 bytes"; return 1; }
			[ "$(hexat "$seg" "$body" 8)" = 0100000000000000 ] || { S_WHY="seal $E_SEQ: unknown signature algorithm"; return 1; }
			seal="seal $E_SEQ (written $(us_iso "$E_TIME"))"
			[ "$(uat "$seg" $((body + 8)) 8)" = "$covered" ] ||
				{ S_WHY="$seal does not cover from entry $covered"; return 1; }
			[ "$(hexat "$seg" $((body + 16)) 32)" = "$(hexat "$cur" 0 32)" ] ||
				{ S_WHY="the chain of the entries before $seal does not match the sealed chain value (an entry it seals was altered, added or removed)"; return 1; }
			prev=$(hexat "$seg" $((body + 48)) 32)
			if [ -z "$S_FIRST_PREV_SEAL" ]; then
				S_FIRST_PREV_SEAL=$prev # linked to the segment before in step 9
			elif [ "$prev" != "$S_LAST_SEAL" ]; then
				S_WHY="$seal does not link to the seal before it"; return 1
			fi
			[ "$(hexat "$seg" $((body + 80)) 32)" = "$KEYID" ] ||
				{ S_WHY="$seal names another signer than certs/recorder.pem"; return 1; }
			{
				printf 'custody/v1/seal\000'
				piece "$seg" 48 40             # store id, camera id, segment seq
				piece "$seg" "$off" 32         # the seal's canonical entry header
				piece "$seg" "$body" 112       # seal body bytes 0-111
			} > "$W/seal.msg"
			piece "$seg" $((body + 112)) 64 > "$W/seal.sig"
			openssl pkeyutl -verify -pubin -inkey "$W/recorder.pub" -rawin -in "$W/seal.msg" \
				-sigfile "$W/seal.sig" > /dev/null 2>&1 ||
				{ S_WHY="the signature of $seal does not verify with certs/recorder.pem's key"; return 1; }
			S_LAST_SEAL=$(piece "$seg" "$body" 176 | sha256sum | cut -c1-64)
			S_SEALS=$((S_SEALS + 1))
			[ "$E_TIME" -le "$S_MAX_SEAL" ] || S_MAX_SEAL=$E_TIME
			covered=$((E_SEQ + 1))
			sealed_end=$((body + 176))
			;;
		3) # a record
			[ "$E_STORED" -ge 72 ] || { S_WHY="record $E_SEQ is too short"; return 1; }
			kind=$(uat "$seg" "$body" 2)
			rlen=$(uat "$seg" $((body + 2)) 2)
			[ "$E_STORED" -eq $((72 + rlen)) ] && [ "$kind" -ge 1 ] && [ "$kind" -le 6 ] ||
				{ S_WHY="record $E_SEQ is malformed"; return 1; }
			rfrom=$(iat "$seg" $((body + 8)))
			rto=$(iat "$seg" $((body + 16)))
			aux1=$(uat "$seg" $((body + 24)) 8)
			aux2=$(uat "$seg" $((body + 32)) 8)
			reason=$(hexat "$seg" $((body + 72)) "$rlen")
			if [ "$kind" -eq 1 ] && [ "$reason" != "$(printf '%s' "$cname" | od -An -v -tx1 | tr -d ' \n')" ]; then
				S_WHY="the manifest calls this camera \"$cname\" but its signed start record says otherwise"; return 1
			fi
			if [ "$kind" -eq 5 ]; then
				echo "$aux1 $aux2 $(hexat "$seg" $((body + 40)) 32)" >> "$W/seg.rets"
			fi
			# An event record: one moment, aux and hash zero, and its text
			# five lines (type, phase, source, severity, detail): four LFs.
			if [ "$kind" -eq 6 ]; then
				[ "$rfrom" -ge 0 ] && [ "$rto" -eq "$rfrom" ] && [ "$aux1" -eq 0 ] && [ "$aux2" -eq 0 ] &&
					[ "$(hexat "$seg" $((body + 40)) 32 | tr -d 0)" = "" ] &&
					[ "$(printf '%s' "$reason" | fold -w2 | grep -c '^0a$')" -eq 4 ] ||
					{ S_WHY="event record $E_SEQ is malformed"; return 1; }
			fi
			# The manifest lists gap, restart, retention (one that deletes
			# something: aux1 < aux2) and event records whose [from, to]
			# overlaps the camera's exported range.
			if { [ "$kind" -ge 3 ] && [ "$kind" -le 4 ]; } || [ "$kind" -eq 6 ] || { [ "$kind" -eq 5 ] && [ "$aux1" -lt "$aux2" ]; }; then
				if [ "$rfrom" -ge 0 ] && [ "$rto" -ge "$rfrom" ] && [ "$rfrom" -le "$CAM_TO" ] && [ "$rto" -ge "$CAM_FROM" ]; then
					echo "$kind $rfrom $rto $reason" >> "$W/seg.gaps"
				fi
			fi
			S_RECORDS=$((S_RECORDS + 1))
			;;
		*) S_WHY="entry $E_SEQ has an unknown type $E_TYPE"; return 1 ;;
		esac
		# The chain: c = H(c || canonical entry header (bytes 0-31) || body).
		{ head -c 32 "$cur"; piece "$seg" "$off" 32; piece "$seg" "$body" "$E_STORED"; } |
			openssl dgst -sha256 -binary > "$nxt"
		t=$cur cur=$nxt nxt=$t
		S_LAST_ENTRY=$E_SEQ
		next=$((E_SEQ + 1))
		off=$((body + E_STORED))
	done
	[ "$sealed_end" -ge 0 ] || { S_WHY="${S_WHY:-it holds no seal}"; return 1; }
	[ "$sealed_end" -eq "$size" ] ||
		{ S_WHY="$((size - sealed_end)) bytes after its last seal are not sealed (added)"; return 1; }
	[ -z "$S_WHY" ] || return 1
	S_END_CHAIN=$(hexat "$cur" 0 32)
	return 0
}

# fail REASON: the segment being checked is the camera's first failed one.
fail() {
	cam_fail="segment $seq: $*"
	FAIL_US=$from_us
	bad "camera $CAM: segment $seq ($from): $*"
}

MIN_CREATED=-1 MAX_SEAL=-1 FAILED_CAMS=0 FIRST_FAIL_US=-1 FIRST_FAIL=
c=0
while [ "$c" -lt "$NCAM" ]; do
	CAM=$(ms "cameras[$c].name")
	CID=$(ms "cameras[$c].id")
	CAM_FROM=$(iso_us "$(ms "cameras[$c].from")") && CAM_TO=$(iso_us "$(ms "cameras[$c].to")") ||
		need "cameras[$c].from or .to"
	say "    camera $CAM (id $CID), exported $(ms "cameras[$c].from") to $(ms "cameras[$c].to")"
	: > "$W/cam$c.gaps"
	cam_fail=
	cam_frames=0
	p_seq='' p_chain='' p_last_entry='' p_last_seal=
	# the retention records of all the camera's segments are kept for step 9:
	# a record comes later than the hole it names
	: > "$W/cam$c.rets"
	: > "$W/cam$c.state"
	while read -r file seq from to frames bytes first_entry chain last_seal; do
		[ -z "$cam_fail" ] || continue
		from_us=$(iso_us "$from") to_us=$(iso_us "$to")
		# No file hash: check_segment forces every byte the chain does not
		# cover and computes the chain; its end binds the copy to the
		# signed manifest.
		if ! check_segment "$CAM" "$CID" "$file" "$seq" < /dev/null; then
			fail "$S_WHY"
		elif [ "$S_END_CHAIN" != "$chain" ] || [ "$S_LAST_SEAL" != "$last_seal" ] ||
			[ "$S_FIRST_ENTRY" != "$first_entry" ] || [ "$(filesize "$X/$file")" != "$bytes" ]; then
			fail "the file differs from the one the export signed (chain value, last seal, first entry or size)"
		elif [ "$S_FRAMES" != "$frames" ] || [ "$S_FIRST_TS" != "$from_us" ] || [ "$S_END_TS" != "$to_us" ]; then
			fail "the manifest's times or frame count disagree with the signed content, which starts at $(us_iso "$S_FIRST_TS")"
		elif [ "$S_FIRST_TS" -gt "$CAM_TO" ] || [ "$S_END_TS" -lt "$CAM_FROM" ]; then
			fail "it lies outside the exported range"
		else
			ok "segment $seq ($from to $to): $S_FRAMES frames, $S_RECORDS records, $S_SEALS seal signatures verified; chain value, last seal and size as signed"
			tail -n +1 "$W/seg.gaps" >> "$W/cam$c.gaps"
			tail -n +1 "$W/seg.rets" >> "$W/cam$c.rets"
			echo "$seq $S_PREV_CHAIN $S_FIRST_ENTRY ${S_FIRST_PREV_SEAL:-$ZERO32} $S_END_CHAIN $S_LAST_ENTRY $S_LAST_SEAL $from" >> "$W/cam$c.state"
			cam_frames=$((cam_frames + S_FRAMES))
			[ "$MIN_CREATED" -ge 0 ] && [ "$S_CREATED" -ge "$MIN_CREATED" ] || MIN_CREATED=$S_CREATED
			[ "$S_MAX_SEAL" -le "$MAX_SEAL" ] || MAX_SEAL=$S_MAX_SEAL
		fi
	done < "$W/cam$c.rows"

	# ------------------------------------------------- 9. links (per camera)
	if [ -z "$cam_fail" ]; then
		first=1
		while read -r seq prev_chain first_entry first_prev_seal end_chain last_entry last_seal from; do
			linked=0
			if [ "$first" -eq 1 ] && [ "$seq" -ne 1 ]; then
				linked=1 # the package starts later: nothing before it to link to
			elif [ "$first" -eq 1 ]; then
				# segment 1 links to zeros
				[ "$prev_chain" = "$ZERO32" ] && [ "$first_entry" -eq 1 ] &&
					[ "$first_prev_seal" = "$ZERO32" ] && linked=1
			elif [ "$seq" -eq $((p_seq + 1)) ]; then
				[ "$prev_chain" = "$p_chain" ] && [ "$first_entry" -eq $((p_last_entry + 1)) ] &&
					[ "$first_prev_seal" = "$p_last_seal" ] && linked=1
			else
				# a hole: a signed retention record must name it
				while read -r aux1 aux2 hash; do
					[ "$aux2" -eq "$seq" ] && [ "$aux1" -le $((p_seq + 1)) ] && [ "$hash" = "$prev_chain" ] && linked=1
				done < "$W/cam$c.rets"
			fi
			if [ "$linked" -ne 1 ]; then
				cam_fail="segment $seq does not follow on from the segment before it (a segment was removed, replaced or reordered)"
				FAIL_US=$(iso_us "$from")
				bad "camera $CAM: $cam_fail"
				break
			fi
			first=0 p_seq=$seq p_chain=$end_chain p_last_entry=$last_entry p_last_seal=$last_seal
		done < "$W/cam$c.state"
	fi
	if [ -z "$cam_fail" ]; then
		ok "camera $CAM: each segment follows on from the one before (chain, entry numbers, seals)"
		[ "$cam_frames" = "$(mint "cameras[$c].frames")" ] ||
			tampered "the manifest says camera $CAM has $(m "cameras[$c].frames") frames; its segments hold $cam_frames"
		# the manifest's gaps are exactly the signed records found
		g=0 ng=$(mint "cameras[$c].gaps#") || need "cameras[$c].gaps"
		: > "$W/cam$c.mgaps"
		while [ "$g" -lt "$ng" ]; do
			say "          $(ms "cameras[$c].gaps[$g].kind") $(ms "cameras[$c].gaps[$g].from") to $(ms "cameras[$c].gaps[$g].to"): $(shown "$(ms "cameras[$c].gaps[$g].reason")")"
			case $(ms "cameras[$c].gaps[$g].kind") in
			gap) kind=3 ;; restart) kind=4 ;; retention) kind=5 ;; event) kind=6 ;; *) kind=0 ;;
			esac
			echo "$kind $(iso_us "$(ms "cameras[$c].gaps[$g].from")") $(iso_us "$(ms "cameras[$c].gaps[$g].to")") $(mhex "cameras[$c].gaps[$g].reason")" >> "$W/cam$c.mgaps"
			g=$((g + 1))
		done
		cmp -s "$W/cam$c.gaps" "$W/cam$c.mgaps" ||
			tampered "the manifest's gaps of camera $CAM differ from the signed records in its segments"
		ok "camera $CAM: $cam_frames frames as the manifest says; its $ng gap record(s) are the signed ones"
	else
		FAILED_CAMS=$((FAILED_CAMS + 1))
		if [ "$FIRST_FAIL_US" -lt 0 ] || [ "$FAIL_US" -lt "$FIRST_FAIL_US" ]; then
			FIRST_FAIL_US=$FAIL_US
			FIRST_FAIL="camera $CAM: first failed segment starts at $(us_iso "$FAIL_US") ($FAIL_US µs): $cam_fail"
		fi
	fi
	c=$((c + 1))
done
if [ "$FAILED_CAMS" -gt 0 ]; then
	printf '\nRESULT: tampered: %s\n' "$FIRST_FAIL"
	exit 1
fi

step "6, continued" "the recording certificate at the time of its signatures"
chain_at recorder $((MIN_CREATED / 1000000)) ||
	tampered "certs/recorder.pem does not chain to certs/site-ca.pem when the first segment was created ($(us_iso "$MIN_CREATED"))"
chain_at recorder $((MAX_SEAL / 1000000)) ||
	tampered "certs/recorder.pem does not chain to certs/site-ca.pem at the newest seal ($(us_iso "$MAX_SEAL"))"
ok "certs/recorder.pem chains to certs/site-ca.pem from $(us_iso "$MIN_CREATED") (first segment created) to $(us_iso "$MAX_SEAL") (newest seal)"

# ------------------------------------------------------- 10. audit head ----

step 10 "the audit-log tree head"
if [ "$(m audit)" = null ]; then
	note "none recorded with the export (audit is null)"
else
	AIDX=$(mint audit.index) && ASIZE=$(mint audit.head.size) &&
		ATIME=$(iso_us "$(ms audit.head.time)") && AROOT=$(ms audit.head.root) &&
		ACHAIN=$(ms audit.head.chain) && ASIG=$(ms audit.head.signature) &&
		ishex "$AROOT" 64 && ishex "$ACHAIN" 64 && ishex "$ASIG" 128 || need audit
	[ "$AIDX" -lt "$ASIZE" ] || tampered "the audit entry $AIDX is not under the tree head of $ASIZE entries"
	{
		printf 'custody/v1/tree-head\000'
		le_bytes "$ASIZE" 8
		le_bytes "$ATIME" 8
		bin_of_hex "$AROOT$ACHAIN$STORE"
	} > "$W/head.msg"
	bin_of_hex "$ASIG" > "$W/head.sig"
	openssl pkeyutl -verify -pubin -inkey "$W/exporter.pub" -rawin -in "$W/head.msg" \
		-sigfile "$W/head.sig" > /dev/null 2>&1 ||
		tampered "the audit tree head's signature does not verify"
	ok "entry $AIDX of the audit log, under a tree head of $ASIZE entries signed $(ms audit.head.time): signature verifies"
fi

printf '\nRESULT: intact\n'
exit 0
