// Verification of what is on screen: GET cameras/{c}/verify over the
// timeline's view for each camera shown (the server checks seals, links and
// records), the fingerprints of the signer and the site CA from GET server
// to compare with those the site published, the gaps with their reasons,
// and any playback window the server refused as tampered.

import * as api from "./api.js";
import * as state from "./state.js";
import { h, clear, showTime, fingerprint, isoTime, parseTime } from "./ui.js";

const MAX_VERIFY_MS = 24 * 3600e3;

export function verifyPanel({ range, cameras, players }) {
  const results = h("div", { class: "verify-results", id: "verify-results", "aria-live": "polite" });
  const refused = h("div", { class: "verify-refused" });
  const run = h("button", { type: "button", id: "verify-run", onclick: () => verifyNow() }, "Verify what is on screen");
  const srv = state.serverInfo() || {};
  const el = h("section", { class: "panel verify", "aria-label": "Verification" },
    h("h2", {}, "Verification"),
    h("dl", { class: "fps" },
      h("dt", {}, "Signer"), h("dd", {}, srv.signer ? h("span", {}, srv.signer) : null, fingerprint(srv.signer_sha256)),
      h("dt", {}, "Site CA"), h("dd", {}, fingerprint(srv.site_ca_sha256))),
    h("p", { class: "muted" }, "Compare these fingerprints with the ones your site published. Every playback is verified by the server before it is sent."),
    run, results, refused);
  let seq = 0;

  async function verifyNow() {
    const my = ++seq;
    const { from, to } = range();
    const f = Math.max(from, to - MAX_VERIFY_MS);
    clear(results);
    results.append(h("p", {}, `Verifying ${showTime(f, false)} – ${showTime(to, false)} UTC…`));
    run.disabled = true;
    const rows = await Promise.all(cameras().map(async (c) => {
      try {
        const j = await api.get(`/cameras/${api.enc(c)}/verify?from=${api.enc(isoTime(f))}&to=${api.enc(isoTime(to))}`);
        return { c, j };
      } catch (err) {
        return { c, err };
      }
    }));
    run.disabled = false;
    if (my !== seq) return;
    clear(results);
    const ul = h("ul", { class: "list" });
    for (const { c, j, err } of rows) {
      if (err) {
        const missing = err.code === "not_found" && /endpoint/.test(err.message) || err.code === "method";
        ul.append(h("li", { "data-camera": c, "data-result": "error" }, h("strong", {}, c), ": ",
          missing ? "this server has no verification endpoint; playback is still verified window by window (below)." : err.message));
        continue;
      }
      const intact = j.intact === true;
      const li = h("li", { "data-camera": c, "data-result": intact ? "intact" : "tampered", class: intact ? "ok" : "bad" },
        h("strong", {}, c), intact ? " ✔ intact" : " ✘ TAMPERED",
        h("small", { class: "muted" }, ` ${j.segments ?? "?"} segments`));
      if (!intact) {
        li.append(h("p", {}, `First failed segment from ${showTime(parseTime(j.failed_segment_start))}: ${j.reason || "no reason given"}`));
      }
      if (j.signer_sha256 && srv.signer_sha256 && j.signer_sha256 !== srv.signer_sha256) {
        li.append(h("p", { class: "bad" }, "Signed by another signer than this server's: ", fingerprint(j.signer_sha256)));
      }
      if (j.site_ca_sha256 && srv.site_ca_sha256 && j.site_ca_sha256 !== srv.site_ca_sha256) {
        li.append(h("p", { class: "bad" }, "Under another site CA: ", fingerprint(j.site_ca_sha256)));
      }
      const gaps = j.gaps || [];
      if (gaps.length) {
        li.append(h("ul", { class: "gaps" }, gaps.map((g) => h("li", {},
          `Gap ${showTime(parseTime(g.from))} – ${showTime(parseTime(g.to))}: ${g.reason || "no reason recorded"}` +
          `${g.signed === true ? " (signed record)" : g.signed === false ? " (no signed record)" : ""}`))));
      }
      ul.append(li);
    }
    results.append(ul);
  }

  let lastKey = "";
  return {
    el,
    tick() {
      const bad = players().filter((p) => p.tampered);
      const served = players().reduce((n, p) => n + p.windows, 0);
      const key = bad.map((p) => `${p.camera}${p.tampered.failed_segment_start}`).join() + served;
      if (key === lastKey) return;
      lastKey = key;
      clear(refused);
      refused.append(h("p", { class: "muted" }, `${served} playback window${served === 1 ? "" : "s"} verified by the server and played.`));
      for (const p of bad) {
        const t = p.tampered;
        refused.append(h("div", { class: "alert bad", role: "alert", "data-camera": p.camera },
          h("strong", {}, `${p.camera}: the server refused to play ${showTime(t.from, false)} – ${showTime(t.to, false)}: `),
          t.message || "tampered",
          h("br"), `First failed segment: ${t.failed_segment_start || "?"}${t.segment !== undefined ? ` (number ${t.segment})` : ""}`,
          h("br"), `Reason: ${t.reason || "?"}`));
      }
    },
    stop() {
      seq++;
    },
  };
}
