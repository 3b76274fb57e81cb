// The shell: login, the session (renewal, logout, idle timeout), navigation
// between the screens, keyboard shortcuts and the help overlay.

import * as api from "./api.js";
import * as state from "./state.js";
import { h, clear, toast, modal, field, showDuration } from "./ui.js";
import { liveScreen } from "./live.js";
import { playbackScreen } from "./playback.js";
import { exportsScreen } from "./exports.js";
import { auditScreen } from "./audit.js";
import { adminScreen } from "./admin.js";

const app = document.getElementById("app");
let current = null;              // {el, unmount, key?}
let idleTimer = null;
let idleDeadline = 0;
let lastActivity = 0;
let shell = null;

const SCREENS = [
  { id: "live", label: "Live", show: () => state.may("live"), make: (o) => liveScreen(o) },
  { id: "playback", label: "Playback", show: () => state.may("playback"), make: (o) => playbackScreen(o) },
  { id: "exports", label: "Exports", show: () => state.may("export"), make: () => exportsScreen() },
  { id: "audit", label: "Audit log", show: () => state.mayAudit(), make: () => auditScreen() },
  { id: "admin", label: "Administration", show: () => state.isAdmin(), make: () => adminScreen() },
];

// ---------------------------------------------------------------- login

function loginScreen(message) {
  stopScreen();
  clear(app);
  const user = h("input", { name: "user", autocomplete: "username", required: true, maxlength: 256, autofocus: true });
  const pass = h("input", { name: "password", type: "password", autocomplete: "current-password", required: true, maxlength: 1024 });
  const msg = h("p", { class: "form-error", role: "alert", id: "login-error" }, message || "");
  const submit = h("button", { type: "submit", class: "primary" }, "Log in");
  const form = h("form", { class: "login", "aria-describedby": "login-error", novalidate: true },
    h("h1", {}, "custody"),
    h("p", { class: "muted" }, "Video management — recorded video is evidence. Every view is logged."),
    field("User name", user), field("Password", pass), msg, submit);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    msg.textContent = "";
    if (!user.value || !pass.value) {
      msg.textContent = "Enter your user name and password.";
      return;
    }
    submit.disabled = true;
    try {
      await api.login(user.value, pass.value);
      pass.value = "";
      await start();
    } catch (err) {
      pass.value = "";
      msg.textContent = loginError(err);
      submit.disabled = false;
      pass.focus();
    }
  });
  app.append(h("main", { class: "login-page" }, form), h("div", { id: "toasts", class: "toasts" }));
  user.focus();
}

function loginError(err) {
  if (err.code === "bad_credentials") return "Wrong user name or password.";
  if (err.code === "locked" || err.code === "throttled") {
    const s = Number(err.retryAfter);
    const when = Number.isFinite(s) && s > 0 ? ` Try again in ${showDuration(s)}.` : "";
    const what = err.code === "locked"
      ? "This account is locked after too many failed logins."
      : "Too many failed logins from this computer.";
    return `${what}${when} (${err.message})`;
  }
  if (err instanceof TypeError) return "The server cannot be reached.";
  return err.message;
}

// ---------------------------------------------------------------- session

async function start() {
  try {
    await state.load();
  } catch (err) {
    api.forget();
    loginScreen(`Logged in, but the server's answers failed: ${err.message}`);
    return;
  }
  armIdle();
  buildShell();
  route();
}

/** Ends the session: stops every video and socket, empties the page, revokes
 *  the token (best effort) and shows the login form with the reason. */
async function end(reason) {
  disarmIdle();
  stopScreen();
  document.querySelectorAll("dialog").forEach((d) => d.remove());
  clear(app);
  shell = null;
  state.reset();
  await api.logout();
  loginScreen(reason);
}

api.onSessionLost((why) => {
  disarmIdle();
  stopScreen();
  clear(app);
  shell = null;
  state.reset();
  loginScreen(`Logged out: ${why}.`);
});

const ACTIVITY = ["pointerdown", "keydown", "wheel", "pointermove", "touchstart"];

function activity() {
  lastActivity = Date.now();
}

