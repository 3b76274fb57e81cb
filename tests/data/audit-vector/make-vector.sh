#!/bin/sh
# Makes tests/data/audit-vector/store: a store (encryption none) whose audit log
# holds 8 entries with signed heads of sizes 0, 1, 2, 3, 5 and 8. Regenerating
# changes every key and signature; rerun expected.json's generation after
# (tests/integration/test_audit.py --write-vector).
#   usage: make-vector.sh path/to/custody
set -eu
custody=${1:?usage: make-vector.sh path/to/custody}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
printf 'custody-test-vector-password\n' >"$work/pw"
chmod 600 "$work/pw"
store="$work/store"
"$custody" init --store "$store" --encryption none --site "custody test vector" \
	--server-name vector --password-file "$work/pw" >/dev/null
add() { "$custody" audit append --store "$store" --password-file "$work/pw" "$@" >/dev/null; }
add --time 2026-01-01T08:00:00Z --type auth.login --actor alice --source 192.0.2.10 \
	--detail '{"method": "password"}'
add --time 2026-01-01T08:00:01.5Z --type auth.login_failed --actor - --source 192.0.2.66 \
	--detail '{"user": "bob", "reason": "bad password"}'
add --time 2026-01-01T08:02:00Z --type export --actor alice --source 192.0.2.10 \
	--detail '{"comment": "case 2026-17, \"urgent\"", "cameras": ["cam1", "cam2"],
	  "ranges": [{"camera": "cam1", "from": "2026-01-01T07:00:00Z", "to": "2026-01-01T07:10:00Z"}],
	  "format": "mp4", "encryption": "strong", "signature": true}'
add --time 2026-01-01T08:03:00Z --type view.playback --actor "Zoë" --source 2001:db8::7 \
	--detail '{"camera": "cam1", "from": "2026-01-01T08:03:00Z", "to": "2026-01-01T08:09:12Z"}' \
	--no-sign
add --time 2026-01-01T08:10:00Z --type lock.add --actor alice --source 192.0.2.10 \
	--detail '{"camera": "cam2", "from": "2026-01-01T07:00:00Z", "to": "2026-01-01T07:10:00Z", "reason": "evidence"}'
add --time 2026-01-01T08:11:00Z --type auth.logout --actor alice --source 192.0.2.10 --no-sign
add --time 2026-01-01T08:12:00Z --type camera.change --actor admin --source cli \
	--detail '{"camera": "cam3", "change": "added", "url": "rtsps://192.0.2.50/stream"}' --no-sign
add --time 2026-01-01T08:13:00Z --type auth.token_refused --actor - --source 198.51.100.7 \
	--detail '{"reason": "expired", "token_id": "t-0042"}'
rm -rf "$here/store"
cp -r "$store" "$here/store"
# git keeps no empty directory; custody does not need it to read the log
rmdir "$here/store/cameras" 2>/dev/null || true
ls -la "$here/store"
