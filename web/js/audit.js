// The audit log, for holders of audit_read or admin: its verification
// (GET audit/verify) and its entries, a page at a time from the server
// (GET audit?limit=&before=), newest first, with the filters applied by the
// server; "Show more" asks for the next page.

import * as api from "./api.js";
import { h, clear, showTime, parseTime, isoTime } from "./ui.js";

const PAGE = 200;               // entries a page (the server allows up to 1000)

export function auditScreen() {
  const verdict = h("div", { class: "panel", id: "audit-verify", "aria-live": "polite" }, "Verifying the audit log…");
  // a type is matched exactly by the server; the list offers those seen so far
  const typeList = h("datalist", { id: "audit-types" });
  const type = h("input", { id: "audit-type", list: "audit-types", placeholder: "all types", size: 18, maxlength: 128 });
  const actor = h("input", { id: "audit-actor", placeholder: "user", size: 12, maxlength: 128 });
  const from = h("input", { id: "audit-from", placeholder: "from (UTC)", size: 20 });
  const to = h("input", { id: "audit-to", placeholder: "to (UTC)", size: 20 });
  const text = h("input", { id: "audit-text", placeholder: "words in the detail", size: 20, maxlength: 128 });
  const count = h("span", { class: "muted", id: "audit-count", "aria-live": "polite" });
  const table = h("table", { class: "data", id: "audit-table" });
  const more = h("button", { type: "button", id: "audit-more", class: "hidden", onclick: () => page() }, "Show more");
  const filters = h("form", { class: "filters", role: "search", "aria-label": "Filter the audit log" },
    lab("Type", type), lab("User", actor), lab("From", from), lab("To", to), lab("Search", text),
    h("button", { type: "submit" }, "Filter"), h("button", { type: "button", onclick: () => load() }, "Reload"), count);
  const el = h("section", { class: "screen audit", "aria-label": "Audit log" },
    h("div", { class: "toolbar" }, h("h1", {}, "Audit log")), verdict, filters, typeList, table, more);
  const tbody = h("tbody");
  const types = new Set();
  let total = null;            // entries in the log, from audit/verify
  let shown = 0;
  let next = null;             // the next page's "before", or null: no more
  let query = "";              // the filters of the pages being shown
  let seq = 0;                 // a newer load makes older answers stale

  function lab(t, input) {
    return h("label", { class: "inline" }, `${t} `, input);
  }

  filters.addEventListener("submit", (e) => {
    e.preventDefault();
    load();
  });
  type.addEventListener("change", () => load());

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
      total = v.entries;
      showCount();
    } catch (x) {
      verdict.textContent = `Verification: ${x.message}`;
    }
  }

  const utc = (v) => {
    const s = v.trim().replace(" ", "T");
    return s ? parseTime(/[zZ]$/.test(s) ? s : `${s}Z`) : null;
  };

  /** The filters as query parameters; the server applies them (GET audit?limit=). */
  function filterQuery() {
    const q = new URLSearchParams();
    if (type.value.trim()) q.set("type", type.value.trim());
    if (actor.value.trim()) q.set("actor", actor.value.trim());
    if (text.value.trim()) q.set("q", text.value.trim());
    for (const [name, input] of [["from", from], ["to", to]]) {
      if (!input.value.trim()) continue;
      const t = utc(input.value);
      if (t === null) throw new Error(`${name}: give a time as 2026-01-31 12:00:00 (UTC)`);
      q.set(name, isoTime(t));
    }
    return q;
  }

  function load() {
    try {
      query = filterQuery().toString();
    } catch (x) {
      count.textContent = x.message;
      return;
    }
    seq++;
    shown = 0;
    next = null;
    clear(tbody);
    table.dataset.query = query;
    page(true);
  }

  /** The next page of PAGE entries, newest first, added under those shown. */
  async function page(first = false) {
    if (!first && next === null) return;
    const mine = seq;
    const q = new URLSearchParams(query);
    q.set("limit", String(PAGE));
    if (!first) q.set("before", String(next));
    more.disabled = true;
    count.textContent = "Loading…";
    let j;
    try {
      j = await api.get(`/audit?${q}`);
    } catch (x) {
      if (mine === seq) count.textContent = x.message;
      more.disabled = false;
      return;
    }
    if (mine !== seq) return;
    for (const e of j.entries || []) {
      types.add(e.type);
      tbody.append(h("tr", { "data-index": e.index }, h("td", {}, String(e.index)), h("td", {}, showTime(parseTime(e.time))),
        h("td", {}, e.type), h("td", {}, e.actor), h("td", {}, e.source),
        h("td", { class: "detail" }, h("code", {}, JSON.stringify(e.detail)))));
    }
    shown += (j.entries || []).length;
    next = j.more ? j.next_before : null;
    more.disabled = false;
    more.classList.toggle("hidden", next === null);
    fillTypes();
    showCount();
  }

  function fillTypes() {
    if (typeList.options.length === types.size) return;
    clear(typeList).append(...[...types].sort().map((t) => h("option", { value: t })));
  }

  function showCount() {
    const of = total !== null ? ` of ${total}` : "";
    count.textContent = query
      ? `${shown} matching entries shown${next !== null ? ", more on request" : ""} (${total ?? "?"} in the log)`
      : `${shown}${of} entries shown${next !== null ? ", more on request" : ""}`;
  }

  table.append(h("thead", {}, h("tr", {}, ["#", "Time (UTC)", "Type", "User", "Source", "Detail"].map((x) => h("th", { scope: "col" }, x)))), tbody);
  verify();
  load();
  return { el, unmount() { seq++; } };
}
