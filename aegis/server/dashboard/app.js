// The dashboard: sign in with a key or token, load the panels, keep them live from /api/stream.

import { api, ApiError, credential, forget, remember, routes } from "./api.js";
import { lineChart } from "./chart.js";
import {
  alertItem, approvalItem, decisionDetail, decisionRow, fmtMoney, renderBots, renderLatency, renderPortfolio,
  renderStatus,
} from "./panels.js";
import { LiveStream } from "./stream.js";

const MAX_DECISIONS = 50;
const $ = (id) => document.getElementById(id);
const view = { who: null, stream: null, decisions: new Set(), samples: [], timers: new Map(), received: 0 };

function canAct() {
  return view.who !== null && (view.who.role === "trade" || view.who.role === "admin");
}

function toast(text, bad = false) {
  const box = $("toast");
  box.textContent = text;
  box.className = bad ? "toast bad" : "toast";
  box.hidden = false;
  clearTimeout(view.timers.get("toast"));
  view.timers.set("toast", setTimeout(() => (box.hidden = true), 5000));
}

function failed(error) {
  if (error instanceof ApiError && error.status === 401) {
    logout("Your key or token was refused (expired or revoked?): sign in again.");
    return;
  }
  toast(error.message || String(error), true);
}

// Coalesce bursts: a replay can send many updates a second; each panel reloads at most every `wait` ms.
function soon(name, work, wait = 400) {
  if (view.timers.has(name)) return;
  view.timers.set(name, setTimeout(() => {
    view.timers.delete(name);
    work().catch(failed);
  }, wait));
}

// ---- panels ---------------------------------------------------------------------------------------

async function loadStatus() {
  const [status, health] = await Promise.all([api(routes.status), api(routes.health)]);
  renderStatus(status, health);
}

function drawEquity(now, byDay, botsByDay) {
  const chart = $("pf-chart");
  const note = $("pf-note");
  view.samples.push({ label: new Date().toLocaleTimeString(), value: now.equity });
  if (view.samples.length > 200) view.samples.shift();
  if (byDay.length) {
    const points = byDay.map((d) => ({ label: d.day, value: d.equity }));
    points.push({ label: "now", value: now.equity });
    lineChart(chart, points, { format: (v) => fmtMoney(v) });
    note.textContent = `equity at each reported day's close (${byDay.length} days), then now`;
  } else if (botsByDay.length) {
    const points = botsByDay.map((d) => ({ label: d.day, value: d.pnl }));
    lineChart(chart, points, { format: (v) => fmtMoney(v) });
    note.textContent = "the bots' P&L to date at each day's start (no daily report yet)";
  } else {
    lineChart(chart, view.samples, { format: (v) => fmtMoney(v) });
    note.textContent = "equity since this page opened (no daily report or bot day recorded yet)";
  }
}

async function loadPortfolio() {
  renderPortfolio(await api(routes.equity), drawEquity);
}

async function loadLatency() {
  renderLatency(await api(routes.latency));
}

async function loadBots() {
  renderBots((await api(routes.bots)).bots);
}

function addDecision(summary, atTop) {
  if (view.decisions.has(summary.event_id)) return;
  view.decisions.add(summary.event_id);
  const body = $("decisions");
  const row = decisionRow(summary, openDecision);
  if (atTop) {
    row.classList.add("fresh");
    body.prepend(row);
  } else {
    body.append(row);
  }
  while (body.children.length > MAX_DECISIONS) {
    view.decisions.delete(body.lastElementChild.dataset.eventId);
    body.lastElementChild.remove();
  }
  $("dec-count").textContent = `${body.children.length} shown · ${view.received} live`;
}

async function loadDecisions() {
  const listed = await api(routes.decisions);
  $("decisions").replaceChildren();
  view.decisions.clear();
  for (const d of listed.decisions) addDecision(d, false);
  $("dec-count").textContent = `${listed.decisions.length} shown · ${view.received} live`;
}

async function openDecision(eventId) {
  try {
    const record = await api(routes.decision(eventId));
    $("dlg-title").textContent = `Decision ${record.event_id}`;
    $("dlg-body").replaceChildren(...decisionDetail(record));
    $("decision-dialog").showModal();
  } catch (error) {
    failed(error);
  }
}

