// Exports: the dialog that asks the server for an evidence package, an MP4
// or stills within what the user's export profile allows (locked settings are
// shown, disabled, with the lock), its progress, the download, and the list
// of the user's exports.

import * as api from "./api.js";
import * as state from "./state.js";
import { h, clear, toast, modal, field, showTime, isoTime, parseTime, downloadBlob, icon } from "./ui.js";

const FORMATS = { evidence: "Evidence package (signed)", mp4: "MP4 video (one camera, not signed)", stills: "JPEG stills (one a second, not signed)" };
const SETTINGS = [
  ["encryption", "Encrypt the package with a password", "encrypt"],
  ["prevent_reexport", "Prevent re-export from the player", "prevent_reexport"],
  ["include_player", "Include the player and verifier (a folder for a USB stick)", "include_player"],
];

function filename(r, fallback) {
  const cd = r.headers.get("Content-Disposition") || "";
  const m = /filename="([^"]+)"/.exec(cd);
  return m ? m[1] : fallback;
}

export async function downloadExport(id) {
  try {
    const r = await api.raw("GET", `/exports/${api.enc(id)}/file`);
    const blob = await r.blob();
    downloadBlob(blob, filename(r, `custody-${id}`));
    toast("Download complete");
  } catch (x) {
    toast(`Download: ${x.message}`, "error");
  }
}

