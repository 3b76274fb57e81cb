// Media Source Extensions helpers shared by live view and playback: the codec
// string read from the fMP4 init segment custodyd writes, its time 0 (the
// "start=" in the file's comment, docs/media-output.md), and a SourceBuffer
// that appends in order and evicts what is far behind the playhead.

const td = new TextDecoder("latin1");

function u32(b, o) {
  return ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
}

function find(b, fourcc, from = 0) {
  const c = [...fourcc].map((x) => x.charCodeAt(0));
  for (let i = from; i + 4 <= b.length; i++) {
    if (b[i] === c[0] && b[i + 1] === c[1] && b[i + 2] === c[2] && b[i + 3] === c[3]) return i;
  }
  return -1;
}

const hex2 = (n) => n.toString(16).padStart(2, "0");

/** The RFC 6381 codec string of the first video sample entry, or null. */
export function codecOf(bytes) {
  const b = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  const avcc = find(b, "avcC");
  if (avcc > 0) {
    const p = avcc + 4;          // configurationVersion, profile, compat, level
    const entry = find(b, "avc3") > 0 && find(b, "avc3") < avcc ? "avc3" : "avc1";
    return `${entry}.${hex2(b[p + 1])}${hex2(b[p + 2])}${hex2(b[p + 3])}`;
  }
  const hvcc = find(b, "hvcC");
  if (hvcc > 0) {
    const p = hvcc + 4;
    const space = b[p + 1] >> 6;
    const tier = (b[p + 1] >> 5) & 1;
    const profile = b[p + 1] & 0x1f;
    let compat = u32(b, p + 2);
    // the compatibility flags are written bit-reversed, in hex, no leading zeros
    let rev = 0;
    for (let i = 0; i < 32; i++) {
      rev = (rev << 1) | (compat & 1);
      compat >>>= 1;
    }
    const level = b[p + 12];
    const cons = [];
    for (let i = 0; i < 6; i++) cons.push(b[p + 6 + i]);
    while (cons.length > 1 && cons[cons.length - 1] === 0) cons.pop();
    const entry = find(b, "hev1") > 0 && find(b, "hev1") < hvcc ? "hev1" : "hvc1";
    const sp = ["", "A", "B", "C"][space];
    return `${entry}.${sp}${profile}.${(rev >>> 0).toString(16)}.${tier ? "H" : "L"}${level}` +
      `.${cons.map((x) => x.toString(16).toUpperCase()).join(".")}`;
  }
  return null;
}

/** Time 0 of a custody fMP4 as ms since the epoch, from its comment
 *  "custody camera=NAME start=ISO", or null. */
export function startOf(bytes) {
  const b = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  const i = find(b, "custody camera=");
  if (i < 0) return null;
  const text = td.decode(b.subarray(i, Math.min(b.length, i + 200)));
  const m = /start=(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z)/.exec(text);
  return m ? Date.parse(m[1]) : null;
}

// ---- the frame interval, from the media's own timestamps (ISO/IEC 14496-12)

export const SCAN_MAX = 4 * 1024 * 1024;   // bytes looked at for the first movie fragment

const type4 = (b, o) => String.fromCharCode(b[o], b[o + 1], b[o + 2], b[o + 3]);

/** Calls f(type, contentStart, end) for each whole box in b[from, to);
 *  returns false when a box is cut off at `to` or malformed. */
function eachBox(b, from, to, f) {
  let o = from;
  while (o + 8 <= to) {
    let size = u32(b, o);
    let hdr = 8;
    if (size === 1) {
      if (o + 16 > to) return false;
      size = u32(b, o + 8) * 2 ** 32 + u32(b, o + 12);
      hdr = 16;
    } else if (size === 0) {
      size = to - o;
    }
    if (size < hdr || o + size > to) return false;
    if (f(type4(b, o + 4), o + hdr, o + size) === false) return true;
    o += size;
  }
  return o === to;
}

