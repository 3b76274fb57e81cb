// What the client knows about the session: the user and their site-wide
// functions (GET me), the server (GET server: fingerprints, clock, client
// settings), and the cameras with their state (GET cameras, polled). Kept in
// memory only, like the token, and dropped at logout.

import * as api from "./api.js";

let me = null;
let server = null;
let cams = [];
let clockOffset = 0;           // server clock - client clock, ms
let pollTimer = null;
const listeners = new Set();
const prefs = new Map();

export const parse = (iso) => (iso ? Date.parse(iso) : null);

export async function load() {
  const t0 = Date.now();
  const [m, s] = await Promise.all([api.get("/me"), api.get("/server")]);
  const t1 = Date.now();
  me = m;
  server = s;
  const st = parse(s.time);
  if (st) clockOffset = st - (t0 + t1) / 2;
  await refreshCameras();
  clearInterval(pollTimer);
  pollTimer = setInterval(() => refreshCameras().catch(() => {}), 3000);
}

export async function refreshCameras() {
  const j = await api.get("/cameras");
  cams = (j.cameras || []).slice().sort((a, b) => a.name.localeCompare(b.name));
  listeners.forEach((f) => f(cams));
  return cams;
}

export function reset() {
  clearInterval(pollTimer);
  pollTimer = null;
  me = null;
  server = null;
  cams = [];
  listeners.clear();
  prefs.clear();
}

export const user = () => (me ? me.user : null);
export const siteFunctions = () => (me ? me.site_functions || [] : []);
export const isAdmin = () => siteFunctions().includes("admin");
export const mayAudit = () => isAdmin() || siteFunctions().includes("audit_read");
export const serverInfo = () => server;
export const cameras = () => cams;
export const camera = (name) => cams.find((c) => c.name === name) || null;

/** Whether the user has function fn on camera (or on any camera, when null). */
export function may(fn, cameraName = null) {
  if (isAdmin()) return true;
  if (cameraName === null) return cams.some((c) => (c.functions || []).includes(fn));
  const c = camera(cameraName);
  return !!c && ((c.functions || []).includes(fn) || (c.functions || []).includes("admin"));
}

/** The idle timeout in seconds: the server's client.idle_timeout_s, or 900. */
export function idleTimeout() {
  const v = server && server.client && Number(server.client.idle_timeout_s);
  return v && v > 0 ? v : 900;
}

/** The server's clock now, in ms (for latency against the wall clock). */
export const serverNow = () => Date.now() + clockOffset;

export function onCameras(f) {
  listeners.add(f);
  return () => listeners.delete(f);
}

export const pref = (k, d) => (prefs.has(k) ? prefs.get(k) : d);
export const setPref = (k, v) => prefs.set(k, v);
