// Hookline dashboard: a small hash-routed page over the management API. No framework, no
// build step; every value shown goes through textContent.
"use strict";

const session = {
  get token() { return sessionStorage.getItem("hookline.token"); },
  get app() { return sessionStorage.getItem("hookline.app"); },
  save(token, app) {
    sessionStorage.setItem("hookline.token", token);
    if (app) sessionStorage.setItem("hookline.app", app); else sessionStorage.removeItem("hookline.app");
  },
  clear() { sessionStorage.removeItem("hookline.token"); sessionStorage.removeItem("hookline.app"); },
};

class ApiError extends Error {
  constructor(status, body) {
    super(body && body.detail ? `${body.detail}` : `HTTP ${status}`);
    this.status = status;
  }
}

// A 401 outside sign-in means the token was revoked or expired: back to the sign-in form.
async function api(method, path, body, { signingIn = false } = {}) {
  const res = await fetch(path, {
    method,
    headers: Object.assign(
      { Authorization: `Bearer ${session.token}` },
      body === undefined ? {} : { "Content-Type": "application/json" },
    ),
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  const data = text ? JSON.parse(text) : null;
  if (res.status === 401 && !signingIn) { session.clear(); route(); }
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

// ---- DOM helpers -------------------------------------------------------------------------

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

const view = () => document.getElementById("view");
const app = (id) => `/api/v1/app/${encodeURIComponent(id)}`;

function show(...nodes) { view().replaceChildren(...nodes); }

function crumbs(...parts) {
  document.getElementById("crumbs").replaceChildren(
    ...parts.map(([label, href]) => h("span", {}, href ? h("a", { href }, label) : label)),
  );
}

function when(ts) {
  if (!ts) return "—";
  const d = new Date(ts);
  return d.toLocaleString(undefined, { dateStyle: "short", timeStyle: "medium" });
}

function percent(x) { return x === null || x === undefined ? "—" : `${Math.round(x * 1000) / 10}%`; }

function statusPill(text) {
  const kind = { success: "ok", pending: "warn", sending: "warn", fail: "bad" }[text] || "";
  return h("span", { class: `pill ${kind}` }, text);
}

function breakerPill(state) {
  const kind = { closed: "ok", "half-open": "warn", open: "bad" }[state] || "";
  return h("span", { class: `pill ${kind}`, "data-testid": "breaker" }, state);
}

function table(headers, rows, empty) {
  if (!rows.length) return h("p", { class: "muted" }, empty);
  return h("table", {}, h("thead", {}, h("tr", {}, headers.map((t) => h("th", {}, t)))), h("tbody", {}, rows));
}

// Fills `target` with a list endpoint's first page as a table, and a "Show more" button that
// appends the next page (the API's `iterator`) for as long as the API says there is more.
// `rowsOf` turns a page's `data` into rows, and may be async.
async function pagedTable(target, path, headers, rowsOf, empty) {
  const next = (iterator) => `${path}${path.includes("?") ? "&" : "?"}iterator=${encodeURIComponent(iterator)}`;
  const first = await api("GET", path);
  const rows = await rowsOf(first.data);
  const shown = table(headers, rows, empty);
  const more = h("button", { class: "secondary", "data-testid": "more", hidden: first.done || !rows.length }, "Show more");
  let iterator = first.iterator;
  more.addEventListener("click", async () => {
    more.disabled = true;
    try {
      const page = await api("GET", next(iterator));
      shown.querySelector("tbody").append(...await rowsOf(page.data));
      iterator = page.iterator;
      more.hidden = page.done || !page.data.length;
      more.disabled = false;
    } catch (err) { more.replaceWith(failure(err)); }
  });
  target.replaceChildren(shown, more);
}

function failure(err) { return h("p", { class: "error", role: "alert" }, err.message); }

// ---- views -------------------------------------------------------------------------------

function login() {
  crumbs();
  document.getElementById("logout").hidden = true;
  const form = document.getElementById("login-template").content.cloneNode(true);
  show(form);
  document.getElementById("login").addEventListener("submit", async (e) => {
    e.preventDefault();
    const token = document.getElementById("token").value.trim();
    const error = document.getElementById("login-error");
    session.save(token);
    try {
      await api("GET", "/api/v1/app?limit=1", undefined, { signingIn: true });
    } catch (err) {
      if (err.status !== 403) {
        session.clear();
        error.textContent = err.status === 401 ? "That token is not accepted." : err.message;
        error.hidden = false;
        return;
      }
    }
    location.hash = "#/";
    route();
  });
}

async function overview() {
  crumbs(["Overview"]);
  const status = h("section", { id: "status" }, h("p", { class: "muted" }, "Loading…"));
  const apps = h("section", {}, h("p", { class: "muted" }, "Loading…"));
  show(h("h1", {}, "Overview"), status, h("h2", {}, "Applications"), apps);
  refreshStatus(status);
  try {
    await pagedTable(apps, "/api/v1/app?limit=100", ["Name", "Id", "Uid", "Created"],
      (data) => data.map((a) => h("tr", { class: "clickable", onclick: () => { location.hash = `#/app/${a.id}`; } },
        h("td", {}, h("a", { href: `#/app/${a.id}` }, a.name)), h("td", { class: "mono" }, a.id),
        h("td", {}, a.uid || "—"), h("td", {}, when(a.createdAt)))),
      "No applications yet.");
  } catch (err) { apps.replaceChildren(failure(err)); }
}

let statusTimer = null;

async function refreshStatus(target) {
  clearTimeout(statusTimer);
  if (!target.isConnected) return;
  try {
    const s = await api("GET", "/api/v1/status");
    const canvas = h("canvas", { id: "throughput", width: 1100, height: 160 });
    target.replaceChildren(
      h("div", { class: "grid" },
        tile("Due now", s.queue.due), tile("Scheduled", s.queue.delayed),
        tile("Sending", s.queue.sending), tile("Failed", s.queue.failed),
        tile("Oldest due", s.queue.oldestDueSeconds === null ? "—" : `${Math.round(s.queue.oldestDueSeconds)} s`),
        tile("Delivered / min", s.lastMinute.delivered), tile("Failed / min", s.lastMinute.failed)),
      h("h2", {}, "Attempts, last 5 minutes"),
      canvas,
      h("div", { class: "legend" }, h("span", {}, h("i", { class: "sw-ok" }), "delivered"),
        h("span", {}, h("i", { class: "sw-bad" }), "failed")),
      h("h2", {}, "Open breakers"),
      table(["Endpoint", "Application", "State", "Since", "Next probe"],
        s.openBreakers.map((b) => h("tr", {},
          h("td", {}, h("a", { href: `#/app/${b.appId}/endpoint/${b.endpointId}` }, b.url)),
          h("td", { class: "mono" }, b.appId), h("td", {}, breakerPill(b.state)),
          h("td", {}, when(b.since)), h("td", {}, when(b.nextProbeAt)))),
        "Every breaker is closed."),
    );
    drawChart(canvas, s.throughput);
  } catch (err) {
    target.replaceChildren(failure(err));
    if (err.status === 403) return;
  }
  statusTimer = setTimeout(() => refreshStatus(target), 3000);
}

function tile(label, value) { return h("div", { class: "stat" }, h("b", {}, value), h("span", {}, label)); }

function drawChart(canvas, buckets) {
  const ctx = canvas.getContext("2d");
  const { width, height } = canvas;
  ctx.clearRect(0, 0, width, height);
  const max = Math.max(1, ...buckets.map((b) => b.delivered + b.failed));
  const slot = width / Math.max(1, buckets.length);
  buckets.forEach((b, i) => {
    const ok = (b.delivered / max) * (height - 10);
    const bad = (b.failed / max) * (height - 10);
    ctx.fillStyle = "#198754";
    ctx.fillRect(i * slot + 1, height - ok, slot - 2, ok);
    ctx.fillStyle = "#c0362c";
    ctx.fillRect(i * slot + 1, height - ok - bad, slot - 2, bad);
  });
  ctx.fillStyle = "#667085";
  ctx.font = "11px system-ui";
  ctx.fillText(`${max} per bucket`, 6, 12);
}

async function application(appId) {
  crumbs(...(session.app ? [] : [["Overview", "#/"]]), [appId]);
  const head = h("h1", {}, appId);
  const endpoints = h("section", {}, h("p", { class: "muted" }, "Loading…"));
  const messages = h("section", {}, h("p", { class: "muted" }, "Loading…"));
  show(head, h("h2", {}, "Endpoints"), endpoints, h("h2", {}, "Recent messages"), messages);
  try {
    const a = await api("GET", app(appId));
    head.textContent = a.name;
    crumbs(...(session.app ? [] : [["Overview", "#/"]]), [a.name]);
  } catch (err) { head.after(failure(err)); }
  try {
    await pagedTable(endpoints, `${app(appId)}/endpoint?limit=50`,
      ["URL", "Breaker", "Success", "p50 / p99", "Backlog", "In flight", ""],
      async (data) => {
        const health = await Promise.all(data.map((ep) =>
          api("GET", `${app(appId)}/endpoint/${ep.id}/health`).catch(() => null)));
        return data.map((ep, i) => {
          const hl = health[i];
          return h("tr", { class: "clickable", "data-endpoint": ep.id, onclick: () => { location.hash = `#/app/${appId}/endpoint/${ep.id}`; } },
            h("td", {}, h("a", { href: `#/app/${appId}/endpoint/${ep.id}` }, ep.url), ep.description ? h("div", { class: "muted" }, ep.description) : null),
            h("td", {}, hl ? breakerPill(hl.breaker.state) : "—"),
            h("td", {}, hl ? percent(hl.recent.successRate) : "—"),
            h("td", {}, hl && hl.recent.latencyP50Ms !== null ? `${hl.recent.latencyP50Ms} / ${hl.recent.latencyP99Ms} ms` : "—"),
            h("td", {}, hl ? hl.backlog : "—"),
            h("td", {}, hl ? hl.inFlight : "—"),
            h("td", {}, ep.disabled ? h("span", { class: "pill bad" }, "disabled") : ""));
        });
      },
      "No endpoints yet.");
  } catch (err) { endpoints.replaceChildren(failure(err)); }
  try {
    await pagedTable(messages, `${app(appId)}/msg?limit=25&with_content=false`, ["Message", "Event type", "Created"],
      (data) => data.map((m) => h("tr", { class: "clickable", "data-message": m.id, onclick: () => { location.hash = `#/app/${appId}/msg/${m.id}`; } },
        h("td", { class: "mono" }, h("a", { href: `#/app/${appId}/msg/${m.id}` }, m.id)),
        h("td", {}, m.eventType), h("td", {}, when(m.timestamp)))),
      "No messages yet.");
  } catch (err) { messages.replaceChildren(failure(err)); }
}

function attemptRows(appId, attempts, { showEndpoint }) {
  return attempts.map((a) => h("tr", { "data-attempt": a.id },
    h("td", {}, when(a.timestamp)),
    h("td", {}, statusPill(a.statusText)),
    h("td", {}, a.responseStatusCode || "—", a.errorClass ? h("div", { class: "muted" }, a.errorClass) : null),
    h("td", {}, `${a.responseDurationMs} ms`),
    showEndpoint
      ? h("td", {}, h("a", { href: `#/app/${appId}/endpoint/${a.endpointId}` }, a.url))
      : h("td", { class: "mono" }, h("a", { href: `#/app/${appId}/msg/${a.msgId}` }, a.msgId)),
    h("td", {}, a.response ? h("pre", { class: "response" }, a.response) : h("span", { class: "muted" }, "no body")),
    h("td", {}, h("button", {
      class: "secondary", "data-testid": "resend",
      onclick: (e) => resend(e.target, appId, a.msgId, a.endpointId),
    }, "Resend"))));
}

async function resend(button, appId, msgId, endpointId) {
  button.disabled = true;
  button.textContent = "Queued…";
  const attempts = `${app(appId)}/attempt/msg/${msgId}?endpoint_id=${encodeURIComponent(endpointId)}&limit=250`;
  try {
    const before = (await api("GET", attempts)).data.length;
    await api("POST", `${app(appId)}/msg/${msgId}/endpoint/${endpointId}/resend`);
    // Show the page again once the new attempt is recorded (or after ~15 s regardless).
    for (let i = 0; i < 30; i++) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      if ((await api("GET", attempts)).data.length > before) break;
    }
    route();
  } catch (err) {
    button.replaceWith(failure(err));
  }
}

async function endpoint(appId, endpointId) {
  crumbs(...(session.app ? [] : [["Overview", "#/"]]), [appId, `#/app/${appId}`], [endpointId]);
  const head = h("h1", {}, endpointId);
  const health = h("section", {});
  const notice = h("div", {});
  const recover = h("form", { class: "actions", id: "recover" },
    h("span", {}, "Re-send failed deliveries of the last"),
    h("select", { id: "recover-since" }, ["1h", "6h", "24h", "7d"].map((v) => h("option", { value: v }, v))),
    h("button", { type: "submit" }, "Recover"));
  recover.addEventListener("submit", async (e) => {
    e.preventDefault();
    const hours = { "1h": 1, "6h": 6, "24h": 24, "7d": 168 }[document.getElementById("recover-since").value];
    const since = new Date(Date.now() - hours * 3600e3).toISOString();
    try {
      await api("POST", `${app(appId)}/endpoint/${endpointId}/recover`, { since });
      notice.replaceChildren(h("p", { class: "notice" }, "Failed deliveries re-queued."));
      setTimeout(route, 1500);
    } catch (err) { notice.replaceChildren(failure(err)); }
  });
  const attempts = h("section", {}, h("p", { class: "muted" }, "Loading…"));
  show(head, health, recover, notice, h("h2", {}, "Attempts"), attempts);
  try {
    const [ep, hl] = await Promise.all([
      api("GET", `${app(appId)}/endpoint/${endpointId}`),
      api("GET", `${app(appId)}/endpoint/${endpointId}/health`),
    ]);
    head.textContent = ep.url;
    health.replaceChildren(h("div", { class: "grid" },
      h("div", { class: "stat" }, h("b", {}, breakerPill(hl.breaker.state)), h("span", {}, "Breaker")),
      tile("Success (recent)", percent(hl.recent.successRate)),
      tile("p50 / p99", hl.recent.latencyP50Ms === null ? "—" : `${hl.recent.latencyP50Ms} / ${hl.recent.latencyP99Ms} ms`),
      tile("Backlog", hl.backlog), tile("In flight", `${hl.inFlight} / ${hl.concurrencyLimit}`),
      tile("Rate limit", hl.rateLimit === null ? "none" : `${hl.rateLimit}/s`)),
    ep.disabled ? h("p", { class: "error" }, `Disabled${ep.disabledReason ? `: ${ep.disabledReason}` : ""}`) : "");
  } catch (err) { health.replaceChildren(failure(err)); }
  try {
    await pagedTable(attempts, `${app(appId)}/attempt/endpoint/${endpointId}?limit=50`,
      ["When", "Status", "Code", "Took", "Message", "Response", ""],
      (data) => attemptRows(appId, data, { showEndpoint: false }), "No attempts yet.");
  } catch (err) { attempts.replaceChildren(failure(err)); }
}

async function message(appId, msgId) {
  crumbs(...(session.app ? [] : [["Overview", "#/"]]), [appId, `#/app/${appId}`], [msgId]);
  const body = h("section", {}, h("p", { class: "muted" }, "Loading…"));
  const attempts = h("section", {}, h("p", { class: "muted" }, "Loading…"));
  show(h("h1", { class: "mono" }, msgId), body, h("h2", {}, "Attempts"), attempts);
  try {
    const m = await api("GET", `${app(appId)}/msg/${msgId}`);
    body.replaceChildren(h("p", {}, h("b", {}, m.eventType), " · ", when(m.timestamp)),
      h("pre", { class: "response" }, JSON.stringify(m.payload, null, 2)));
  } catch (err) { body.replaceChildren(failure(err)); }
  try {
    await pagedTable(attempts, `${app(appId)}/attempt/msg/${msgId}?limit=100`,
      ["When", "Status", "Code", "Took", "Endpoint", "Response", ""],
      (data) => attemptRows(appId, data, { showEndpoint: true }), "No attempts yet.");
  } catch (err) { attempts.replaceChildren(failure(err)); }
}

// ---- routing -----------------------------------------------------------------------------

function adoptFragmentToken() {
  // App-portal links carry the token in the fragment: #token=…&app=…
  const params = new URLSearchParams(location.hash.replace(/^#\/?/, ""));
  const token = params.get("token");
  if (!token) return;
  session.save(token, params.get("app"));
  history.replaceState(null, "", location.pathname + (params.get("app") ? `#/app/${params.get("app")}` : "#/"));
}

function route() {
  adoptFragmentToken();
  if (!session.token) return login();
  document.getElementById("logout").hidden = false;
  const parts = location.hash.replace(/^#\/?/, "").split("/").filter(Boolean).map(decodeURIComponent);
  if (parts[0] === "app" && parts[1]) {
    if (parts[2] === "endpoint" && parts[3]) return endpoint(parts[1], parts[3]);
    if (parts[2] === "msg" && parts[3]) return message(parts[1], parts[3]);
    return application(parts[1]);
  }
  if (session.app) return application(session.app);
  return overview();
}

window.addEventListener("hashchange", route);
window.addEventListener("DOMContentLoaded", () => {
  document.getElementById("logout").addEventListener("click", () => {
    session.clear();
    location.hash = "#/";
    route();
  });
  route();
});
