// Recorded video of one camera, fed through MSE from GET playback windows
// fetched with the Authorization header (the token never goes into a URL).
// The server verifies each window before it sends a byte and answers 409
// tampered otherwise; those details are kept for the verification panel.
//
// Times: each window's file time 0 is the wall time in its
// Custody-Media-Start header (or, from an older server, the start= in the
// file's comment). The player puts every window on one media timeline whose
// zero is `origin` (ms), with SourceBuffer.timestampOffset = (start - origin),
// so that wall time = origin + currentTime for every frame.

import * as api from "./api.js";
import { Feed, startOf, frameIntervalOf, SCAN_MAX } from "./mse.js";
import { isoTime, parseTime } from "./ui.js";

const ORIGIN_BEFORE = 600e3;    // the media timeline starts this long before the first seek
const EDGE_QUIET_MS = 2000;     // a window at the recording's end that brought less: wait this long

export class RecordedPlayer {
  constructor(camera, video, { ranges, onStatus }) {
    this.camera = camera;
    this.video = video;
    this.ranges = ranges || (() => []);   // () => [{from, to}] of this camera (ms)
    this.onStatus = onStatus || (() => {});
    this.feed = null;
    this.origin = null;
    this.loadedTo = null;       // ms: wall time up to which windows were asked for
    this.fetching = null;       // AbortController of the window being fetched
    this.windows = 0;           // windows served (each verified by the server)
    this.tampered = null;       // the 409's details
    this.error = null;
    this.noMore = false;
    this.rate = 1;
    this.frameMs = null;        // the frame interval of the last window, from its timestamps
    this.quietUntil = 0;        // ms (Date.now()): no fetch at the recording's end before this
  }

  /** The wall time (ms) of the frame on screen, or null. */
  frameTime() {
    if (this.origin === null || !this.feed) return null;
    return this.origin + this.video.currentTime * 1000;
  }

  /** Whether wall time t is recorded according to the ranges. */
  recordedAt(t) {
    return this.ranges().some((r) => t >= r.from && t < r.to);
  }

  /** The start of the first recorded range after t, or null. */
  nextRecording(t) {
    let best = null;
    for (const r of this.ranges()) if (r.from > t && (best === null || r.from < best)) best = r.from;
    return best;
  }

  /** Whether the frame for wall time t is in the buffer. */
  buffered(t) {
    return this.feed && this.origin !== null && this.feed.bufferedAt((t - this.origin) / 1000) >= 0;
  }

  /** Moves to wall time t (ms); refetches when t is not buffered. */
  async seek(t) {
    this.error = null;
    if (this.buffered(t)) {
      this.video.currentTime = (t - this.origin) / 1000;
      return;
    }
    await this.restart(t);
  }

  async restart(t) {
    if (this.fetching) this.fetching.abort();
    this.fetching = null;
    if (this.feed) this.feed.close();
    this.feed = new Feed(this.video, { keepBehind: 60, onError: (e) => { this.error = e.message; this.status(); } });
    this.origin = t - ORIGIN_BEFORE;
    this.loadedTo = null;
    this.noMore = false;
    this.tampered = null;
    this.quietUntil = 0;
    this.video.currentTime = (t - this.origin) / 1000;
    this.want = t;
    this.status();
    await this.fetchWindow(t);
  }

  windowSize() {
    return Math.min(600e3, 60e3 * Math.max(1, this.rate));
  }

  /** Whether a fetch at the recording's end just brought nothing new. */
  quiet() {
    return Date.now() < this.quietUntil;
  }

  /** Keeps enough ahead of wall time t fetched; call often. */
  keepAhead(t) {
    if (!this.feed || this.fetching || this.noMore || this.tampered || this.quiet()) return;
    if (this.loadedTo !== null && this.loadedTo - t < 20e3 * Math.max(1, this.rate)) {
      this.fetchWindow(this.loadedTo);
    }
  }