function armIdle() {
  const secs = state.idleTimeout();
  lastActivity = Date.now();
  ACTIVITY.forEach((ev) => window.addEventListener(ev, activity, { passive: true, capture: true }));
  clearInterval(idleTimer);
  idleTimer = setInterval(() => {
    idleDeadline = lastActivity + secs * 1000;
    const left = idleDeadline - Date.now();
    const warn = document.getElementById("idle-warning");
    if (left <= 0) {
      end(`no activity for ${showDuration(secs)}: logged out and the screen cleared`);
    } else if (warn) {
      warn.textContent = left < 60000 ? `Idle: logging out in ${Math.ceil(left / 1000)} s` : "";
    }
  }, 1000);
}

function disarmIdle() {
  clearInterval(idleTimer);
  idleTimer = null;
  ACTIVITY.forEach((ev) => window.removeEventListener(ev, activity, { capture: true }));
}

// ---------------------------------------------------------------- shell

function buildShell() {
  clear(app);
  const nav = h("nav", { "aria-label": "Screens" });
  for (const s of SCREENS) {
    if (!s.show()) continue;
    nav.append(h("a", { href: `#${s.id}`, "data-screen": s.id }, s.label));
  }
  const main = h("main", { id: "main", tabindex: "-1" });
  const header = h("header", { class: "top" },
    h("span", { class: "brand" }, "custody"), nav, h("span", { class: "spacer" }),
    h("span", { id: "idle-warning", class: "warn", "aria-live": "polite" }),
    h("span", { class: "who", title: "Logged in user" }, state.user()),
    h("button", { type: "button", class: "icon", "aria-label": "Keyboard shortcuts", title: "Keyboard shortcuts (?)", onclick: help }, "?"),
    h("button", { type: "button", id: "logout", onclick: () => end("you logged out") }, "Log out"));
  app.append(header, main, h("div", { id: "toasts", class: "toasts" }));
  shell = { nav, main };
}

function stopScreen() {
  if (current) {
    try {
      current.unmount();
    } catch (_) { /* going anyway */ }
    current = null;
  }
}

function route() {
  if (!shell) return;
  const [id, query] = (location.hash.slice(1) || "").split("?");
  const visible = SCREENS.filter((s) => s.show());
  const scr = visible.find((s) => s.id === id) || visible[0];
  stopScreen();
  clear(shell.main);
  for (const a of shell.nav.children) {
    if (a.dataset.screen === (scr && scr.id)) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  if (!scr) {
    shell.main.append(h("p", { class: "empty" }, "Your account has no function on any camera. Ask an administrator."));
    return;
  }
  const opts = Object.fromEntries(new URLSearchParams(query || ""));
  current = scr.make(opts);
  shell.main.append(current.el);
}

window.addEventListener("hashchange", route);

// ---------------------------------------------------------------- keys

const SHORTCUTS = [
  ["Space", "play / pause (playback)"],
  [",", "back one frame (pauses)"],
  [".", "forward one frame (pauses)"],
  ["p", "previous bookmark"],
  ["n", "next bookmark"],
  ["+ / −", "zoom the timeline in / out"],
  ["l", "live view"],
  ["b", "playback"],
  ["?", "this help"],
  ["Esc", "close a dialog; back to the grid"],
];

function help() {
  if (document.getElementById("help")) return;
  const rows = SHORTCUTS.map(([k, what]) => h("tr", {}, h("th", { scope: "row" }, h("kbd", {}, k)), h("td", {}, what)));
  modal("Keyboard shortcuts", h("div", { id: "help" },
    h("table", { class: "shortcuts" }, h("tbody", {}, rows)),
    h("p", { class: "muted" }, "Shortcuts are off while typing in a field. Times are shown in UTC.")));
}

window.addEventListener("keydown", (e) => {
  if (!shell || e.ctrlKey || e.metaKey || e.altKey) return;
  const t = e.target;
  if (t && (t.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(t.tagName))) return;
  if (document.querySelector("dialog[open]") && e.key !== "?") return;
  if (current && current.key && current.key(e)) {
    e.preventDefault();
    return;
  }
  if (e.key === "?") {
    e.preventDefault();
    help();
  } else if (e.key === "l" && state.may("live")) {
    location.hash = "#live";
  } else if (e.key === "b" && state.may("playback")) {
    location.hash = "#playback";
  }
});

// The page starts at the login form: a reload has no token (by design).
if (typeof MediaSource === "undefined") {
  toast("This browser has no Media Source Extensions: video cannot play.", "error");
}
loginScreen();
