// The audit log, for holders of audit_read or admin: its verification
// (GET audit/verify) and its entries (GET audit) with filters.

import * as api from "./api.js";
import { h, clear, showTime, parseTime } from "./ui.js";

const PAGE = 200;

export function auditScreen() {
  const verdict = h("div", { class: "panel", id: "audit-verify", "aria-live": "polite" }, "Verifying the audit log…");
  const type = h("select", { id: "audit-type" }, h("option", { value: "" }, "all types"));
  const actor = h("input", { id: "audit-actor", placeholder: "user", size: 12 });
  const from = h("input", { id: "audit-from", placeholder: "from (UTC)", size: 20 });
  const to = h("input", { id: "audit-to", placeholder: "to (UTC)", size: 20 });
  const text = h("input", { id: "audit-text", placeholder: "words in the detail", size: 20 });
  const count = h("span", { class: "muted", "aria-live": "polite" });
  const table = h("table", { class: "data", id: "audit-table" });
  const more = h("button", { type: "button", class: "hidden", onclick: () => { shown += PAGE; render(); } }, "Show more");
  const filters = h("form", { class: "filters", role: "search", "aria-label": "Filter the audit log" },
    lab("Type", type), lab("User", actor), lab("From", from), lab("To", to), lab("Search", text),
    h("button", { type: "submit" }, "Filter"), h("button", { type: "button", onclick: () => load() }, "Reload"), count);
  const el = h("section", { class: "screen audit", "aria-label": "Audit log" },
    h("div", { class: "toolbar" }, h("h1", {}, "Audit log")), verdict, filters, table, more);
  let entries = [];
  let shown = PAGE;

  function lab(t, input) {
    return h("label", { class: "inline" }, `${t} `, input);
  }

  filters.addEventListener("submit", (e) => {
    e.preventDefault();
    shown = PAGE;
    render();
  });
  type.addEventListener("change", () => { shown = PAGE; render(); });

  async function verify() {
    try {
      const v = await api.get("/audit/verify");
      clear(verdict);
      verdict.className = `panel ${v.tampered ? "bad" : "ok"}`;
      verdict.dataset.tampered = String(!!v.tampered);
      verdict.append(h("strong", {}, v.tampered ? "✘ The audit log FAILED verification" : "✔ The audit log verifies"),
        h("p", {}, `${v.entries} entries, ${v.heads} signed tree heads, ${v.signed_entries} entries under a signed head, ` +
          `${v.unsigned_entries} not yet signed; newest head ${v.newest_head || "—"}.`),
        v.tampered ? h("p", {}, `First bad entry: ${v.first_bad_index}: ${v.reason}`) : null);
    } catch (x) {
      verdict.textContent = `Verification: ${x.message}`;
    }
  }

  async function load() {
    count.textContent = "Loading…";
    try {
      const j = await api.get("/audit?format=json");
      entries = (j.entries || []).slice().reverse();
    } catch (x) {
      count.textContent = x.message;
      return;
    }
    const types = [...new Set(entries.map((e) => e.type))].sort();
    const keep = type.value;
    clear(type).append(h("option", { value: "" }, "all types"), types.map((t) => h("option", { value: t, selected: t === keep }, t)));
    render();
  }

  function render() {
    const f = parseTime(from.value.trim().replace(" ", "T") + (from.value && !/Z$/.test(from.value) ? "Z" : ""));
    const t = parseTime(to.value.trim().replace(" ", "T") + (to.value && !/Z$/.test(to.value) ? "Z" : ""));
    const words = text.value.trim().toLowerCase();
    const list = entries.filter((e) => (!type.value || e.type === type.value) &&
      (!actor.value || e.actor === actor.value.trim()) &&
      (f === null || parseTime(e.time) >= f) && (t === null || parseTime(e.time) <= t) &&
      (!words || JSON.stringify(e.detail).toLowerCase().includes(words)));
    count.textContent = `${list.length} of ${entries.length} entries`;
    clear(table);
    table.append(h("thead", {}, h("tr", {}, ["#", "Time (UTC)", "Type", "User", "Source", "Detail"].map((x) => h("th", { scope: "col" }, x)))));
    const tb = h("tbody");
    for (const e of list.slice(0, shown)) {
      tb.append(h("tr", {}, h("td", {}, String(e.index)), h("td", {}, showTime(parseTime(e.time))), h("td", {}, e.type),
        h("td", {}, e.actor), h("td", {}, e.source), h("td", { class: "detail" }, h("code", {}, JSON.stringify(e.detail)))));
    }
    table.append(tb);
    more.classList.toggle("hidden", list.length <= shown);
  }

  verify();
  load();
  return { el, unmount() {} };
}
