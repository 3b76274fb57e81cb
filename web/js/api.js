// The client of custodyd's API (docs/api.md). The access token lives in this
// module's variable and nowhere else: not in localStorage, sessionStorage, a
// cookie or a URL. A reload therefore asks to log in again; that is the point
// (docs/web-client.md, "The token").

const BASE = "/api/v1";

let token = null;        // the bearer token: memory only
let expiresAt = 0;       // ms, the client's clock
let renewTimer = null;
let onLost = null;       // called when the session ends without the user asking

/** The error every call throws: status, code and message from the server. */
export class ApiError extends Error {
  constructor(status, body, retryAfter) {
    const e = (body && body.error) || {};
    super(e.message || `HTTP ${status}`);
    this.status = status;
    this.code = e.code || "http";
    this.detail = e;             // tampered: camera, failed_segment_start, reason, segment
    this.retryAfter = retryAfter;
  }
}

export function loggedIn() {
  return token !== null;
}

/** Called with a reason when a renewal fails or the server refuses the token. */
export function onSessionLost(f) {
  onLost = f;
}

function adopt(j) {
  token = j.token;
  const secs = Number(j.expires_in) || 600;
  expiresAt = Date.now() + secs * 1000;
  clearTimeout(renewTimer);
  // renew at two thirds of the lifetime, at least 5 s before the end
  const inMs = Math.max(1000, Math.min(secs * 1000 * 2 / 3, secs * 1000 - 5000));
  renewTimer = setTimeout(renew, inMs);
}

const RENEW_RETRY_MS = 3000;   // a renewal that did not reach the server: try again

async function renew() {
  if (!token) return;
  try {
    const j = await call("POST", "/auth/renew");
    adopt(j);
  } catch (err) {
    // the server did not answer (restarting, the network): the token is
    // still good until it expires, so try again rather than end the session
    if (!(err instanceof ApiError) && token && Date.now() + RENEW_RETRY_MS < expiresAt) {
      clearTimeout(renewTimer);
      renewTimer = setTimeout(renew, RENEW_RETRY_MS);
      return;
    }
    if (!token) return;          // a 401: raw() has ended the session already
    forget();
    if (onLost) onLost(`the session could not be renewed: ${err.message}`);
  }
}

/** Drops the token from memory (no request). */
export function forget() {
  token = null;
  expiresAt = 0;
  clearTimeout(renewTimer);
  renewTimer = null;
}

export async function login(user, password) {
  const j = await call("POST", "/auth/login", { user, password }, { anonymous: true });
  adopt(j);
  return j;
}

/** Revokes the token on the server (best effort) and forgets it. */
export async function logout() {
  if (!token) return;
  try {
    await call("POST", "/auth/logout");
  } catch (_) {
    // the token may have expired already; it is forgotten either way
  }
  forget();
}

async function errorOf(r) {
  let body = null;
  try {
    body = await r.json();
  } catch (_) {
    body = null;
  }
  return new ApiError(r.status, body, r.headers.get("Retry-After"));
}

/** fetch with the token; returns the Response when it is 2xx, throws ApiError. */
export async function raw(method, path, { body, anonymous, signal, accept } = {}) {
  const headers = {};
  if (!anonymous) {
    if (!token) throw new ApiError(401, { error: { code: "unauthenticated", message: "not logged in" } });
    headers.Authorization = `Bearer ${token}`;
  }
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (accept) headers.Accept = accept;
  const r = await fetch(BASE + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: "no-store",
    credentials: "omit",
    redirect: "error",
    signal,
  });
  if (!r.ok) {
    const e = await errorOf(r);
    if (r.status === 401 && !anonymous && token && onLost) {
      forget();
      onLost(`the server ended the session: ${e.message}`);
    }
    throw e;
  }
  return r;
}

/** A JSON call; returns the parsed answer (null for 204). */
export async function call(method, path, body, opts = {}) {
  const r = await raw(method, path, { ...opts, body });
  if (r.status === 204) return null;
  const type = r.headers.get("Content-Type") || "";
  return type.startsWith("application/json") ? r.json() : r;
}

export const get = (path, opts) => call("GET", path, undefined, opts);

/** A signed URL for a media path (playback, still, live): valid 60 s. */
export async function signedUrl(path) {
  const j = await call("POST", "/media-urls", { path });
  return j.url;
}

export const enc = encodeURIComponent;
