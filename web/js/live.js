// Live view: a grid of tiles, each a <video> fed through MSE by the live
// WebSocket (docs/api.md, "Live view"). One LivePlayer per tile: it asks for
// a signed URL, opens the socket with the custody-live.v1 subprotocol,
// appends every binary message in order, keeps near the live edge, and
// reconnects with back-off (a new signed URL each time) when the socket
// closes.

import * as api from "./api.js";
import { Feed, startOf } from "./mse.js";
import { h, clear, showClock, showTime, showDuration } from "./ui.js";
import * as state from "./state.js";

const CATCH_UP_S = 3;          // behind the buffered end by more: jump to the edge
const EDGE_S = 0.3;            // where the jump lands, before the buffered end
const SILENT_MS = 5000;        // no message for this long: "no data"
const BACKOFF_MS = [1000, 2000, 4000, 8000, 15000];

export class LivePlayer {
  constructor(camera, video, onStatus) {
    this.camera = camera;
    this.video = video;
    this.onStatus = onStatus || (() => {});
    this.ws = null;
    this.feed = null;
    this.attempt = 0;
    this.stopped = false;
    this.t0 = null;              // ms: wall time of the stream's time 0
    this.lastMessage = 0;
    this.messages = 0;
    this.timer = setInterval(() => this.tick(), 500);
    this.status = { phase: "connecting" };
    this.connect();
  }

  async connect() {
    if (this.stopped) return;
    this.report({ phase: "connecting" });
    let url;
    try {
      url = await api.signedUrl(`/api/v1/cameras/${api.enc(this.camera)}/live`);
    } catch (err) {
      this.report({ phase: "error", error: err.message });
      return this.retry();
    }
    if (this.stopped) return;
    this.teardown();
    this.feed = new Feed(this.video, { keepBehind: 10, onError: (e) => this.fail(e) });
    this.t0 = null;
    this.messages = 0;
    const ws = new WebSocket(`wss://${location.host}${url}`, "custody-live.v1");
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    ws.onopen = () => {
      this.attempt = 0;
      this.report({ phase: "waiting" });
    };
    ws.onmessage = (ev) => {
      if (!(ev.data instanceof ArrayBuffer)) return;
      this.lastMessage = Date.now();
      if (this.messages++ === 0) {
        this.t0 = startOf(ev.data);
      }
      this.feed.push(ev.data);
      if (this.video.paused) this.video.play().catch(() => {});
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws || this.stopped) return;
      this.ws = null;
      this.report({ phase: "closed", error: ev.reason || `closed (${ev.code})` });
      this.retry();
    };
  }

  retry() {
    if (this.stopped) return;
    const ms = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)];
    this.attempt++;
    this.report({ ...this.status, retryIn: ms });
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.connect(), ms);
  }

  fail(err) {
    this.report({ phase: "error", error: err.message });
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.close();
      this.retry();
    }
  }

  tick() {
    if (this.stopped || !this.feed) return;
    const v = this.video;
    const end = this.feed.bufferedEnd();
    if (this.messages > 0 && end > 0) {
      const behind = end - v.currentTime;
      if (behind > CATCH_UP_S || v.currentTime < this.video.buffered.start(0)) {
        v.currentTime = Math.max(0, end - EDGE_S);       // catch up after a stall
      }
      if (v.paused && v.readyState >= 2) v.play().catch(() => {});
    }
    const silent = this.ws && this.lastMessage && Date.now() - this.lastMessage > SILENT_MS;
    const latency = this.t0 !== null && v.currentTime > 0
      ? (state.serverNow() - (this.t0 + v.currentTime * 1000)) / 1000 : null;
    this.report({
      phase: !this.ws ? this.status.phase : silent ? "silent" : this.messages ? "playing" : "waiting",
      buffer: end > 0 ? end - v.currentTime : null,
      latency,
      frameTime: this.t0 !== null ? this.t0 + v.currentTime * 1000 : null,
    });
  }

  report(s) {
    this.status = { ...this.status, ...s };
    if (s.phase && s.phase !== "error" && s.phase !== "closed" && !("error" in s)) delete this.status.error;
    this.onStatus(this.status);
  }

  teardown() {
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.onclose = null;
      ws.close();
    }
    if (this.feed) {
      this.feed.close();
      this.feed = null;
    }
  }

  stop() {
    this.stopped = true;
    clearInterval(this.timer);
    clearTimeout(this.retryTimer);
    this.teardown();
  }
}

