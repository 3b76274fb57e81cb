// The timeline: one row per camera on a <canvas>, showing what is recorded,
// the gaps (with their reason in a tooltip), bookmarks and evidence locks,
// the play position and a selected range. Zoom from a week to ten seconds
// with the wheel or the buttons; click to play from a time, drag to select a
// range (for a bookmark, an evidence lock or an export), shift-drag or drag
// on the time scale to pan.

import { h, showTime, showClock, showDuration } from "./ui.js";

const AXIS = 26;
const ROW = 30;
const LABEL = 110;
const MIN_SPAN = 10 * 1000;
const MAX_SPAN = 7 * 86400 * 1000;
const STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400]
  .map((s) => s * 1000);

export class Timeline {
  constructor({ onSeek, onSelect, onView }) {
    this.onSeek = onSeek;
    this.onSelect = onSelect;
    this.onView = onView;
    this.rows = [];               // [{camera, ranges, gaps, bookmarks, locks}]
    this.start = Date.now() - 3600 * 1000;
    this.end = Date.now();
    this.cursor = null;
    this.selection = null;        // {from, to, camera}
    this.canvas = h("canvas", {
      class: "timeline-canvas", tabindex: "0", role: "img",
      "aria-label": "Timeline: recorded ranges, gaps, bookmarks and evidence locks. Click to play from a time, drag to select a range, wheel to zoom.",
    });
    this.tip = h("div", { class: "tip hidden", role: "tooltip" });
    this.label = h("span", { class: "view-label", "aria-live": "polite" });
    const btn = (text, title, f) => h("button", { type: "button", title, "aria-label": title, onclick: f }, text);
    this.el = h("div", { class: "timeline" },
      h("div", { class: "timeline-bar" },
        btn("◀", "Pan back", () => this.pan(-0.5)),
        btn("−", "Zoom out", () => this.zoom(2)),
        btn("+", "Zoom in", () => this.zoom(0.5)),
        btn("▶", "Pan forward", () => this.pan(0.5)),
        btn("Day", "Show a day", () => this.span(86400e3)),
        btn("Hour", "Show an hour", () => this.span(3600e3)),
        btn("10 min", "Show ten minutes", () => this.span(600e3)),
        btn("Minute", "Show a minute", () => this.span(60e3)),
        btn("Now", "Show the latest recording", () => this.toNow()),
        this.label),
      h("div", { class: "timeline-wrap" }, this.canvas, this.tip));
    this.bind();
    this.ro = new ResizeObserver(() => this.draw());
    this.ro.observe(this.canvas);
  }

  destroy() {
    this.ro.disconnect();
  }

  setRows(rows) {
    this.rows = rows;
    this.draw();
  }

  setCursor(t) {
    if (t === this.cursor) return;
    this.cursor = t;
    // keep the play position in view while it plays
    if (t !== null && !this.dragging && (t > this.end || t < this.start)) {
      const s = this.end - this.start;
      this.start = t - s * 0.25;
      this.end = this.start + s;
      this.changed();
    }
    this.draw();
  }

  setSelection(sel) {
    this.selection = sel;
    this.draw();
  }

  setView(start, end, quiet) {
    let s = Math.max(MIN_SPAN, Math.min(MAX_SPAN, end - start));
    const mid = (start + end) / 2;
    this.start = mid - s / 2;
    this.end = mid + s / 2;
    if (!quiet) this.changed();
    this.draw();
  }

  span(ms) {
    const c = this.cursor !== null && this.cursor >= this.start && this.cursor <= this.end
      ? this.cursor : (this.start + this.end) / 2;
    this.setView(c - ms / 2, c + ms / 2);
  }

  zoom(f, at) {
    const c = at !== undefined ? at : (this.cursor !== null && this.cursor >= this.start && this.cursor <= this.end
      ? this.cursor : (this.start + this.end) / 2);
    const s = Math.max(MIN_SPAN, Math.min(MAX_SPAN, (this.end - this.start) * f));
    const k = (c - this.start) / (this.end - this.start);
    this.start = c - k * s;
    this.end = this.start + s;
    this.changed();
    this.draw();
  }

  pan(f) {
    const d = (this.end - this.start) * f;
    this.start += d;
    this.end += d;
    this.changed();
    this.draw();
  }

  toNow() {
    let last = 0;
    for (const r of this.rows) for (const x of r.ranges || []) last = Math.max(last, x.to);
    const t = last || Date.now();
    const s = this.end - this.start;
    this.setView(t - s * 0.8, t + s * 0.2);
  }

  changed() {
    clearTimeout(this.viewTimer);
    this.viewTimer = setTimeout(() => this.onView && this.onView(this.start, this.end), 150);
  }

  x(t, w) {
    return LABEL + ((t - this.start) / (this.end - this.start)) * (w - LABEL);
  }

