// The Teleport dashboard: renders /api/migrations/stream (Server-Sent Events) and, with an operator token that
// /api/session accepts, offers retry and cancel. No framework, no build step.
"use strict";

const view = { migrations: [], session: { actions: false, authorized: false }, token: sessionStorage.getItem("teleport-token") || "" };
const $ = (id) => document.getElementById(id);

function esc(text) {
  return String(text ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}

function bytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (Math.abs(n) >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? n : n.toFixed(1)) + " " + units[i];
}

const ms = (v) => (v == null ? "–" : v < 1000 ? Math.round(v) + " ms" : (v / 1000).toFixed(1) + " s");

function authHeaders() {
  return view.token ? { Authorization: "Bearer " + view.token } : {};
}

// Dirty blocks left after each round, as bars.
function dirtyChart(points) {
  const w = 240, h = 90, max = Math.max(1, ...points.map((p) => p.dirtyBlocks));
  const bw = points.length ? Math.min(24, (w - 10) / points.length) : 0;
  const bars = points.map((p, i) => {
    const bh = Math.max(1, (p.dirtyBlocks / max) * (h - 20));
    return `<rect class="dirty" x="${5 + i * bw}" y="${h - 12 - bh}" width="${Math.max(1, bw - 2)}" height="${bh}"><title>round ${p.round}: ${p.dirtyBlocks} dirty</title></rect>`;
  }).join("");
  return `<svg class="chart-dirty" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}">${bars}<text x="5" y="10">max ${max}</text><text x="5" y="${h - 2}">rounds 1–${points.length}</text></svg>`;
}

// Bytes on the wire over time, from the request to each round (and the final total).
function bytesChart(m) {
  const w = 240, h = 90;
  const start = m.requestedAt ? Date.parse(m.requestedAt) : null;
  const pts = m.roundPoints.map((p) => [Date.parse(p.at), p.bytesOnWire]);
  if (start != null) pts.unshift([start, 0]);
  if (m.final && pts.length) pts.push([pts[pts.length - 1][0], m.figures.bytesOnWire]);
  const t0 = pts.length ? pts[0][0] : 0, t1 = pts.length ? pts[pts.length - 1][0] : 1;
  const ymax = Math.max(1, ...pts.map((p) => p[1]));
  const xy = pts.map(([t, b]) => `${5 + ((t - t0) / Math.max(1, t1 - t0)) * (w - 10)},${h - 12 - (b / ymax) * (h - 24)}`).join(" ");
  return `<svg class="chart-bytes" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}"><polyline class="bytes" points="${xy}"/><text x="5" y="10">${bytes(ymax)}</text><text x="5" y="${h - 2}">${ms(t1 - t0)}</text></svg>`;
}

function figures(m) {
  const f = m.figures, t = m.timings;
  const rows = [
    ["Bytes on the wire", `${bytes(f.bytesOnWire)} of ${bytes(f.volumeBytes)}`],
    ["Dedup ratio", f.dedupRatio == null ? "–" : f.dedupRatio.toFixed(1) + "×"],
    ["Blocks from the index", `${f.blocksFromIndex} of ${f.blocks} (${f.zeroBlocks} zero)`],
    ["Rounds", f.rounds],
    ["Dirty blocks", f.dirtyBlocks],
    ["Attempt", m.attempt],
    ["Downtime", ms(t.downtimeMs)],
    ["Paused → switched", ms(t.pausedToSwitchedMs)],
    ["Paused → verified", ms(t.pausedToVerifiedMs)],
    ["Total", ms(t.totalMs)],
  ];
  if (m.memory) {
    rows.push(["Memory sent", bytes(m.memory.transferredBytes)], ["QEMU downtime", ms(t.qemuDowntimeMs)], ["Storage downtime", ms(t.storageDowntimeMs)]);
  }
  return "<dl>" + rows.map(([k, v]) => `<div><dt>${esc(k)}</dt><dd data-figure="${esc(k)}">${esc(v)}</dd></div>`).join("") + "</dl>";
}

function actions(m) {
  if (!view.session.authorized) return "";
  const retry = m.state === "Failed" && !(m.failure && m.failure.rollbackIncomplete);
  const cancel = !m.final;
  return `<div class="actions">${retry ? `<button data-action="retry" data-for="${m.id}">Retry</button>` : ""}${cancel ? `<button data-action="cancel" data-for="${m.id}">Cancel</button>` : ""}</div>`;
}

function card(m) {
  const pct = Math.round(m.progress * 100);
  const route = `${esc(m.vmId)}/${esc(m.volumeId)}: ${esc(m.sourceStorageId)} → ${esc(m.destinationStorageId)}${m.destinationHostId ? " (host " + esc(m.destinationHostId) + ")" : ""}`;
  const failure = m.failure ? `<p class="failure">${m.failure.rollbackIncomplete ? "ROLLBACK INCOMPLETE: " : ""}in ${esc(m.failure.phase)}: ${esc(m.failure.reason)}</p>` : "";
  return `<article class="migration" data-id="${m.id}" data-state="${esc(m.state)}">
  <h2><code>${m.id.slice(0, 8)}</code><span class="state" data-state="${esc(m.state)}">${esc(m.state)}</span><span class="phase">${esc(m.phase)}</span><span class="route">${route}</span></h2>
  <div class="bar" role="progressbar" aria-valuenow="${pct}" data-progress="${m.progress}"><div style="width:${pct}%"></div></div>
  ${failure}${figures(m)}
  <div class="charts"><figure>${dirtyChart(m.roundPoints)}<figcaption>Dirty blocks per round</figcaption></figure><figure>${bytesChart(m)}<figcaption>Bytes on the wire over time</figcaption></figure></div>
  ${actions(m)}
</article>`;
}

function render() {
  $("migrations").innerHTML = view.migrations.length ? view.migrations.map(card).join("") : '<p class="empty">No migrations yet.</p>';
}

async function loadSession() {
  const response = await fetch("api/session", { headers: authHeaders() });
  view.session = await response.json();
  $("operator").hidden = !view.session.actions;
  $("operator-status").textContent = view.session.authorized ? "actions unlocked" : "";
  render();
}

async function act(action, id) {
  const init = { method: "POST", headers: authHeaders() };
  if (action === "cancel") {
    const reason = prompt("Reason for the cancel", "cancelled from the dashboard");
    if (reason === null) return;
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify({ reason });
  }
  const response = await fetch(`api/migrations/${id}/${action}`, init);
  const body = await response.json().catch(() => ({}));
  $("message").textContent = response.ok ? `${action} of ${id} sent` : `${action} refused (${response.status}): ${body.error || ""}`;
}

function connect() {
  const source = new EventSource("api/migrations/stream");
  source.onopen = () => { $("live").textContent = "live"; $("live").classList.remove("off"); };
  source.onerror = () => { $("live").textContent = "reconnecting"; $("live").classList.add("off"); };
  source.onmessage = (event) => { view.migrations = JSON.parse(event.data); render(); };
}

$("operator").addEventListener("submit", (event) => {
  event.preventDefault();
  view.token = $("token").value.trim();
  sessionStorage.setItem("teleport-token", view.token);
  loadSession();
});
$("migrations").addEventListener("click", (event) => {
  const button = event.target.closest("button[data-action]");
  if (button) act(button.dataset.action, button.dataset.for);
});
loadSession();
connect();