const LAYOUTS = [
  { n: 1, label: "1", cols: 1 },
  { n: 4, label: "2×2", cols: 2 },
  { n: 9, label: "3×3", cols: 3 },
  { n: 16, label: "4×4", cols: 4 },
];

function stateText(cam) {
  let st = cam.state;
  let since = state.parse(cam.state_since);
  if (!st) {
    // a server without "state": a recording camera whose last frame is old
    // has stopped sending
    const last = state.parse(cam.last);
    st = cam.recording ? "recording" : "stopped";
    if (cam.recording && last && state.serverNow() - last > 5000) {
      st = "offline";
      since = last;
      cam = { ...cam, state_reason: "no frames recorded since then" };
    }
  }
  if (st === "recording") return { st, text: "Recording" };
  if (st === "offline") {
    return {
      st,
      text: `Offline${since ? ` since ${showClock(since)} UTC` : ""}`,
      why: cam.state_reason || "",
      title: since ? `offline since ${showTime(since)} UTC` : "",
    };
  }
  return { st, text: st === "stopped" ? "Not recording" : st, why: cam.state_reason || "" };
}

/** The live screen. opts: {layout, focus}. Returns {el, unmount, key}. */
export function liveScreen(opts = {}) {
  const cams = state.cameras().filter((c) => (c.functions || []).includes("live"));
  let layout = LAYOUTS.find((l) => l.n === (opts.layout || state.pref("liveLayout", 4))) || LAYOUTS[1];
  let page = 0;
  let focus = opts.focus || null;
  const players = new Map();
  const grid = h("div", { class: "grid", role: "list", "aria-label": "Live cameras" });
  const pager = h("span", { class: "pager" });
  const layoutBar = h("div", { class: "segmented", role: "group", "aria-label": "Grid layout" });
  const back = h("button", { type: "button", class: "hidden", onclick: () => { focus = null; render(); } },
    "← Back to grid");

  for (const l of LAYOUTS) {
    layoutBar.append(h("button", {
      type: "button", "data-layout": l.n, "aria-pressed": "false",
      title: `Show ${l.n === 1 ? "one camera" : `${l.label} cameras`}`,
      onclick: () => {
        layout = l;
        focus = null;
        page = 0;
        state.setPref("liveLayout", l.n);
        render();
      },
    }, l.label));
  }

  const prev = h("button", { type: "button", "aria-label": "Previous cameras", onclick: () => { page--; render(); } }, "‹");
  const next = h("button", { type: "button", "aria-label": "Next cameras", onclick: () => { page++; render(); } }, "›");
  const el = h("section", { class: "screen live", "aria-label": "Live view" },
    h("div", { class: "toolbar" }, h("h1", {}, "Live"), layoutBar, back,
      h("span", { class: "spacer" }), prev, pager, next),
    cams.length === 0
      ? h("p", { class: "empty" }, "You may not watch any camera live.")
      : grid);

  function tile(cam) {
    const video = h("video", { muted: true, playsinline: true, autoplay: true, "aria-label": `Live video of ${cam.name}` });
    video.muted = true;
    const badge = h("span", { class: "badge" });
    const info = h("span", { class: "latency", "aria-live": "off" });
    const over = h("div", { class: "overlay hidden" });
    const t = h("div", {
      class: "tile", role: "listitem", tabindex: "0", "data-camera": cam.name,
      title: focus ? "" : `Click to show ${cam.name} large`,
      onclick: () => { if (!focus) { focus = cam.name; render(); } },
      onkeydown: (e) => { if (e.key === "Enter" && !focus) { focus = cam.name; render(); } },
    },
    h("div", { class: "tile-head" }, h("span", { class: "name" }, cam.name), badge, info),
    video, over);
    const update = () => {
      const c = state.camera(cam.name) || cam;
      const s = stateText(c);
      badge.textContent = s.text;
      badge.className = `badge state-${s.st}`;
      badge.title = [s.title, s.why].filter(Boolean).join(": ");
      t.dataset.state = s.st;
      const p = players.get(cam.name);
      const ps = p ? p.status : {};
      t.dataset.phase = ps.phase || "";
      const bits = [];
      if (ps.latency !== null && ps.latency !== undefined) bits.push(`${showDuration(Math.max(0, ps.latency))} behind`);
      if (ps.buffer !== null && ps.buffer !== undefined) bits.push(`buffer ${ps.buffer.toFixed(1)} s`);
      info.textContent = bits.join(" · ");
      let o = "";
      if (s.st === "offline") o = `${s.text}${s.why ? ` — ${s.why}` : ""}`;
      else if (ps.phase === "silent") o = "No picture from the server for 5 s";
      else if (ps.phase === "error" || ps.phase === "closed") {
        o = `${ps.error || "disconnected"}${ps.retryIn ? ` — reconnecting in ${Math.round(ps.retryIn / 1000)} s` : ""}`;
      } else if (ps.phase === "connecting" || ps.phase === "waiting") o = "Connecting…";
      over.textContent = o;
      over.classList.toggle("hidden", !o);
    };
    return { t, video, update };
  }

  const tiles = new Map();

  function render() {
    if (cams.length === 0) return;
    const shown = focus ? cams.filter((c) => c.name === focus) : (() => {
      const pages = Math.max(1, Math.ceil(cams.length / layout.n));
      page = Math.min(Math.max(0, page), pages - 1);
      pager.textContent = cams.length > layout.n
        ? `${page * layout.n + 1}–${Math.min(cams.length, (page + 1) * layout.n)} of ${cams.length}` : "";
      prev.disabled = page === 0;
      next.disabled = page >= pages - 1;
      return cams.slice(page * layout.n, (page + 1) * layout.n);
    })();
    prev.classList.toggle("hidden", !!focus || cams.length <= layout.n);
    next.classList.toggle("hidden", !!focus || cams.length <= layout.n);
    pager.classList.toggle("hidden", !!focus);
    back.classList.toggle("hidden", !focus);
    for (const b of layoutBar.children) {
      b.setAttribute("aria-pressed", String(!focus && Number(b.dataset.layout) === layout.n));
    }
    const names = new Set(shown.map((c) => c.name));
    for (const [name, p] of players) {
      if (!names.has(name)) {
        p.stop();
        players.delete(name);
        tiles.delete(name);
      }
    }
    const cols = focus ? 1 : layout.cols;
    grid.style.setProperty("--cols", cols);
    grid.dataset.layout = focus ? "focus" : String(layout.n);
    clear(grid);
    for (const cam of shown) {
      let tl = tiles.get(cam.name);
      if (!tl) {
        tl = tile(cam);
        tiles.set(cam.name, tl);
        players.set(cam.name, new LivePlayer(cam.name, tl.video, () => tl.update()));
      }
      tl.t.classList.toggle("focused", !!focus);
      grid.append(tl.t);
      tl.update();
      if (tl.video.paused && tl.video.readyState >= 2) tl.video.play().catch(() => {});
    }
    // empty cells keep the grid's shape
    for (let i = shown.length; !focus && i < layout.n && cams.length > 1; i++) {
      grid.append(h("div", { class: "tile empty-cell", "aria-hidden": "true" }));
    }
  }

  const unsub = state.onCameras(() => tiles.forEach((t) => t.update()));
  render();
  return {
    el,
    unmount() {
      unsub();
      players.forEach((p) => p.stop());
      players.clear();
    },
  };
}