async function loadAlerts() {
  const { alerts } = await api(routes.alerts);
  const open = alerts.filter((a) => !a.acknowledged_at).length;
  $("alert-count").textContent = `${open} open`;
  $("alerts").replaceChildren(...alerts.map((a) => alertItem(a, canAct(), acknowledge)));
}

async function acknowledge(alertId, button) {
  button.disabled = true;
  try {
    await api(routes.acknowledge(alertId), { method: "POST" });
    toast(`alert ${alertId} acknowledged`);
    await loadAlerts();
  } catch (error) {
    button.disabled = false;
    failed(error);
  }
}

async function loadApprovals() {
  const { approvals } = await api(routes.approvals);
  const pending = approvals.filter((a) => a.status === "pending");
  $("approval-count").textContent = `${pending.length} pending`;
  $("approvals-note").textContent = canAct() ? "" : "Approving needs the trade or admin role; yours is read.";
  $("approvals").replaceChildren(...pending.map((a) => approvalItem(a, canAct(), decide)));
}

async function decide(approvalId, verb, input, buttons) {
  const reason = input.value.trim();
  if (reason.length < 3) {
    toast("give a reason (at least 3 characters): it is recorded with your name", true);
    input.focus();
    return;
  }
  buttons.forEach((b) => (b.disabled = true));
  try {
    const answer = await api(verb === "approve" ? routes.approve(approvalId) : routes.reject(approvalId), {
      method: "POST",
      body: { reason },
    });
    const outcome = answer.approval && answer.approval.result;
    const result = outcome ? ` — ${[outcome.outcome, outcome.reason].filter(Boolean).join(": ")}` : "";
    toast(`${approvalId} ${verb === "approve" ? "approved" : "rejected"}${result}`);
    await Promise.all([loadApprovals(), loadBots(), loadStatus()]);
  } catch (error) {
    buttons.forEach((b) => (b.disabled = false));
    failed(error);
  }
}

async function loadAll() {
  const results = await Promise.allSettled([
    loadStatus(), loadPortfolio(), loadDecisions(), loadLatency(), loadBots(), loadAlerts(), loadApprovals(),
  ]);
  const refused = results.find((r) => r.status === "rejected");
  if (refused) failed(refused.reason);
}

// ---- live updates ---------------------------------------------------------------------------------

function onEvent(kind, data) {
  switch (kind) {
    case "hello":
      loadAll(); // the stream is live: nothing after this point is missed
      break;
    case "decision":
      view.received += 1;
      addDecision(data, true);
      soon("portfolio", loadPortfolio);
      soon("latency", loadLatency, 1000);
      soon("bots", loadBots, 1000);
      break;
    case "alert":
      soon("alerts", loadAlerts, 100);
      soon("status", loadStatus);
      break;
    case "approvals":
      soon("approvals", loadApprovals, 100);
      break;
    case "status":
      soon("status", loadStatus, 100);
      break;
    case "resync":
      loadAll();
      break;
    default:
      break;
  }
}

function setLive(state) {
  const pill = $("live");
  pill.textContent = state;
  pill.className = `pill ${state === "live" ? "on" : "off"}`;
  document.body.dataset.live = state;
}

// ---- signing in and out ---------------------------------------------------------------------------

async function signIn() {
  view.who = await api(routes.whoami);
  $("who").textContent = `${view.who.name} · ${view.who.role}`;
  $("login").hidden = true;
  $("dashboard").hidden = false;
  $("logout").hidden = false;
  view.stream = new LiveStream(routes.stream, {
    onEvent,
    onState: setLive,
    onDenied: () => logout("The live stream refused your credentials: sign in again."),
  });
  view.stream.start();
  await loadAll(); // again when the stream says hello: from then on nothing is missed
}

function logout(message = "") {
  forget();
  if (view.stream) view.stream.stop();
  view.stream = null;
  view.who = null;
  $("who").textContent = "";
  $("dashboard").hidden = true;
  $("logout").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = message;
}

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = $("credential");
  const value = input.value.trim();
  input.value = "";
  if (!value) return;
  remember(value);
  try {
    await signIn();
    $("login-error").textContent = "";
  } catch (error) {
    forget();
    $("login-error").textContent =
      error instanceof ApiError && error.status === 401 ? `Not accepted: ${error.message}` : String(error.message || error);
  }
});
$("logout").addEventListener("click", () => logout());

if (credential()) signIn().catch(() => logout("Sign in again."));
