// Rendering of each panel from API data. Text goes in with textContent only: nothing the API returns is
// ever parsed as HTML.

export function el(tag, { cls, text, data, title } = {}, ...children) {
  const element = document.createElement(tag);
  if (cls) element.className = cls;
  if (text !== undefined && text !== null) element.textContent = String(text);
  if (title) element.title = title;
  for (const [key, value] of Object.entries(data || {})) element.dataset[key] = value;
  element.append(...children.filter((c) => c !== null && c !== undefined));
  return element;
}

const money = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD", maximumFractionDigits: 0 });
export const fmtMoney = (v) => (v === null || v === undefined ? "–" : money.format(v));
const signed = (v) => (v === null || v === undefined ? "–" : `${v >= 0 ? "+" : ""}${money.format(v)}`);
const pct = (v) => (v === null || v === undefined ? "–" : `${(v * 100).toFixed(1)}%`);
const ms = (v) => (v === null || v === undefined ? "–" : v < 10 ? v.toFixed(2) : v.toFixed(0));
const short = (text, n = 90) => (text && text.length > n ? `${text.slice(0, n - 1)}…` : text || "");
export const when = (iso) => (iso ? iso.replace("T", " ").replace(/(\.\d+)?(\+00:00|Z)$/, "") : "");

function set(id, text, cls) {
  const target = document.getElementById(id);
  target.textContent = text;
  if (cls !== undefined) target.className = cls;
}

export function renderStatus(status, health) {
  const trading = status.trading.account;
  set("st-trading", `${trading.state.toUpperCase()}${trading.reason ? ` — ${short(trading.reason, 60)}` : ""}`,
    `state ${trading.state}`);
  set("st-tier", status.tier || "–");
  set("st-posture", `${status.posture}${status.posture_reason ? ` (${short(status.posture_reason, 50)})` : ""}`);
  if (health) {
    set("st-health", health.ready ? "ready" : `not ready (${health.status})`, health.ready ? "ok" : "bad");
    const list = document.getElementById("st-components");
    list.replaceChildren(
      ...(health.components || []).map((c) =>
        el("li", { cls: c.status === "ok" ? "ok" : "bad", text: `${c.component}: ${c.status}`, title: c.detail || "" }),
      ),
    );
  }
}

export function renderPortfolio(equity, chart) {
  const now = equity.now;
  set("pf-equity", fmtMoney(now.equity));
  set("pf-day", signed(now.day_pnl), now.day_pnl < 0 ? "bad" : "ok");
  set("pf-total", signed(now.total_pnl), now.total_pnl < 0 ? "bad" : "ok");
  set("pf-cash", `${fmtMoney(now.cash)} · ${Object.keys(now.holdings).length} holdings · ${now.open_orders} open orders`);
  chart(now, equity.by_day, equity.bots_by_day);
}

export function decisionRow(d, onOpen) {
  const guard = d.vetoed ? "veto" : d.guard_changes ? `${d.guard_changes} change${d.guard_changes > 1 ? "s" : ""}` : "";
  const row = el("tr", { cls: "clickable", data: { eventId: d.event_id }, title: "open the full record" },
    el("td", { text: when(d.decided_at) }),
    el("td", { cls: "mono", text: short(d.event_id, 34) }),
    el("td", { text: d.event_type }),
    el("td", { text: d.symbol || "" }),
    el("td", { text: d.bot_id || "" }),
    el("td", {}, el("span", { cls: `badge ${d.outcome}`, text: d.outcome })),
    el("td", { cls: d.vetoed ? "bad" : "", text: guard }),
    el("td", { cls: "num", text: ms(d.latency_ms) }),
    el("td", { cls: "reason", text: short(d.reason), title: d.reason }),
  );
  row.addEventListener("click", () => onOpen(d.event_id));
  return row;
}

export function renderLatency(report) {
  set("lat-window", `newest ${report.decisions} decisions`);
  document.getElementById("latency").replaceChildren(
    ...report.stages.map((s) =>
      el("tr", { cls: s.stage === "session" ? "total" : "" },
        el("td", { text: s.stage }),
        el("td", { cls: "num", text: s.count }),
        el("td", { cls: "num", text: ms(s.p50_ms) }),
        el("td", { cls: "num", text: ms(s.p95_ms) }),
        el("td", { cls: "num", text: ms(s.p99_ms) }),
      ),
    ),
  );
}

export function renderBots(bots) {
  const body = document.getElementById("bots");
  if (!bots.length) {
    body.replaceChildren(el("tr", {}, el("td", { cls: "note", text: "no bots registered" })));
    return;
  }
  body.replaceChildren(
    ...bots.map((b) =>
      el("tr", { data: { botId: b.bot_id } },
        el("td", { text: b.bot_id, title: b.strategy }),
        el("td", {}, el("span", { cls: `badge ${b.state}`, text: b.state, title: b.why || "" })),
        el("td", { cls: "num", text: pct(b.allocation) }),
        el("td", { cls: "num", text: signed(b.pnl) }),
        el("td", { cls: "num", text: pct(b.total_return) }),
        el("td", { cls: "num", text: b.sharpe === null || b.sharpe === undefined ? "–" : b.sharpe.toFixed(2) }),
      ),
    ),
  );
}

