// DOM and time helpers shared by every screen. Everything the server or a
// user wrote reaches the page through textContent or attributes set here,
// never as HTML: a bookmark title cannot become markup.

/** h("button", {class: "x", onclick: f}, "text", child...) -> element */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") {
      el.addEventListener(k.slice(2), v);
    } else if (k === "class") {
      el.className = v;
    } else if (k === "dataset") {
      Object.assign(el.dataset, v);
    } else if (k === "value" || k === "checked" || k === "disabled" || k === "selected") {
      el[k] = v;
    } else {
      el.setAttribute(k, v === true ? "" : String(v));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}

/** Empties an element. */
export function clear(el) {
  el.replaceChildren();
  return el;
}

/** A short status line for the screen reader and the eye. */
export function toast(text, kind = "info") {
  let box = document.getElementById("toasts");
  if (!box) return;
  const t = h("div", { class: `toast toast-${kind}`, role: kind === "error" ? "alert" : "status" },
    text);
  box.append(t);
  setTimeout(() => t.remove(), kind === "error" ? 9000 : 4000);
}

// ---- time: µs since the epoch inside the client is a Number of ms (Date's
// unit); the API speaks ISO 8601 UTC. Shown times are UTC with milliseconds
// where it matters: evidence times are compared across sites and the
// recordings themselves are stamped in UTC.

export function parseTime(iso) {
  if (iso === null || iso === undefined) return null;
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? null : ms;
}

/** ms -> "2026-01-31T12:00:00.123Z" (what the API accepts). */
export function isoTime(ms) {
  return new Date(Math.round(ms)).toISOString();
}

const pad = (n, w = 2) => String(n).padStart(w, "0");

/** ms -> "2026-01-31 12:00:00.123" (UTC), for people. */
export function showTime(ms, withMs = true) {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return "—";
  const d = new Date(ms);
  const s = `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ` +
    `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
  return withMs ? `${s}.${pad(d.getUTCMilliseconds(), 3)}` : s;
}

export function showClock(ms) {
  const d = new Date(ms);
  return `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
}

export function showDuration(sec) {
  if (!Number.isFinite(sec)) return "—";
  if (sec < 1) return `${Math.round(sec * 1000)} ms`;
  if (sec < 60) return `${sec.toFixed(sec < 10 ? 1 : 0)} s`;
  if (sec < 3600) return `${Math.floor(sec / 60)} min ${Math.round(sec % 60)} s`;
  return `${Math.floor(sec / 3600)} h ${Math.round((sec % 3600) / 60)} min`;
}

/** A modal dialog on <dialog>: returns {dlg, close}. onClose runs once. */
export function modal(title, body, { onClose, wide } = {}) {
  const closeBtn = h("button", { type: "button", class: "icon", "aria-label": "Close" }, "×");
  const heading = h("h2", { id: `dlg-${Math.random().toString(36).slice(2)}` }, title);
  const dlg = h("dialog", { class: wide ? "wide" : "", "aria-labelledby": heading.id },
    h("header", {}, heading, closeBtn), body);
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    if (dlg.open) dlg.close();
    dlg.remove();
    if (onClose) onClose();
  };
  closeBtn.addEventListener("click", close);
  dlg.addEventListener("close", close);
  document.getElementById("app").append(dlg);
  dlg.showModal();
  return { dlg, close };
}

/** A labelled form field: returns [label-wrapper, input]. */
export function field(label, input, note) {
  const id = input.id || `f-${Math.random().toString(36).slice(2)}`;
  input.id = id;
  return h("div", { class: "field" }, h("label", { for: id }, label), input,
    note ? h("small", { class: "note" }, note) : null);
}

/** Triggers a download of a Blob under a file name; the object URL is revoked. */
export function downloadBlob(blob, name) {
  const url = URL.createObjectURL(blob);
  const a = h("a", { href: url, download: name, class: "hidden" });
  // outside an open modal dialog the page is inert, and an inert link does
  // not follow a click: put it in the dialog then
  (document.querySelector("dialog[open]") || document.body).append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

/** Formats a fingerprint for reading: groups of four bytes on a line. */
export function fingerprint(fp) {
  if (!fp) return h("span", { class: "muted" }, "not given by the server");
  return h("code", { class: "fp" }, fp);
}

const ICONS = {
  play: "M7 4l13 8-13 8z",
  pause: "M6 4h4v16H6zM14 4h4v16h-4z",
  prevMark: "M5 4h2v16H5zM19 4v16L8 12z",
  nextMark: "M17 4h2v16h-2zM5 4v16l11-8z",
  frameBack: "M15 5l-8 7 8 7z",
  frameFwd: "M9 5l8 7-8 7z",
  lock: "M7 10V7a5 5 0 0110 0v3h1a1 1 0 011 1v9a1 1 0 01-1 1H6a1 1 0 01-1-1v-9a1 1 0 011-1zm2 0h6V7a3 3 0 00-6 0z",
};

/** An inline SVG icon (no file, no inline style): decorative, the button
 *  carries the accessible name. */
export function icon(name) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("width", "16");
  svg.setAttribute("height", "16");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("class", "ico");
  const p = document.createElementNS(ns, "path");
  p.setAttribute("d", ICONS[name]);
  p.setAttribute("fill", "currentColor");
  svg.append(p);
  return svg;
}