/** sel: {cameras: [names preselected], from, to (ms), all: [names the user may export]} */
export async function exportDialog(sel) {
  let profiles;
  try {
    profiles = (await api.get("/export-profiles")).profiles || [];
  } catch (x) {
    toast(`Export profiles: ${x.message}`, "error");
    return;
  }
  if (!profiles.length) {
    toast("You have no export profile", "error");
    return;
  }
  const body = h("div", { class: "export-form" });
  const { close } = modal("Export", body, { wide: true, onClose: () => { stopped = true; } });
  let stopped = false;

  const profileSel = h("select", { id: "exp-profile" }, profiles.map((p) => h("option", { value: p.name }, `${p.name}${p.builtin ? " (built in)" : ""}`)));
  const formatBox = h("div", { class: "radios", role: "radiogroup", "aria-label": "Format" });
  const settingsBox = h("div", { class: "settings" });
  const camBoxes = sel.all.map((c) => h("input", { type: "checkbox", value: c, checked: sel.cameras.includes(c) }));
  const from = h("input", { id: "exp-from", value: isoTime(sel.from), size: 26 });
  const to = h("input", { id: "exp-to", value: isoTime(sel.to), size: 26 });
  const kase = h("input", { id: "exp-case", maxlength: 200 });
  const comments = h("textarea", { id: "exp-comments", rows: 4, maxlength: 8000 });
  const pw1 = h("input", { id: "exp-pw1", type: "password", autocomplete: "new-password", maxlength: 1024 });
  const pw2 = h("input", { id: "exp-pw2", type: "password", autocomplete: "new-password", maxlength: 1024 });
  const pwNote = h("small", { class: "note" });
  const commentsNote = h("small", { class: "note" });
  const err = h("p", { class: "form-error", role: "alert", id: "exp-error" });
  const submit = h("button", { type: "submit", class: "primary", id: "exp-submit" }, "Export");
  const pwBox = h("div", { class: "pw" }, field("Package password", pw1), field("Password again", pw2), pwNote);
  const form = h("form", {},
    profiles.length > 1 ? field("Export profile", profileSel) : h("p", {}, `Export profile: ${profiles[0].name}`),
    h("fieldset", {}, h("legend", {}, "Format"), formatBox),
    h("fieldset", {}, h("legend", {}, "Cameras"), sel.all.map((c, i) => h("label", { class: "check" }, camBoxes[i], c))),
    h("div", { class: "row" }, field("From (UTC)", from), field("To (UTC)", to)),
    field("Case", kase), h("div", {}, field("Comments", comments), commentsNote),
    h("fieldset", {}, h("legend", {}, "Settings"), settingsBox), pwBox, err,
    h("div", { class: "buttons" }, submit));
  const progress = h("div", { class: "export-progress hidden", "aria-live": "polite" });
  body.append(form, progress);

  const profile = () => profiles.find((p) => p.name === profileSel.value) || profiles[0];
  const setting = (name) => (profile().settings || {})[name] || { value: false, locked: false };
  const checks = {};

  function renderProfile() {
    const p = profile();
    clear(formatBox);
    (p.formats || ["evidence"]).forEach((f, i) => {
      const r = h("input", { type: "radio", name: "format", value: f, checked: i === 0, id: `exp-format-${f}` });
      r.addEventListener("change", renderSettings);
      formatBox.append(h("label", { class: "check", for: r.id }, r, FORMATS[f] || f));
    });
    renderSettings();
  }

  function format() {
    const r = formatBox.querySelector("input:checked");
    return r ? r.value : "evidence";
  }

  function renderSettings() {
    clear(settingsBox);
    const evidence = format() === "evidence";
    for (const [name, label] of SETTINGS) {
      const s = setting(name);
      const cb = h("input", { type: "checkbox", id: `exp-${name}`, checked: !!s.value, disabled: s.locked || !evidence });
      cb.addEventListener("change", renderPw);
      checks[name] = cb;
      settingsBox.append(h("label", { class: `check${s.locked ? " locked" : ""}`, for: cb.id }, cb, label,
        s.locked ? h("span", { class: "lock-note", title: `Locked by the export profile ${profile().name}` }, " ", icon("lock"), " locked by the profile") : null));
    }
    const sig = setting("signature");
    settingsBox.append(h("p", { class: "muted" }, evidence
      ? `Signed by the server${sig.locked ? " (locked)" : ""}; the recording signatures travel with the footage.`
      : "MP4 and stills are neither encrypted nor signed: prefer an evidence package for court."));
    const cr = setting("comments_required");
    commentsNote.textContent = cr.value ? `Required${cr.locked ? " (locked by the profile)" : ""}: why is this exported, for whom.` : "";
    renderPw();
  }

  function renderPw() {
    const enc = format() === "evidence" && checks.encryption && checks.encryption.checked;
    pwBox.classList.toggle("hidden", !enc);
    const min = setting("password_min_length");
    const req = setting("password_required");
    pwNote.textContent = `${req.value ? "Required. " : ""}At least ${min.locked ? min.value : Math.max(8, min.value || 8)} characters${min.locked ? " (locked by the profile)" : ""}. Give it to the recipient by another way than the package.`;
  }

  profileSel.addEventListener("change", renderProfile);
  renderProfile();

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    err.textContent = "";
    const f = format();
    const fr = parseTime(from.value.trim().replace(" ", "T"));
    const tt = parseTime(to.value.trim().replace(" ", "T"));
    const cams = camBoxes.filter((b) => b.checked).map((b) => b.value);
    if (fr === null || tt === null || tt <= fr) return void (err.textContent = "Give a range: From before To, as ISO 8601 UTC.");
    if (!cams.length) return void (err.textContent = "Choose at least one camera.");
    if (f === "mp4" && cams.length !== 1) return void (err.textContent = "An MP4 holds exactly one camera.");
    const req = {
      format: f, profile: profile().name,
      cameras: cams.map((c) => ({ camera: c, from: isoTime(fr), to: isoTime(tt) })),
      case: kase.value, comments: comments.value,
    };
    if (f === "evidence") {
      req.encrypt = checks.encryption.checked;
      req.prevent_reexport = checks.prevent_reexport.checked;
      req.include_player = checks.include_player.checked;
      if (req.encrypt) {
        if (pw1.value !== pw2.value) return void (err.textContent = "The two passwords differ.");
        req.password = pw1.value;
      }
    }
    submit.disabled = true;
    try {
      const j = await api.call("POST", "/exports", req);
      pw1.value = "";
      pw2.value = "";
      form.classList.add("hidden");
      follow(j.id);
    } catch (x) {
      err.textContent = x.detail && x.detail.setting ? `${x.message} (setting: ${x.detail.setting})` : x.message;
      submit.disabled = false;
    }
  });

  async function follow(id) {
    progress.classList.remove("hidden");
    const bar = h("progress", { max: 1, value: 0, id: "exp-progress", "aria-label": "Export progress" });
    const text = h("p", { id: "exp-status" }, "Exporting…");
    const actions = h("div", { class: "buttons" });
    progress.append(bar, text, actions);
    while (!stopped) {
      let j;
      try {
        j = await api.get(`/exports/${api.enc(id)}`);
      } catch (x) {
        text.textContent = x.message;
        return;
      }
      bar.value = j.progress || 0;
      progress.dataset.status = j.status;
      if (j.status === "done") {
        text.textContent = `Done: ${j.bytes} bytes, SHA-256 ${j.sha256}`;
        actions.append(h("button", { type: "button", class: "primary", id: "exp-download", onclick: () => downloadExport(id) }, "Download"),
          h("button", { type: "button", onclick: () => { close(); location.hash = "#exports"; } }, "All exports"));
        return;
      }
      if (j.status === "failed") {
        text.textContent = `Failed: ${j.error || "?"}`;
        if (j.tampered) text.textContent += ` — tampered footage on ${j.tampered.camera} from ${j.tampered.failed_segment_start}: ${j.tampered.reason}`;
        text.classList.add("bad");
        return;
      }
      text.textContent = `Exporting… ${Math.round((j.progress || 0) * 100)} %`;
      await new Promise((r) => setTimeout(r, 700));
    }
  }
}