export function alertItem(a, canAct, onAck) {
  const acked = Boolean(a.acknowledged_at);
  const item = el("li", { cls: `alert ${a.level}${acked ? " acked" : ""}`, data: { alertId: a.alert_id } },
    el("div", { cls: "line" },
      el("span", { cls: `badge ${a.level}`, text: a.level }),
      el("strong", { text: a.kind }),
      el("span", { cls: "when", text: when(a.raised_at) }),
    ),
    el("div", { cls: "message", text: a.message }),
  );
  if (acked) {
    item.append(el("div", { cls: "note", text: `acknowledged by ${a.acknowledged_by} at ${when(a.acknowledged_at)}` }));
  } else if (canAct) {
    const button = el("button", { cls: "ack", text: "Acknowledge" });
    button.type = "button";
    button.addEventListener("click", () => onAck(a.alert_id, button));
    item.append(button);
  }
  return item;
}

export function approvalItem(a, canAct, onDecide) {
  const item = el("li", { cls: "approval", data: { approvalId: a.approval_id } },
    el("div", { cls: "line" },
      el("span", { cls: "badge pending", text: a.kind }),
      el("strong", { text: a.summary }),
    ),
    el("div", { cls: "note", text: `asked by ${a.requested_by} at ${when(a.created_at)} · needs ${a.needs}` +
      (a.expires_at ? ` · expires ${when(a.expires_at)}` : "") }),
  );
  if (canAct) {
    const reason = el("input", { cls: "reason-input" });
    reason.placeholder = "reason (recorded with your name)";
    reason.maxLength = 500;
    const approve = el("button", { cls: "approve", text: "Approve" });
    const reject = el("button", { cls: "reject", text: "Reject" });
    approve.type = reject.type = "button";
    approve.addEventListener("click", () => onDecide(a.approval_id, "approve", reason, [approve, reject]));
    reject.addEventListener("click", () => onDecide(a.approval_id, "reject", reason, [approve, reject]));
    item.append(el("div", { cls: "actions" }, reason, approve, reject));
  }
  return item;
}

export function decisionDetail(record) {
  const parts = [];
  parts.push(el("dl", { cls: "facts" },
    el("dt", { text: "Outcome" }), el("dd", {}, el("span", { cls: `badge ${record.outcome}`, text: record.outcome })),
    el("dt", { text: "Reason" }), el("dd", { text: record.reason }),
    el("dt", { text: "Event" }), el("dd", { cls: "mono", text: `${record.event_type} ${record.event_id}` }),
    el("dt", { text: "Decided at" }), el("dd", { text: when(record.decided_at) }),
    el("dt", { text: "Posture" }), el("dd", { text: record.posture || "–" }),
    el("dt", { text: "Chain" }), el("dd", { cls: "mono", text: record.correlation_id || record.event_id }),
    el("dt", { text: "Tokens / cost" }),
    el("dd", { text: `${record.llm_usage.input_tokens + record.llm_usage.output_tokens} / $${record.llm_usage.cost_usd.toFixed(4)}` }),
  ));
  parts.push(el("h3", { text: "Stages" }));
  parts.push(el("table", { cls: "rows" },
    el("thead", {}, el("tr", {}, ...["Stage", "Status", "ms", "Provider / model", "Prompt", "Reason"].map((h) => el("th", { text: h })))),
    el("tbody", {}, ...record.stages.map((s) =>
      el("tr", {},
        el("td", { text: s.stage }),
        el("td", {}, el("span", { cls: `badge ${s.status}`, text: s.status })),
        el("td", { cls: "num", text: ms(s.latency_ms) }),
        el("td", { text: [s.provider, s.model].filter(Boolean).join(" / ") }),
        el("td", { cls: "mono", text: s.prompt_id ? `${s.prompt_id} ${(s.prompt_hash || "").slice(0, 10)}` : "" }),
        el("td", { cls: "reason", text: short(s.reason || "", 120), title: s.reason || "" }),
      ))),
  ));
  if (record.verdict) {
    parts.push(el("h3", { text: "Validator" }), el("pre", { text: JSON.stringify(record.verdict, null, 2) }));
  }
  if (record.guard_changes.length) {
    parts.push(el("h3", { text: "Risk guard changes" }), el("ul", {}, ...record.guard_changes.map((g) =>
      el("li", { text: `${g.field}: ${g.before} → ${g.after} (${g.rule})` }))));
  }
  if (record.order) {
    const o = record.order;
    parts.push(el("h3", { text: "Order" }),
      el("p", { cls: "mono", text: `${o.order_id}: ${o.request.side} ${o.request.quantity} ${o.request.symbol} ${o.request.order_type || ""} — ${o.status}` }));
  }
  const raw = el("details", {}, el("summary", { text: "Full record (JSON)" }), el("pre", { text: JSON.stringify(record, null, 2) }));
  parts.push(raw);
  return parts;
}