  t(x, w) {
    return this.start + ((x - LABEL) / (w - LABEL)) * (this.end - this.start);
  }

  rowAt(y) {
    const i = Math.floor((y - AXIS) / ROW);
    return i >= 0 && i < this.rows.length ? i : -1;
  }

  bind() {
    const c = this.canvas;
    const pos = (e) => {
      const r = c.getBoundingClientRect();
      return { x: e.clientX - r.left, y: e.clientY - r.top, w: r.width };
    };
    c.addEventListener("wheel", (e) => {
      e.preventDefault();
      const p = pos(e);
      if (e.shiftKey || Math.abs(e.deltaX) > Math.abs(e.deltaY)) {
        this.pan(((e.deltaX || e.deltaY) > 0 ? 1 : -1) * 0.1);
      } else {
        this.zoom(e.deltaY > 0 ? 1.25 : 0.8, p.x > LABEL ? this.t(p.x, p.w) : undefined);
      }
    }, { passive: false });
    c.addEventListener("pointerdown", (e) => {
      if (e.button !== 0) return;
      const p = pos(e);
      c.setPointerCapture(e.pointerId);
      this.dragging = { x0: p.x, y0: p.y, start: this.start, end: this.end,
        panning: e.shiftKey || p.y < AXIS, moved: false, row: this.rowAt(p.y) };
    });
    c.addEventListener("pointermove", (e) => {
      const p = pos(e);
      const d = this.dragging;
      if (!d) {
        this.hover(p);
        return;
      }
      if (Math.abs(p.x - d.x0) > 4) d.moved = true;
      if (!d.moved) return;
      if (d.panning) {
        const dt = ((p.x - d.x0) / (p.w - LABEL)) * (d.end - d.start);
        this.start = d.start - dt;
        this.end = d.end - dt;
        this.draw();
      } else {
        const a = this.t(Math.max(LABEL, d.x0), p.w);
        const b = this.t(Math.max(LABEL, p.x), p.w);
        const row = this.rows[d.row];
        this.selection = { from: Math.min(a, b), to: Math.max(a, b), camera: row ? row.camera : null };
        this.draw();
      }
    });
    c.addEventListener("pointerup", (e) => {
      const d = this.dragging;
      this.dragging = null;
      if (!d) return;
      const p = pos(e);
      if (d.moved && d.panning) {
        this.changed();
      } else if (d.moved) {
        if (this.onSelect) this.onSelect(this.selection);
      } else if (p.x > LABEL && p.y >= AXIS) {
        const row = this.rows[this.rowAt(p.y)];
        if (this.onSeek) this.onSeek(this.t(p.x, p.w), row ? row.camera : null);
      }
    });
    c.addEventListener("pointerleave", () => this.tip.classList.add("hidden"));
    c.addEventListener("keydown", (e) => {
      if (e.key === "ArrowLeft") this.pan(-0.1);
      else if (e.key === "ArrowRight") this.pan(0.1);
      else if (e.key === "+" || e.key === "=") this.zoom(0.5);
      else if (e.key === "-") this.zoom(2);
      else return;
      e.preventDefault();
      e.stopPropagation();
    });
  }

  /** What is under the pointer, as text for the tooltip. */
  describe(p) {
    const i = this.rowAt(p.y);
    if (i < 0 || p.x < LABEL) return null;
    const row = this.rows[i];
    const t = this.t(p.x, p.w);
    const slack = ((this.end - this.start) / (p.w - LABEL)) * 4;
    const lines = [];
    for (const b of row.bookmarks || []) {
      if (Math.abs(b.at - t) < slack || (b.end && t >= b.at && t <= b.end)) {
        lines.push(`Bookmark “${b.title}” ${showTime(b.at)}${b.end ? ` – ${showClock(b.end)}` : ""}, by ${b.created_by}`);
      }
    }
    for (const l of row.locks || []) {
      if (t >= l.from && t <= l.to) lines.push(`Evidence lock “${l.headline}” ${showTime(l.from, false)} – ${showTime(l.to, false)}`);
    }
    for (const g of row.gaps || []) {
      if (t >= g.from && t <= g.to) {
        lines.push(`Gap ${showTime(g.from)} – ${showTime(g.to)} (${showDuration((g.to - g.from) / 1000)})` +
          `${g.reason ? `: ${g.reason}` : ": no recording"}${g.signed === true ? " — signed record" : g.signed === false ? " — not signed" : ""}`);
      }
    }
    if (!lines.length) {
      const inRange = (row.ranges || []).some((r) => t >= r.from && t <= r.to);
      lines.push(`${row.camera} ${showTime(t)}${inRange ? " — recorded" : " — no recording"}`);
    }
    return lines.join("\n");
  }

