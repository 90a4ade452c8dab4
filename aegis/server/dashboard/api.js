// Calls to the AEGIS API with the credential the user pasted. The credential lives in this tab's
// sessionStorage only and travels in the Authorization header: never in a URL, a cookie or a log.

const STORAGE_KEY = "aegis.credential";

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

export function credential() {
  return sessionStorage.getItem(STORAGE_KEY);
}

export function remember(value) {
  sessionStorage.setItem(STORAGE_KEY, value);
}

export function forget() {
  sessionStorage.removeItem(STORAGE_KEY);
}

export function authHeaders() {
  const held = credential();
  return held ? { Authorization: `Bearer ${held}` } : {};
}

export async function api(path, { method = "GET", body } = {}) {
  const headers = { Accept: "application/json", ...authHeaders() };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const answer = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: "no-store",
    credentials: "omit",
  });
  let parsed = null;
  try {
    parsed = await answer.json();
  } catch {
    parsed = null;
  }
  if (!answer.ok) {
    const detail = parsed && typeof parsed.detail === "string" ? parsed.detail : `HTTP ${answer.status}`;
    throw new ApiError(answer.status, detail);
  }
  return parsed;
}

// The routes the dashboard calls, in one place.
export const routes = {
  whoami: "/api/whoami",
  health: "/api/health",
  status: "/api/status",
  equity: "/api/dashboard/equity",
  latency: "/api/dashboard/latency",
  decisions: "/api/decisions?limit=50",
  decision: (id) => `/api/decisions/${encodeURIComponent(id)}`,
  bots: "/api/bots",
  alerts: "/api/alerts?limit=30",
  acknowledge: (id) => `/api/alerts/${encodeURIComponent(id)}/acknowledge`,
  approvals: "/api/approvals",
  approve: (id) => `/api/approvals/${encodeURIComponent(id)}/approve`,
  reject: (id) => `/api/approvals/${encodeURIComponent(id)}/reject`,
  stream: "/api/stream",
};
