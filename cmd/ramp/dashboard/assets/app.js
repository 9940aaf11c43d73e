// Ramp dashboard. Everything the server sends is inserted as text
// (textContent), except the charts: SVG the server renders with every
// string escaped.
"use strict";
(function () {
  const csrf = document.querySelector('meta[name="ramp-csrf"]').content;
  const $ = (id) => document.getElementById(id);
  // Render times of the updates, for tests and benchmarks.
  const stats = { updates: 0, maxRenderMs: 0, lastRenderMs: 0, samples: [] };
  window.rampStats = stats;
  let source = null;
  let current = null; // the Rollout page's data
  let listData = null;
  let selectedLook = -1;

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "class") e.className = v;
      else if (k === "text") e.textContent = v;
      else e.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children) if (c !== null && c !== undefined) e.append(c);
    return e;
  }
  const time = (ms) => new Date(ms).toLocaleTimeString();

  function measure(render) {
    const t0 = performance.now();
    render();
    const ms = performance.now() - t0;
    stats.updates++;
    stats.lastRenderMs = ms;
    stats.maxRenderMs = Math.max(stats.maxRenderMs, ms);
    stats.samples.push(ms);
    if (stats.samples.length > 2000) stats.samples.shift();
    const d = document.documentElement.dataset;
    d.updates = String(stats.updates);
    d.lastRenderMs = ms.toFixed(2);
    d.maxRenderMs = stats.maxRenderMs.toFixed(2);
  }

  function connect(url, handlers) {
    if (source) source.close();
    source = new EventSource(url);
    $("live").textContent = "connecting…";
    source.onopen = () => { $("live").textContent = "live"; };
    source.onerror = () => { $("live").textContent = "reconnecting…"; };
    for (const [ev, f] of Object.entries(handlers)) {
      source.addEventListener(ev, (m) => measure(() => f(JSON.parse(m.data))));
    }
  }

  // The list.
  function renderList(l) {
    listData = l;
    $("scope").textContent = l.scope ? "Rollouts in " + l.scope : "";
    const err = $("list-error");
    err.hidden = !l.error;
    err.textContent = l.error || "";
    const q = $("search").value.trim().toLowerCase();
    const phase = $("phase-filter").value;
    const rows = l.rollouts.filter((r) =>
      (!q || r.name.toLowerCase().includes(q) || r.namespace.toLowerCase().includes(q)) && (!phase || r.phase === phase));
    const body = document.createDocumentFragment();
    for (const r of rows) {
      const v = r.verdict;
      body.append(el("tr", { "data-rollout": r.namespace + "/" + r.name },
        el("td", { text: r.namespace }),
        el("td", {}, el("a", { href: "#/r/" + encodeURIComponent(r.namespace) + "/" + encodeURIComponent(r.name), text: r.name })),
        el("td", {}, el("span", { class: "phase phase-" + r.phase, text: r.phase })),
        el("td", { text: r.step || "–" }),
        el("td", { text: r.weight + "%" }),
        el("td", { text: r.canary || "–" }),
        el("td", { text: r.stable || "–" }),
        el("td", { class: v ? "v-" + v.phase : "", title: v ? v.summary : "", text: v ? v.phase + " at " + time(v.time) : "–" }),
        el("td", { text: r.age })));
    }
    const tbody = $("rollouts").tBodies[0];
    tbody.replaceChildren(body);
    $("count").textContent = rows.length + " of " + l.rollouts.length;
    $("empty").hidden = rows.length > 0 || !l.synced;
  }

  // One Rollout.
  function renderDetail(d) {
    current = d;
    const name = d.namespace + "/" + d.name;
    document.title = d.name + " · Ramp";
    $("detail-title").textContent = "Rollout " + name;
    const phase = $("phase");
    phase.textContent = d.phase;
    phase.className = "phase phase-" + d.phase;
    $("step").textContent = d.step ? "step " + d.step + ", canary " + d.weight + "%" : "canary " + d.weight + "%";
    $("message").textContent = d.message || "";
    renderActions(d);
    const notes = $("notes");
    notes.hidden = !(d.notes && d.notes.length);
    notes.textContent = (d.notes || []).join("; ");

    $("timeline").replaceChildren(...d.steps.map((s, i) =>
      el("li", { "data-state": s.state, "aria-current": s.state === "current" ? "step" : null },
        el("span", { class: "sr-only", text: s.state + ": " }), (i + 1) + ". " + s.label)));
    const w = $("windows");
    w.hidden = !(d.windows && d.windows.length);
    w.textContent = (d.windows || []).map((x) => "Promotion window " + x.schedule + " for " + x.duration + " (" + x.timeZone + ")").join("; ");

    // Charts: SVG rendered and escaped by the server.
    for (const [k, id] of [["errors", "errors-chart"], ["latency", "latency-chart"], ["weight", "weight-chart"]]) {
      const c = d.charts[k];
      const box = $(id);
      box.innerHTML = c.svg;
      box.dataset.points = JSON.stringify(c.points);
    }
    for (const g of document.querySelectorAll("svg .look")) {
      g.addEventListener("click", () => selectLook(Number(g.dataset.look)));
      g.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") selectLook(Number(g.dataset.look)); });
    }

    const looks = d.looks.slice().reverse();
    $("looks").replaceChildren(...looks.map((l, ri) => {
      const i = d.looks.length - 1 - ri;
      return el("li", { class: "look-item" + (i === selectedLook ? " selected" : ""), "data-look": String(i), "data-phase": l.phase },
        el("strong", { class: "v-" + l.phase, text: l.phase }), " at " + time(l.time) + (l.step ? ", step " + l.step : "") + (l.message ? ": " + l.message : ""),
        el("ul", {}, ...l.metrics.map((m) => el("li", {},
          el("span", { class: "v-" + m.phase, text: m.name + " " + m.phase + (m.dryRun ? " (dry run)" : "") }),
          m.canary || m.stable ? " canary " + (m.canary || "–") + ", stable " + (m.stable || "–") : "",
          m.evidence ? el("div", { class: "evidence", text: m.evidence }) : null))));
    }));
    if (!d.looks.length) $("looks").replaceChildren(el("li", { class: "muted", text: "No analysis look yet." }));

    $("revisions").tBodies[0].replaceChildren(...d.revisions.map((r) => el("tr", { "data-revision": r.name },
      el("td", { text: r.name }), el("td", { text: r.role || "" }), el("td", { text: r.ready }),
      el("td", { text: r.percent === undefined || r.percent === null ? "–" : r.percent + "%" }),
      el("td", { text: r.pods.length ? r.pods.map((p) => p.name + " " + p.phase + (p.ready ? " ready" : "") + (p.restarts ? " (" + p.restarts + " restarts)" : "")).join(", ") : "none (scaled to zero)" }))));
    $("events").tBodies[0].replaceChildren(...d.events.slice(0, 50).map((e) => el("tr", {},
      el("td", { text: time(e.time) }), el("td", { text: e.type }), el("td", { text: e.reason }),
      el("td", { text: e.message + (e.count > 1 ? " (×" + e.count + ")" : "") }))));
  }

  function selectLook(i) {
    selectedLook = i;
    for (const li of document.querySelectorAll("#looks li.look-item")) {
      const on = Number(li.dataset.look) === i;
      li.classList.toggle("selected", on);
      if (on) li.scrollIntoView({ block: "nearest" });
    }
  }

  function renderActions(d) {
    const box = $("actions");
    const reasons = [];
    box.replaceChildren(...d.actions.map((a) => {
      const b = el("button", { type: "button", "data-action": a.name, disabled: !a.enabled, title: a.reason || null,
        "aria-describedby": a.enabled ? null : "actions-note", text: a.label });
      if (!a.enabled && a.reason && !reasons.includes(a.reason)) reasons.push(a.label + ": " + a.reason);
      b.addEventListener("click", () => confirmAction(d, a));
      return b;
    }));
    $("actions-note").textContent = reasons.join(" · ");
  }

  function newID() {
    const alphabet = "abcdefghijklmnopqrstuvwxyz234567";
    const bytes = new Uint8Array(20);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => alphabet[b % 32]).join("");
  }

  let pending = null;
  function confirmAction(d, a) {
    // One id per confirmation: a request sent twice acts once.
    pending = { ns: d.namespace, name: d.name, action: a.name, id: newID(), label: a.label };
    $("confirm-title").textContent = a.label + " " + d.name + "?";
    $("confirm-text").textContent = a.confirm;
    $("confirm-ok").textContent = a.label;
    $("confirm").showModal();
    $("confirm-cancel").focus();
  }
  $("confirm-cancel").addEventListener("click", () => { pending = null; $("confirm").close(); });
  $("confirm").addEventListener("close", () => { pending = null; });
  $("confirm-ok").addEventListener("click", async () => {
    const p = pending;
    $("confirm").close();
    if (!p) return;
    const status = $("action-status");
    status.textContent = p.label + ": sent, waiting for the controller…";
    try {
      const r = await fetch("/api/rollouts/" + encodeURIComponent(p.ns) + "/" + encodeURIComponent(p.name) + "/actions", {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-Ramp-CSRF": csrf },
        body: JSON.stringify({ action: p.action, id: p.id }),
      });
      const body = await r.json();
      if (!r.ok) status.textContent = p.label + " refused: " + body.error;
      else if (body.pending) status.textContent = p.label + " requested (id " + body.id + "); the controller has not answered yet.";
      else status.textContent = p.label + (body.applied ? " done: " : " not applied: ") + body.result;
      status.dataset.result = body.applied ? "applied" : (body.pending ? "pending" : "refused");
    } catch (e) {
      status.textContent = p.label + " failed: " + e;
      status.dataset.result = "error";
    }
  });

  function route() {
    const m = location.hash.match(/^#\/r\/([^/]+)\/([^/]+)$/);
    $("list-view").hidden = !!m;
    $("detail-view").hidden = !m;
    if (m) {
      const ns = decodeURIComponent(m[1]), name = decodeURIComponent(m[2]);
      selectedLook = -1;
      $("action-status").textContent = "";
      connect("/api/stream?rollout=" + encodeURIComponent(ns + "/" + name), {
        detail: renderDetail,
        gone: (e) => { $("detail-title").textContent = e.error; },
      });
    } else {
      document.title = "Rollouts · Ramp";
      connect("/api/stream", { list: renderList });
    }
  }
  const rerender = () => { if (listData) measure(() => renderList(listData)); };
  $("search").addEventListener("input", rerender);
  $("phase-filter").addEventListener("change", rerender);
  window.addEventListener("hashchange", route);
  route();
})();
