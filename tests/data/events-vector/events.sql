-- An events.db of format version 2, written from docs/formats/events-db.md
-- alone (not by custody): tests/unit/test-notify.c makes a database of it
-- and reads it with lib/notify, so the page and the code cannot drift apart.
-- Expected: see README.md.
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO meta VALUES('format', 'custody-events'), ('version', '2');
CREATE TABLE events(
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  t_us INTEGER NOT NULL,
  type TEXT NOT NULL,
  camera TEXT NOT NULL,
  source TEXT NOT NULL,
  phase TEXT NOT NULL,
  severity INTEGER NOT NULL,
  detail TEXT NOT NULL,
  acked_by TEXT NOT NULL DEFAULT '',
  acked_us INTEGER NOT NULL DEFAULT 0,
  ack_comment TEXT NOT NULL DEFAULT '');
CREATE INDEX events_time ON events(t_us);
CREATE TABLE conditions(cond TEXT NOT NULL, camera TEXT NOT NULL, PRIMARY KEY(cond, camera));
CREATE TABLE outbox(
  id TEXT PRIMARY KEY, event_id TEXT NOT NULL, target TEXT NOT NULL, rule TEXT NOT NULL,
  state INTEGER NOT NULL, attempts INTEGER NOT NULL, created_us INTEGER NOT NULL,
  next_us INTEGER NOT NULL, done_us INTEGER NOT NULL, error TEXT NOT NULL,
  t_us INTEGER NOT NULL, type TEXT NOT NULL, camera TEXT NOT NULL, source TEXT NOT NULL,
  phase TEXT NOT NULL, severity INTEGER NOT NULL, detail TEXT NOT NULL);
CREATE INDEX outbox_due ON outbox(state, next_us);
CREATE TABLE stills(
  seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL UNIQUE,
  size INTEGER NOT NULL, jpeg BLOB, note TEXT NOT NULL);
-- 2026-01-01T00:00:00Z = 1767225600000000 µs
INSERT INTO events(id, t_us, type, camera, source, phase, severity, detail) VALUES
 ('evt_00000000000000000000000000000001', 1767225600000000, 'daemon.started', '', 'custodyd', 'once', 0, 'custodyd 0.1.0'),
 ('evt_00000000000000000000000000000002', 1767225601000000, 'camera.offline', 'lobby', 'custodyd', 'raise', 2, 'no frames for 5012 ms'),
 ('evt_00000000000000000000000000000003', 1767225630000000, 'camera.online', 'lobby', 'custodyd', 'clear', 0, 'frames again after 29 s'),
 ('evt_00000000000000000000000000000004', 1767225700000000, 'tamper.covered', 'gate', 'analysis', 'raise', 3, 'the lens is covered');
UPDATE events SET acked_by = 'op1', acked_us = 1767225640000000, ack_comment = 'rebooted'
 WHERE id = 'evt_00000000000000000000000000000002';
INSERT INTO conditions VALUES('tamper.covered', 'gate');
INSERT INTO outbox VALUES
 ('evt_0000000000000000000000000000000a', 'evt_00000000000000000000000000000002', 'webhook:ops', 'down', 1, 1,
  1767225601000000, 1767225601200000, 1767225601200000, '',
  1767225601000000, 'camera.offline', 'lobby', 'custodyd', 'raise', 2, 'no frames for 5012 ms'),
 ('evt_0000000000000000000000000000000b', 'evt_00000000000000000000000000000004', 'webhook:ops', 'tamper', 0, 3,
  1767225700000000, 1767225760000000, 0, 'HTTP 503',
  1767225700000000, 'tamper.covered', 'gate', 'analysis', 'raise', 3, 'the lens is covered');
-- version 2: the still of the tamper event, kept for its e-mail notice; the
-- offline event's was too big and is a note only
INSERT INTO outbox VALUES
 ('evt_0000000000000000000000000000000c', 'evt_00000000000000000000000000000004', 'email:security', 'tamper', 0, 0,
  1767225700000000, 1767225800000000, 0, '',
  1767225700000000, 'tamper.covered', 'gate', 'analysis', 'raise', 3, 'the lens is covered');
INSERT INTO stills(event_id, size, jpeg, note) VALUES
 ('evt_00000000000000000000000000000004', 8, X'FFD8FFE0C0571DD9', ''),
 ('evt_00000000000000000000000000000002', 600000, NULL, 'the still of 600000 bytes is over the 512 KiB kept');