  async fetchWindow(from) {
    // skip what is not recorded: start at the next recording
    if (!this.recordedAt(from)) {
      const n = this.nextRecording(from);
      if (n === null) {
        this.noMore = this.ranges().length > 0;
        this.loadedTo = from;
        this.status();
        if (this.ranges().length > 0) return;
      } else {
        from = n;
      }
    }
    const to = from + this.windowSize();
    const ctl = new AbortController();
    this.fetching = ctl;
    this.loadedTo = to;
    this.status();
    const feed = this.feed;
    try {
      const path = `/cameras/${api.enc(this.camera)}/playback/${api.enc(isoTime(from))}/${api.enc(isoTime(to))}`;
      const r = await api.raw("GET", path, { signal: ctl.signal, accept: "video/mp4" });
      let start = parseTime(r.headers.get("Custody-Media-Start"));
      const reader = r.body.getReader();
      let head = new Uint8Array(0);
      let offset;
      let scan = new Uint8Array(0);   // the window's start, until its frame interval is known
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        if (scan !== null) {
          const m = new Uint8Array(scan.length + value.length);
          m.set(scan);
          m.set(value, scan.length);
          scan = m;
          const fi = frameIntervalOf(scan);
          if (fi !== null) this.frameMs = fi;
          if (fi !== null || scan.length > SCAN_MAX) scan = null;
        }
        if (offset === undefined) {
          // hold the first bytes until time 0 is known (header, or the comment)
          const m = new Uint8Array(head.length + value.length);
          m.set(head);
          m.set(value, head.length);
          head = m;
          if (start === null) start = startOf(head);
          if (start === null && head.length < 256 * 1024) continue;
          if (start === null) start = from;          // should not happen with custodyd
          offset = (start - this.origin) / 1000;
          await feed.push(head.buffer, offset);
          continue;
        }
        await feed.push(value.buffer.slice(value.byteOffset, value.byteOffset + value.byteLength), offset);
      }
      if (head.length && offset === undefined) {
        await feed.push(head.buffer, ((start || from) - this.origin) / 1000);
      }
      this.windows++;
      this.error = null;
      // The answer ends at the last frame recorded when it was asked for:
      // near the present that is before `to`. What was not there then is
      // asked for again from where it ended (not skipped until `to`), and
      // not at once when nothing new came.
      if (this.feed === feed) {
        await feed.drained();
        const end = this.origin + feed.bufferedEnd() * 1000;
        if (this.feed === feed && end >= from && end < this.loadedTo) {
          this.loadedTo = end;
          if (end < from + EDGE_QUIET_MS) this.quietUntil = Date.now() + EDGE_QUIET_MS;
        }
      }
    } catch (err) {
      if (err.name === "AbortError") return;
      if (err.code === "tampered") {
        this.tampered = { ...err.detail, from, to };
      } else if (err.code === "no_recording") {
        // nothing in this window: go on after it
        this.loadedTo = to;
      } else if (err.code === "busy") {
        this.loadedTo = from;
        this.error = "server busy, retrying";
        setTimeout(() => { if (this.fetching === null && this.feed === feed) this.fetchWindow(from); },
          1000 * (Number(err.retryAfter) || 2));
      } else {
        this.error = err.message;
        this.loadedTo = from;
      }
    } finally {
      if (this.fetching === ctl) this.fetching = null;
      this.status();
    }
  }

  status() {
    this.onStatus(this);
  }

  setRate(r) {
    this.rate = r;
    this.video.playbackRate = r;
  }

  stop() {
    if (this.fetching) this.fetching.abort();
    this.fetching = null;
    if (this.feed) this.feed.close();
    this.feed = null;
  }
}

/** One clock for every camera on screen: wall time advances at `rate` while
 *  playing; each video is kept within a tolerance of it (seeked when it
 *  drifts), the clock waits while a camera that has recording at that time
 *  has no frame for it yet, and it skips stretches where no camera recorded. */
