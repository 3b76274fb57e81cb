// Playback: cameras played in sync on one clock, a timeline of what is
// recorded, bookmarks and evidence locks, stills, export of a selection,
// and the verification of what is on screen.

import * as api from "./api.js";
import * as state from "./state.js";
import { h, clear, toast, modal, field, showTime, showDuration, isoTime, parseTime, downloadBlob, icon } from "./ui.js";
import { Timeline } from "./timeline.js";
import { RecordedPlayer, SyncClock } from "./player.js";
import { exportDialog } from "./exports.js";
import { verifyPanel } from "./verify.js";

const SPEEDS = [0.25, 0.5, 1, 2, 4, 8];
const MAX_CAMERAS = 9;

const toMs = (list, a, b) => (list || []).map((x) => ({ ...x, [a]: parseTime(x[a]), [b]: parseTime(x[b]) }));

export function playbackScreen(opts = {}) {
  const all = state.cameras().filter((c) => (c.functions || []).includes("playback") || state.isAdmin());
  const chosen = new Set((opts.cameras ? opts.cameras.split(",") : all.slice(0, 4).map((c) => c.name))
    .filter((n) => all.some((c) => c.name === n)).slice(0, MAX_CAMERAS));
  const data = new Map();    // camera -> {ranges, gaps, bookmarks, locks, error}
  let locks = [];
  let selection = null;
  const tiles = new Map();   // camera -> {el, video, time, note}

  const clock = new SyncClock((t) => onTick(t));
  const timeline = new Timeline({
    onSeek: (t) => seek(t),
    onSelect: (sel) => {
      selection = sel && sel.to - sel.from >= 40 ? sel : null;
      updateSelection();
    },
    onView: () => loadData(),
  });

  // ---- controls
  const bigTime = h("output", { class: "big-time", "aria-live": "off", title: "Time of the recorded frame on screen (UTC)" }, "—");
  const playBtn = h("button", { type: "button", class: "primary", id: "play", "aria-label": "Play", title: "Play / pause (space)", onclick: () => toggle() }, icon("play"));
  const speed = h("select", { id: "speed", "aria-label": "Speed", title: "Playback speed" },
    SPEEDS.map((s) => h("option", { value: s, selected: s === 1 }, s < 1 ? `${s === 0.25 ? "¼" : "½"}×` : `${s}×`)));
  speed.addEventListener("change", () => clock.setRate(Number(speed.value)));
  const goto = h("input", { type: "text", id: "goto", placeholder: "2026-01-31 12:00:00", "aria-label": "Go to time (UTC)", size: 22 });
  const gotoForm = h("form", { class: "goto" }, goto, h("button", { type: "submit" }, "Go"));
  gotoForm.addEventListener("submit", (e) => {
    e.preventDefault();
    const v = goto.value.trim();
    const t = parseTime(/[zZ]|[+-]\d\d:\d\d$/.test(v) ? v.replace(" ", "T") : `${v.replace(" ", "T")}Z`);
    if (t === null) toast("Give a time as 2026-01-31 12:00:00 (UTC)", "error");
    else seek(t);
  });
  const btn = (text, label, f, extra = {}) => h("button", { type: "button", "aria-label": label, title: label, onclick: f, ...extra }, text);
  const selInfo = h("span", { class: "sel-info", "aria-live": "polite" });
  const markBtn = state.may("bookmark") ? btn("Bookmark…", "Bookmark the selection or the time on screen", () => bookmarkDialog()) : null;
  const lockBtn = state.may("evidence_lock") ? btn("Evidence lock…", "Lock the selected range against deletion", () => lockDialog(), { disabled: true }) : null;
  const exportBtn = state.may("export") ? btn("Export…", "Export the selected range", () => openExport(), { id: "export-open", disabled: true }) : null;
  const stillBtn = btn("Still", "Download a JPEG still of the frame on screen", () => still());

  const camPicker = h("fieldset", { class: "cam-picker" }, h("legend", {}, `Cameras (up to ${MAX_CAMERAS})`),
    all.map((c) => {
      const cb = h("input", { type: "checkbox", value: c.name, checked: chosen.has(c.name) });
      cb.addEventListener("change", () => {
        if (cb.checked && chosen.size >= MAX_CAMERAS) {
          cb.checked = false;
          toast(`At most ${MAX_CAMERAS} cameras at once (the server streams 8 at a time)`, "error");
          return;
        }
        if (cb.checked) chosen.add(c.name);
        else chosen.delete(c.name);
        layout();
      });
      return h("label", { class: "check" }, cb, c.name);
    }));

  const videos = h("div", { class: "grid playback-grid", "aria-label": "Recorded video" });
  const marksList = h("div", { class: "marks" });
  const events = h("ul", { class: "list tl-events", id: "tl-events" });
  const eventsBox = h("details", { class: "tl-text" }, h("summary", {}, "Gaps in view, as text"), events);
  const verify = verifyPanel({
    range: () => ({ from: timeline.start, to: timeline.end }),
    cameras: () => [...chosen],
    players: () => clock.players,
  });

  const el = h("section", { class: "screen playback", "aria-label": "Playback" },
    h("div", { class: "toolbar" }, h("h1", {}, "Playback"), bigTime, h("span", { class: "spacer" }), gotoForm),
    h("div", { class: "playback-main" },
      h("div", { class: "playback-left" },
        videos,
        h("div", { class: "transport", role: "group", "aria-label": "Playback controls" },
          btn(icon("prevMark"), "Previous bookmark (p)", () => jumpMark(-1)),
          btn(icon("frameBack"), "Back one frame (,)", () => clock.step(-1), { id: "frame-back" }),
          playBtn,
          btn(icon("frameFwd"), "Forward one frame (.)", () => clock.step(1), { id: "frame-forward" }),
          btn(icon("nextMark"), "Next bookmark (n)", () => jumpMark(1)),
          speed, stillBtn,
          btn("Live", "Live view of these cameras (l)", () => { location.hash = "#live"; }),
          h("span", { class: "spacer" }), selInfo, markBtn, lockBtn, exportBtn),
        timeline.el, eventsBox),
      h("aside", { class: "playback-side" }, camPicker, verify.el, marksList)));

  // ---- layout of the videos
  function layout() {
    const names = [...chosen];
    for (const p of [...clock.players]) {
      if (!chosen.has(p.camera)) {
        p.stop();
        clock.players.splice(clock.players.indexOf(p), 1);
        tiles.delete(p.camera);
      }
    }
    clear(videos);
    const cols = names.length <= 1 ? 1 : names.length <= 4 ? 2 : 3;
    videos.style.setProperty("--cols", cols);
    for (const name of names) {
      let t = tiles.get(name);
      if (!t) {
        const video = h("video", { muted: true, playsinline: true, "aria-label": `Recorded video of ${name}` });
        video.muted = true;
        const time = h("span", { class: "frame-time" });
        const note = h("div", { class: "overlay hidden" });
        t = { el: h("div", { class: "tile", "data-camera": name }, h("div", { class: "tile-head" }, h("span", { class: "name" }, name), time), video, note), video, time, note };
        tiles.set(name, t);
        const p = new RecordedPlayer(name, video, {
          ranges: () => (data.get(name) || {}).ranges || [],
          onStatus: () => {},
        });
        p.setRate(clock.rate);
        clock.players.push(p);
        const at = clock.now();
        if (opts.at || clock.players.length > 0) p.restart(at);
      }
      videos.append(t.el);
    }
    if (!names.length) videos.append(h("p", { class: "empty" }, "Choose cameras on the right."));
    loadData();
  }

  // ---- data: ranges, gaps, bookmarks, locks around the view
  let loadSeq = 0;
  async function loadData() {
    const seq = ++loadSeq;
    const span = timeline.end - timeline.start;
    const from = isoTime(timeline.start - span);
    const to = isoTime(timeline.end + span);
    const q = `?from=${api.enc(from)}&to=${api.enc(to)}`;
    const names = [...chosen];
    const results = await Promise.all(names.map(async (name) => {
      const d = { camera: name, ranges: [], gaps: [], bookmarks: [], locks: [] };
      try {
        const r = await api.get(`/cameras/${api.enc(name)}/ranges${q}`);
        d.ranges = toMs(r.ranges, "from", "to");
        d.gaps = toMs(r.gaps, "from", "to");
      } catch (err) {
        d.error = err.message;
      }
      try {
        const b = await api.get(`/cameras/${api.enc(name)}/bookmarks${q}`);
        d.bookmarks = (b.bookmarks || []).map((x) => ({ ...x, at: parseTime(x.at), end: parseTime(x.end) }));
      } catch (_) { /* no bookmark function: none shown */ }
      return d;
    }));
    try {
      locks = ((await api.get("/evidence-locks")).evidence_locks || [])
        .map((l) => ({ ...l, from: parseTime(l.from), to: parseTime(l.to) }));
    } catch (_) {
      locks = [];
    }
    if (seq !== loadSeq) return;
    for (const d of results) {
      d.locks = locks.filter((l) => l.cameras.includes(d.camera));
      data.set(d.camera, d);
    }
    timeline.setRows(names.map((n) => data.get(n)));
    renderMarks();
    renderEvents();
  }

  // ---- clock -> screen
  function onTick(t) {
    const shown = clock.primaryTime();
    bigTime.textContent = `${showTime(shown)} UTC`;
    bigTime.dataset.ms = String(Math.round(shown));
    const label = clock.playing ? "Pause" : "Play";
    if (playBtn.getAttribute("aria-label") !== label) {
      playBtn.replaceChildren(icon(clock.playing ? "pause" : "play"));
      playBtn.setAttribute("aria-label", label);
      playBtn.dataset.playing = String(clock.playing);
    }
    timeline.setCursor(shown);
    for (const p of clock.players) {
      const tl = tiles.get(p.camera);
      if (!tl) continue;
      const ft = p.frameTime();
      const onScreen = ft !== null && p.buffered(ft);
      tl.time.textContent = onScreen ? showTime(ft) : "";
      tl.el.dataset.frameMs = onScreen ? String(Math.round(ft)) : "";
      if (p.frameMs) {
        tl.el.dataset.frameInterval = String(p.frameMs);
        tl.time.title = `${Math.round(10000 / p.frameMs) / 10} frames a second: a frame step is ${Math.round(p.frameMs * 10) / 10} ms`;
      }
      let note = "";
      if (p.tampered) {
        note = `Verification FAILED — not served. Segment from ${showTime(parseTime(p.tampered.failed_segment_start))}` +
          `${p.tampered.segment !== undefined ? ` (#${p.tampered.segment})` : ""}: ${p.tampered.reason || p.tampered.message || "tampered"}`;
        tl.el.dataset.tampered = "true";
      } else if (!p.recordedAt(t) && (data.get(p.camera) || {}).ranges) {
        const gap = ((data.get(p.camera) || {}).gaps || []).find((g) => t >= g.from && t < g.to);
        note = gap ? `No recording: ${gap.reason || "gap"}` : "No recording at this time";
      } else if (p.error) {
        note = p.error;
      } else if (!onScreen) {
        note = "Loading…";
      }
      tl.note.textContent = note;
      tl.note.classList.toggle("hidden", !note);
      tl.note.classList.toggle("bad", !!p.tampered);
    }
    verify.tick();
  }

  async function seek(t) {
    timeline.setCursor(t);
    await clock.seek(t);
  }

  function toggle() {
    if (clock.playing) clock.pause();
    else clock.play();
  }

  // ---- bookmarks
  function allMarks() {
    const out = [];
    for (const n of chosen) for (const b of (data.get(n) || {}).bookmarks || []) out.push(b);
    return out.sort((a, b) => a.at - b.at);
  }

  function jumpMark(dir) {
    const t = clock.primaryTime();
    const marks = allMarks();
    const m = dir > 0 ? marks.find((b) => b.at > t + 500) : [...marks].reverse().find((b) => b.at < t - 500);
    if (!m) {
      toast(dir > 0 ? "No later bookmark in view" : "No earlier bookmark in view");
      return;
    }
    seek(m.at);
  }

  // the canvas as text, for screen readers and keyboard users
  function renderEvents() {
    clear(events);
    let n = 0;
    for (const name of chosen) {
      const d = data.get(name);
      if (!d) continue;
      if (d.error) events.append(h("li", { "data-camera": name, "data-kind": "error" }, `${name}: ${d.error}`));
      for (const g of d.gaps) {
        if (g.to < timeline.start || g.from > timeline.end) continue;
        n++;
        events.append(h("li", { "data-camera": name, "data-kind": "gap", "data-from": g.from, "data-to": g.to },
          `${name}: no recording ${showTime(g.from)} – ${showTime(g.to)} (${showDuration((g.to - g.from) / 1000)})` +
          `: ${g.reason || "no reason recorded"}${g.signed === true ? " (signed record)" : g.signed === false ? " (not signed)" : ""}`));
      }
    }
    eventsBox.querySelector("summary").textContent = `Gaps in view, as text (${n})`;
  }

  function renderMarks() {
    clear(marksList);
    const marks = allMarks();
    marksList.append(h("h2", {}, "Bookmarks"));
    if (!marks.length) marksList.append(h("p", { class: "muted" }, "None in view."));
    const ul = h("ul", { class: "list", id: "bookmarks" });
    for (const b of marks) {
      const canEdit = state.may("bookmark", b.camera);
      ul.append(h("li", { "data-id": b.id },
        h("button", { type: "button", class: "link", onclick: () => seek(b.at), title: "Play from here" },
          `${showTime(b.at, false)} ${b.camera}`),
        h("strong", {}, ` ${b.title}`),
        b.description ? h("p", { class: "desc" }, b.description) : null,
        h("small", { class: "muted" }, ` by ${b.created_by}${b.end ? `, ${showDuration((b.end - b.at) / 1000)}` : ""}`),
        canEdit ? h("span", { class: "actions" },
          h("button", { type: "button", class: "small", onclick: () => bookmarkDialog(b) }, "Edit"),
          h("button", { type: "button", class: "small danger", onclick: () => deleteMark(b) }, "Delete")) : null));
    }
    marksList.append(ul);
    const myLocks = locks.filter((l) => l.cameras.some((c) => chosen.has(c)));
    marksList.append(h("h2", {}, "Evidence locks"));
    if (!myLocks.length) marksList.append(h("p", { class: "muted" }, "None on these cameras."));
    const ll = h("ul", { class: "list", id: "locks" });
    for (const l of myLocks) {
      const canEdit = l.cameras.every((c) => state.may("evidence_lock", c));
      ll.append(h("li", { "data-id": l.id },
        h("button", { type: "button", class: "link", onclick: () => seek(l.from) }, `${showTime(l.from, false)} – ${showTime(l.to, false)}`),
        h("strong", {}, ` ${l.headline}`), h("small", { class: "muted" }, ` ${l.cameras.join(", ")}; ${l.expires ? `until ${l.expires}` : "until deleted"}; by ${l.created_by}`),
        l.description ? h("p", { class: "desc" }, l.description) : null,
        canEdit ? h("span", { class: "actions" },
          h("button", { type: "button", class: "small", onclick: () => lockDialog(l) }, "Edit"),
          h("button", { type: "button", class: "small danger", onclick: () => deleteLock(l) }, "Delete")) : null));
    }
    marksList.append(ll);
  }

  function bookmarkDialog(existing) {
    const cams = [...chosen].filter((c) => state.may("bookmark", c));
    if (!cams.length) {
      toast("You may not bookmark these cameras", "error");
      return;
    }
    const cam = h("select", { id: "bm-camera", disabled: !!existing }, cams.map((c) => h("option", { value: c, selected: existing ? existing.camera === c : selection ? selection.camera === c : false }, c)));
    const at = existing ? existing.at : selection ? selection.from : clock.primaryTime();
    const end = existing ? existing.end : selection ? selection.to : null;
    const title = h("input", { id: "bm-title", required: true, maxlength: 200, value: existing ? existing.title : "" });
    const desc = h("textarea", { id: "bm-desc", rows: 4, maxlength: 4000 }, existing ? existing.description : "");
    const err = h("p", { class: "form-error", role: "alert" });
    const form = h("form", {}, field("Camera", cam),
      h("p", {}, `From ${showTime(at)}${end ? ` to ${showTime(end)} (${showDuration((end - at) / 1000)})` : ""} UTC`),
      field("Title", title), field("Description", desc), err,
      h("div", { class: "buttons" }, h("button", { type: "submit", class: "primary" }, existing ? "Save" : "Add bookmark")));
    const { close } = modal(existing ? "Edit bookmark" : "New bookmark", form);
    title.focus();
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      err.textContent = "";
      try {
        if (existing) {
          await api.call("PATCH", `/bookmarks/${existing.id}`, { title: title.value, description: desc.value });
        } else {
          const body = { at: isoTime(at), title: title.value, description: desc.value };
          if (end) body.end = isoTime(end);
          await api.call("POST", `/cameras/${api.enc(cam.value)}/bookmarks`, body);
        }
        close();
        toast(existing ? "Bookmark saved" : "Bookmark added");
        loadData();
      } catch (x) {
        err.textContent = x.code === "method" ? "This server cannot edit bookmarks (delete it and add a new one)." : x.message;
      }
    });
  }

  async function deleteMark(b) {
    if (!confirm(`Delete the bookmark “${b.title}”?`)) return;
    try {
      await api.call("DELETE", `/bookmarks/${b.id}`);
      toast("Bookmark deleted");
      loadData();
    } catch (x) {
      toast(x.message, "error");
    }
  }

  function lockDialog(existing) {
    const sel = existing ? { from: existing.from, to: existing.to } : selection;
    if (!sel) {
      toast("Drag on the timeline to select the range to lock", "error");
      return;
    }
    const cams = all.filter((c) => state.may("evidence_lock", c.name)).map((c) => c.name);
    const boxes = cams.map((c) => h("input", { type: "checkbox", value: c, checked: existing ? existing.cameras.includes(c) : chosen.has(c) }));
    const headline = h("input", { id: "lock-headline", required: true, maxlength: 200, value: existing ? existing.headline : "" });
    const desc = h("textarea", { id: "lock-desc", rows: 4, maxlength: 4000 }, existing ? existing.description : "");
    const expires = h("input", { id: "lock-expires", placeholder: "empty: until deleted", value: existing && existing.expires ? existing.expires : "" });
    const err = h("p", { class: "form-error", role: "alert" });
    const form = h("form", {},
      h("p", {}, `${showTime(sel.from)} – ${showTime(sel.to)} UTC (${showDuration((sel.to - sel.from) / 1000)})`),
      h("fieldset", {}, h("legend", {}, "Cameras"), cams.map((c, i) => h("label", { class: "check" }, boxes[i], c))),
      field("Headline", headline), field("Description", desc),
      field("Expires (UTC)", expires, "Footage under a lock is kept by retention until the lock ends."), err,
      h("div", { class: "buttons" }, h("button", { type: "submit", class: "primary" }, existing ? "Save" : "Lock")));
    const { close } = modal(existing ? "Edit evidence lock" : "New evidence lock", form);
    headline.focus();
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      err.textContent = "";
      const body = {
        headline: headline.value, description: desc.value,
        cameras: boxes.filter((b) => b.checked).map((b) => b.value),
        from: isoTime(sel.from), to: isoTime(sel.to),
        expires: expires.value.trim() ? expires.value.trim().replace(" ", "T") : null,
      };
      try {
        if (existing) await api.call("PATCH", `/evidence-locks/${existing.id}`, body);
        else await api.call("POST", "/evidence-locks", body);
        close();
        toast(existing ? "Evidence lock saved" : "Evidence lock created");
        loadData();
      } catch (x) {
        err.textContent = x.message;
      }
    });
  }

  async function deleteLock(l) {
    if (!confirm(`Lift the evidence lock “${l.headline}”? Retention may then delete this footage.`)) return;
    try {
      await api.call("DELETE", `/evidence-locks/${l.id}`);
      toast("Evidence lock deleted");
      loadData();
    } catch (x) {
      toast(x.message, "error");
    }
  }

  function updateSelection() {
    timeline.setSelection(selection);
    selInfo.textContent = selection
      ? `Selected ${showTime(selection.from, false)} – ${showTime(selection.to, false)} (${showDuration((selection.to - selection.from) / 1000)})`
      : "";
    if (lockBtn) lockBtn.disabled = !selection;
    if (exportBtn) exportBtn.disabled = !selection;
  }

  function openExport() {
    if (!selection) return;
    exportDialog({
      cameras: [...chosen].filter((c) => state.may("export", c)),
      from: selection.from, to: selection.to,
      all: all.filter((c) => state.may("export", c.name)).map((c) => c.name),
    });
  }

  async function still() {
    const p = clock.players[0];
    if (!p) return;
    const at = p.frameTime() ?? clock.now();
    try {
      const r = await api.raw("GET", `/cameras/${api.enc(p.camera)}/still/${api.enc(isoTime(at))}`, { accept: "image/jpeg" });
      downloadBlob(await r.blob(), `${p.camera}-${isoTime(at).replace(/:/g, "-")}.jpg`);
    } catch (x) {
      toast(`Still: ${x.message}`, "error");
    }
  }

  // ---- start: the latest recording (or opts.at)
  function firstTime() {
    if (opts.at) return parseTime(opts.at);
    let last = null;
    for (const n of chosen) {
      const c = state.camera(n);
      const l = c && parseTime(c.last);
      if (l && (last === null || l > last)) last = l;
    }
    return last ? last - 30e3 : Date.now() - 60e3;
  }
  const t0 = firstTime();
  clock.reanchor(t0);
  timeline.setView(t0 - 270e3, t0 + 30e3, true);
  layout();
  updateSelection();
  const refresh = setInterval(() => { if (timeline.end > Date.now() - 60e3) loadData(); }, 5000);

  return {
    el,
    key(e) {
      switch (e.key) {
        case " ": toggle(); return true;
        case ",": clock.step(-1); return true;
        case ".": clock.step(1); return true;
        case "n": jumpMark(1); return true;
        case "p": jumpMark(-1); return true;
        case "+": case "=": timeline.zoom(0.5); return true;
        case "-": timeline.zoom(2); return true;
        case "Escape": selection = null; updateSelection(); return true;
        default: return false;
      }
    },
    unmount() {
      clearInterval(refresh);
      clock.stop();
      timeline.destroy();
      verify.stop();
    },
    // for the tests and the benchmark: nothing here that the page cannot see
    seek,
  };
}