/** The video track of an init segment: {id, timescale, defaultDuration}, or null. */
function videoTrack(b, moov, end) {
  let found = null;
  const trex = new Map();
  eachBox(b, moov, end, (t, s, e) => {
    if (t === "mvex") {
      eachBox(b, s, e, (t2, s2, e2) => {
        if (t2 === "trex" && e2 - s2 >= 16) trex.set(u32(b, s2 + 4), u32(b, s2 + 12));
      });
    }
    if (t !== "trak" || found) return;
    let id = null, scale = null, vide = false;
    eachBox(b, s, e, (t2, s2, e2) => {
      if (t2 === "tkhd") id = u32(b, s2 + (b[s2] === 1 ? 20 : 12));
      if (t2 !== "mdia") return;
      eachBox(b, s2, e2, (t3, s3) => {
        if (t3 === "mdhd") scale = u32(b, s3 + (b[s3] === 1 ? 20 : 12));
        if (t3 === "hdlr") vide = type4(b, s3 + 8) === "vide";
      });
    });
    if (vide && id !== null && scale) found = { id, timescale: scale };
  });
  if (found) found.defaultDuration = trex.get(found.id) || 0;
  return found;
}

/** The sample durations (in the track's timescale) of track `track` in a moof. */
function fragmentDurations(b, moof, end, track) {
  const out = [];
  eachBox(b, moof, end, (t, s, e) => {
    if (t !== "traf") return;
    let def = track.defaultDuration, mine = false;
    eachBox(b, s, e, (t2, s2, e2) => {
      const flags = u32(b, s2) & 0xffffff;
      if (t2 === "tfhd") {
        mine = u32(b, s2 + 4) === track.id;
        let o = s2 + 8;
        if (flags & 0x01) o += 8;           // base-data-offset
        if (flags & 0x02) o += 4;           // sample-description-index
        if ((flags & 0x08) && o + 4 <= e2) def = u32(b, o);
      } else if (t2 === "trun" && mine) {
        const n = u32(b, s2 + 4);
        let o = s2 + 8;
        if (flags & 0x01) o += 4;           // data-offset
        if (flags & 0x04) o += 4;           // first-sample-flags
        const per = [0x100, 0x200, 0x400, 0x800].filter((x) => flags & x).length * 4;
        for (let i = 0; i < n && o + per <= e2 && out.length < 10000; i++, o += per) {
          out.push(flags & 0x100 ? u32(b, o) : def);
        }
      }
    });
  });
  return out;
}

/** The frame interval (ms) of the video of a custody fMP4 that starts at
 *  b[0] (ftyp, moov, then moof+mdat pairs): the median sample duration of
 *  the first movie fragment over the track's timescale. null while the
 *  first moof is not all there, or when the stream says nothing usable. */
export function frameIntervalOf(bytes) {
  const b = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  let track = null;
  let ms = null;
  eachBox(b, 0, Math.min(b.length, SCAN_MAX), (t, s, e) => {
    if (t === "moov") track = videoTrack(b, s, e);
    if (t === "moof" && track) {
      const d = fragmentDurations(b, s, e, track).filter((x) => x > 0).sort((x, y) => x - y);
      if (d.length) ms = (d[d.length >> 1] * 1000) / track.timescale;
      return false;
    }
    return true;
  });
  return ms !== null && ms > 0 && ms <= 10000 ? ms : null;
}

/** Whether the browser can play this codec through MSE. */
export function supported(codec) {
  return typeof MediaSource !== "undefined" && codec &&
    MediaSource.isTypeSupported(`video/mp4; codecs="${codec}"`);
}

/** A MediaSource on a <video> with one SourceBuffer made from the first
 *  chunk's codec. Appends run in order; keepBehind seconds of media behind
 *  the playhead are kept, older media is removed. */
export class Feed {
  constructor(video, { keepBehind = 30, onError } = {}) {
    this.video = video;
    this.keepBehind = keepBehind;
    this.onError = onError || (() => {});
    this.queue = [];
    this.sb = null;
    this.closed = false;
    this.ms = new MediaSource();
    this.url = URL.createObjectURL(this.ms);
    this.opened = new Promise((res) => this.ms.addEventListener("sourceopen", res, { once: true }));
    video.src = this.url;
    this.waiters = [];
  }