export class SyncClock {
  constructor(onTick) {
    this.players = [];
    this.playing = false;
    this.rate = 1;
    this.anchorWall = Date.now() - 60e3;
    this.anchorPerf = performance.now();
    this.onTick = onTick;
    this.waiting = false;
    this.timer = setInterval(() => this.tick(), 100);
  }

  now() {
    if (!this.playing || this.waiting) return this.anchorWall;
    return this.anchorWall + (performance.now() - this.anchorPerf) * this.rate;
  }

  reanchor(t) {
    this.anchorWall = t;
    this.anchorPerf = performance.now();
  }

  async seek(t) {
    this.reanchor(t);
    await Promise.all(this.players.map((p) => p.seek(t).catch(() => {})));
    this.tick();
  }

  play() {
    this.reanchor(this.now());
    this.playing = true;
    this.tick();
  }

  pause() {
    const t = this.primaryTime();
    this.reanchor(t);
    this.playing = false;
    for (const p of this.players) p.video.pause();
    this.tick();
  }

  setRate(r) {
    this.reanchor(this.now());
    this.rate = r;
    for (const p of this.players) p.setRate(r);
  }

  /** The time of the first player's frame (what is on screen), else the clock. */
  primaryTime() {
    const p = this.primary();
    return p ? p.frameTime() : this.now();
  }

  /** The player whose frame is on screen (primaryTime's), or null. */
  primary() {
    for (const p of this.players) {
      const t = p.frameTime();
      if (t !== null && p.buffered(t)) return p;
    }
    return null;
  }

  /** The frame interval (ms) of the camera on screen, from its media's
   *  timestamps; 40 ms (25 fps) until a window has told. */
  frameMs() {
    const p = this.primary() || this.players.find((x) => x.frameMs);
    return (p && p.frameMs) || 40;
  }

  /** Pauses and moves by n frames of the camera on screen from what is on
   *  screen: the browser then shows the frame at or before that time. */
  async step(n) {
    if (this.playing) this.pause();
    const t = this.primaryTime() + n * this.frameMs() + (n > 0 ? 1 : 0);
    await this.seek(t);
  }

  tick() {
    const t = this.now();
    let wait = false;
    let anyRecorded = false;
    for (const p of this.players) {
      if (!p.feed) continue;
      p.keepAhead(t);
      const rec = p.recordedAt(t) && !p.tampered;
      if (rec) anyRecorded = true;
      const v = p.video;
      const want = (t - p.origin) / 1000;
      if (p.buffered(t)) {
        const drift = Math.abs(v.currentTime - want);
        if (!this.playing || drift > 0.3 * Math.max(1, this.rate)) {
          if (drift > 0.001) v.currentTime = want;
        }
        if (this.playing && v.paused) v.play().catch(() => {});
        if (!this.playing && !v.paused) v.pause();
      } else {
        if (!v.paused) v.pause();
        if (rec && this.playing) wait = true;
        if (rec && !p.fetching && p.feed && !p.quiet()) {
          // a gap in what was fetched: ask for the window at t
          if (p.loadedTo === null || p.loadedTo < t || (p.feed.bufferedEnd() + p.origin / 1000) * 1000 < t - 5e3) {
            p.fetchWindow(t);
          }
        }
      }
    }
    if (this.playing) {
      if (wait && !this.waiting) {
        this.anchorWall = t;
        this.waiting = true;
      } else if (!wait && this.waiting) {
        this.waiting = false;
        this.anchorPerf = performance.now();
      }
      if (!anyRecorded && this.players.length) {
        // nobody recorded here: jump to the next recording of any camera
        let next = null;
        for (const p of this.players) {
          const n = p.nextRecording(t);
          if (n !== null && (next === null || n < next)) next = n;
        }
        if (next !== null && next - t > 500) this.seek(next);
        else if (next === null && this.players.every((p) => p.ranges().length)) this.pause();
      }
    }
    if (this.onTick) this.onTick(this.now());
  }

  stop() {
    clearInterval(this.timer);
    for (const p of this.players) p.stop();
    this.players = [];
  }
}