  hover(p) {
    const text = this.describe(p);
    if (!text) {
      this.tip.classList.add("hidden");
      return;
    }
    this.tip.textContent = text;
    this.tip.classList.remove("hidden");
    const left = Math.min(p.x + 12, p.w - 260);
    this.tip.style.setProperty("--x", `${Math.max(0, left)}px`);
    this.tip.style.setProperty("--y", `${p.y + 14}px`);
  }

  draw() {
    const c = this.canvas;
    const w = c.clientWidth;
    const hgt = AXIS + Math.max(1, this.rows.length) * ROW + 4;
    if (!w) return;
    const dpr = window.devicePixelRatio || 1;
    c.style.setProperty("height", `${hgt}px`);
    if (c.width !== Math.round(w * dpr) || c.height !== Math.round(hgt * dpr)) {
      c.width = Math.round(w * dpr);
      c.height = Math.round(hgt * dpr);
    }
    const g = c.getContext("2d");
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    const css = getComputedStyle(c);
    const col = (name, d) => css.getPropertyValue(name).trim() || d;
    g.fillStyle = col("--tl-bg", "#15191f");
    g.fillRect(0, 0, w, hgt);
    const span = this.end - this.start;
    c.dataset.start = String(Math.round(this.start));
    c.dataset.end = String(Math.round(this.end));
    c.dataset.label = String(LABEL);
    this.label.textContent = `${showTime(this.start, false)} – ${showTime(this.end, false)} UTC (${showDuration(span / 1000)})`;

    // the time scale
    const step = STEPS.find((s) => (s / span) * (w - LABEL) >= 90) || STEPS[STEPS.length - 1];
    g.font = "11px system-ui, sans-serif";
    g.textBaseline = "middle";
    for (let t = Math.ceil(this.start / step) * step; t <= this.end; t += step) {
      const x = this.x(t, w);
      g.fillStyle = col("--tl-grid", "#2a313b");
      g.fillRect(x, AXIS - 6, 1, hgt - AXIS + 6);
      g.fillStyle = col("--tl-text", "#aab4c0");
      const d = new Date(t);
      const text = step >= 86400e3 || (d.getUTCHours() === 0 && d.getUTCMinutes() === 0 && d.getUTCSeconds() === 0)
        ? showTime(t, false).slice(0, 10) : step < 60e3 ? showClock(t) : showClock(t).slice(0, 5);
      g.fillText(text, x + 3, AXIS / 2);
    }

    this.rows.forEach((row, i) => {
      const y = AXIS + i * ROW;
      g.fillStyle = i % 2 ? col("--tl-row2", "#181d24") : col("--tl-row", "#1b2129");
      g.fillRect(LABEL, y, w - LABEL, ROW);
      g.fillStyle = col("--tl-text", "#aab4c0");
      g.fillText(row.camera.length > 14 ? `${row.camera.slice(0, 13)}…` : row.camera, 6, y + ROW / 2);
      const band = (a, b, top, height, fill) => {
        if (b < this.start || a > this.end) return;
        const x0 = Math.max(LABEL, this.x(a, w));
        const x1 = Math.min(w, this.x(b, w));
        g.fillStyle = fill;
        g.fillRect(x0, y + top, Math.max(1.5, x1 - x0), height);
      };
      for (const l of row.locks || []) band(l.from, l.to, 2, ROW - 4, col("--tl-lock", "rgba(150,110,230,.35)"));
      for (const r of row.ranges || []) band(r.from, r.to, 8, ROW - 16, col("--tl-rec", "#3f9d62"));
      for (const gp of row.gaps || []) band(gp.from, gp.to, 8, ROW - 16, gp.reason ? col("--tl-gap", "#c0533f") : col("--tl-gap-unknown", "#7a4a40"));
      for (const b of row.bookmarks || []) {
        if (b.end) band(b.at, b.end, ROW - 7, 4, col("--tl-mark", "#e2b93b"));
        const x = this.x(b.at, w);
        if (x < LABEL || x > w) continue;
        g.fillStyle = col("--tl-mark", "#e2b93b");
        g.beginPath();
        g.moveTo(x - 5, y + 1);
        g.lineTo(x + 5, y + 1);
        g.lineTo(x, y + 8);
        g.fill();
      }
      if (row.error) {
        g.fillStyle = col("--tl-error", "#ff8a7a");
        g.fillText(row.error, LABEL + 6, y + ROW / 2);
      }
    });

    if (this.selection) {
      const s = this.selection;
      const x0 = Math.max(LABEL, this.x(s.from, w));
      const x1 = Math.min(w, this.x(s.to, w));
      g.fillStyle = col("--tl-sel", "rgba(80,150,255,.28)");
      g.fillRect(x0, AXIS, Math.max(2, x1 - x0), hgt - AXIS);
    }
    if (this.cursor !== null && this.cursor >= this.start && this.cursor <= this.end) {
      const x = this.x(this.cursor, w);
      g.fillStyle = col("--tl-cursor", "#ffffff");
      g.fillRect(x - 1, 0, 2, hgt);
    }
  }
}