/** The screen listing the user's exports (an admin's: everyone's). */
export function exportsScreen() {
  const table = h("table", { class: "data", id: "exports" });
  const el = h("section", { class: "screen exports", "aria-label": "Exports" },
    h("div", { class: "toolbar" }, h("h1", {}, "Exports"), h("span", { class: "spacer" }),
      h("button", { type: "button", onclick: () => load() }, "Refresh")),
    h("p", { class: "muted" }, "To export, select a range on the playback timeline and choose Export. Files are kept 24 hours."),
    table);
  let timer = null;

  async function load() {
    let list;
    try {
      list = (await api.get("/exports")).exports || [];
    } catch (x) {
      clear(table).append(h("caption", {}, x.message));
      return;
    }
    clear(table);
    table.append(h("thead", {}, h("tr", {}, ["Created", "Owner", "Format", "Cameras and ranges", "Case", "Status", "Package SHA-256 / signature", ""].map((t) => h("th", { scope: "col" }, t)))));
    const tb = h("tbody");
    for (const x of list) {
      tb.append(h("tr", { "data-id": x.id, "data-status": x.status },
        h("td", {}, showTime(parseTime(x.created), false)),
        h("td", {}, x.user),
        h("td", {}, x.format, x.encrypted ? h("span", { title: "encrypted with a password" }, " ", icon("lock")) : ""),
        h("td", {}, (x.cameras || []).map((c) => h("div", {}, `${c.camera}: ${c.from ? `${c.from} – ${c.to}` : (c.at || []).join(", ")}`))),
        h("td", {}, x.case || ""),
        h("td", {}, x.status === "running" ? `running ${Math.round((x.progress || 0) * 100)} %` : x.status, x.error ? h("div", { class: "bad" }, x.error) : null),
        h("td", {}, x.sha256 ? h("code", { class: "fp" }, x.sha256) : "",
          h("div", { class: "muted" }, x.format === "evidence" ? "export signature: signed by the server (in the package manifest)" : "not signed")),
        h("td", {}, x.status === "done" ? h("button", { type: "button", class: "small", onclick: () => downloadExport(x.id) }, "Download") : null,
          h("button", { type: "button", class: "small danger", onclick: async () => {
            if (!confirm("Delete this export and its file?")) return;
            try {
              await api.call("DELETE", `/exports/${api.enc(x.id)}`);
              load();
            } catch (e) {
              toast(e.message, "error");
            }
          } }, "Delete"))));
    }
    if (!list.length) tb.append(h("tr", {}, h("td", { colspan: 8, class: "muted" }, "No exports.")));
    table.append(tb);
  }

  load();
  timer = setInterval(load, 5000);
  return { el, unmount() { clearInterval(timer); } };
}