  /** Appends one chunk (an ArrayBuffer); the first one decides the codec. */
  async push(chunk, timestampOffset) {
    if (this.closed) return;
    if (!this.sb) {
      await this.opened;
      if (this.closed) return;
      let codec = codecOf(chunk);
      // a recording with sound has an AAC track: the SourceBuffer must be
      // told, or the browser refuses the init segment (the video stays muted)
      if (codec && find(new Uint8Array(chunk), "mp4a") > 0) codec += ",mp4a.40.2";
      if (!supported(codec)) {
        this.onError(new Error(`this browser cannot play ${codec || "this stream"} through MSE`));
        return;
      }
      this.codec = codec;
      this.sb = this.ms.addSourceBuffer(`video/mp4; codecs="${codec}"`);
      this.sb.mode = "segments";
      this.sb.addEventListener("updateend", () => this.pump());
      this.sb.addEventListener("error", () => this.onError(new Error("the browser refused the media")));
    }
    this.queue.push({ chunk, timestampOffset });
    this.pump();
  }

  /** Resolves when everything pushed so far is appended. */
  drained() {
    if (!this.sb || (!this.sb.updating && this.queue.length === 0)) return Promise.resolve();
    return new Promise((res) => this.waiters.push(res));
  }

  pump() {
    if (this.closed || !this.sb || this.sb.updating) return;
    if (this.queue.length === 0) {
      const w = this.waiters;
      this.waiters = [];
      w.forEach((f) => f());
      this.evict();
      return;
    }
    const { chunk, timestampOffset } = this.queue.shift();
    try {
      if (timestampOffset !== undefined && this.sb.timestampOffset !== timestampOffset) {
        this.sb.timestampOffset = timestampOffset;
      }
      this.sb.appendBuffer(chunk);
    } catch (err) {
      if (err.name === "QuotaExceededError") {
        // full: drop what is behind the playhead harder, then try again
        this.queue.unshift({ chunk, timestampOffset });
        this.evict(5, true);
      } else {
        this.onError(err);
      }
    }
  }

  evict(behind = this.keepBehind, force = false) {
    if (!this.sb || this.sb.updating) return;
    const b = this.sb.buffered;
    if (b.length === 0) return;
    const cut = this.video.currentTime - behind;
    if (cut > b.start(0) + (force ? 0 : 5)) {
      try {
        this.sb.remove(b.start(0), cut);
      } catch (_) { /* removal is an optimisation */ }
    }
  }

  /** Removes everything buffered (before a seek to elsewhere). */
  async reset() {
    if (!this.sb) return;
    this.queue = [];
    await this.drained();
    if (this.closed || this.ms.readyState !== "open") return;
    try {
      this.sb.abort();
      if (this.sb.buffered.length) {
        this.sb.remove(0, Infinity);
        await new Promise((res) => this.sb.addEventListener("updateend", res, { once: true }));
      }
    } catch (_) { /* nothing buffered */ }
  }

  bufferedEnd() {
    const b = this.video.buffered;
    return b.length ? b.end(b.length - 1) : 0;
  }

  /** Whether time t (s) is buffered; returns the range's end, or -1. */
  bufferedAt(t) {
    const b = this.video.buffered;
    for (let i = 0; i < b.length; i++) {
      if (t >= b.start(i) - 0.05 && t < b.end(i)) return b.end(i);
    }
    return -1;
  }

  /** The start of the first buffered range after t, or -1. */
  nextBuffered(t) {
    const b = this.video.buffered;
    for (let i = 0; i < b.length; i++) if (b.start(i) > t) return b.start(i);
    return -1;
  }

  close() {
    this.closed = true;
    this.queue = [];
    try {
      if (this.ms.readyState === "open") this.ms.endOfStream();
    } catch (_) { /* already ended */ }
    this.video.removeAttribute("src");
    this.video.load();
    URL.revokeObjectURL(this.url);
  }
}
