// Cairn's page script: no framework beyond the vendored HTMX, no inline
// script anywhere (the CSP forbids it). What comes from the server is written
// as text (textContent), never as markup.
"use strict";

// HTMX requests carry the session's CSRF token as a header.
document.addEventListener("htmx:configRequest", (event) => {
  const meta = document.querySelector('meta[name="csrf-token"]');
  if (meta && meta.content) {
    event.detail.headers["X-CSRF-Token"] = meta.content;
  }
});

// Times: shown in UTC by the server, in the viewer's zone here, with an age.
function localTimes(root) {
  for (const el of root.querySelectorAll("time[datetime]")) {
    const at = new Date(el.getAttribute("datetime"));
    if (Number.isNaN(at.getTime())) continue;
    el.title = el.textContent;
    el.textContent = at.toLocaleString() + " (" + age(at) + ")";
  }
}

function age(at) {
  const secs = Math.round((Date.now() - at.getTime()) / 1000);
  const abs = Math.abs(secs);
  const [n, unit] = abs < 90 ? [abs, "s"] : abs < 5400 ? [Math.round(abs / 60), "min"]
    : abs < 129600 ? [Math.round(abs / 3600), "h"] : [Math.round(abs / 86400), "d"];
  return secs >= 0 ? n + " " + unit + " ago" : "in " + n + " " + unit;
}

// A job's page follows the job live.
function followJob(root) {
  const url = root.dataset.jobEvents;
  const status = document.getElementById("job-status");
  const bar = document.getElementById("job-progress");
  const log = document.getElementById("job-log");
  const more = document.getElementById("job-log-more");
  const link = document.getElementById("job-link");
  let unseen = 0;
  const atBottom = () => log.scrollHeight - log.scrollTop - log.clientHeight < 24;
  log.addEventListener("scroll", () => {
    if (atBottom()) { unseen = 0; more.hidden = true; }
  });
  more.addEventListener("click", () => {
    log.scrollTop = log.scrollHeight; unseen = 0; more.hidden = true;
  });
  const setText = (id, text) => {
    const el = document.getElementById(id);
    if (el) el.textContent = text;
  };
  const source = new EventSource(url);
  source.addEventListener("open", () => { link.hidden = true; });
  source.addEventListener("error", () => {
    link.textContent = source.readyState === EventSource.CLOSED
      ? "The live view stopped: reload the page."
      : "Reconnecting to the live view…";
    link.hidden = false;
  });
  source.addEventListener("state", (e) => {
    const data = JSON.parse(e.data);
    status.textContent = data.status;
    status.className = "status status-" + data.status;
  });
  source.addEventListener("progress", (e) => {
    const data = JSON.parse(e.data);
    bar.value = data.percent;
    setText("job-files", data.files);
    setText("job-bytes", data.bytes);
    setText("job-current", data.current);
    setText("job-eta", data.eta);
    setText("job-speed", data.speed);
  });
  // Each batch says where its first line stands in the job's log: lines
  // the page has (sent again after a reconnect) are dropped.
  let next = Number(root.dataset.logNext) || 0;
  source.addEventListener("log", (e) => {
    const follow = atBottom();
    const data = JSON.parse(e.data);
    data.lines.forEach((line, i) => {
      if (data.first + i < next) return;
      const row = document.createElement("div");
      row.className = "line level-" + line.level;
      row.textContent = line.at + "  " + line.text;
      log.appendChild(row);
      if (!follow) unseen += 1;
    });
    next = Math.max(next, data.first + data.lines.length);
    if (follow) {
      log.scrollTop = log.scrollHeight;
    } else if (unseen > 0) {
      more.textContent = unseen + " new lines";
      more.hidden = false;
    }
  });
  source.addEventListener("finished", (e) => {
    const data = JSON.parse(e.data);
    status.textContent = data.status;
    status.className = "status status-" + data.status;
    if (data.status === "succeeded") bar.value = 100;
    setText("job-current", "");
    setText("job-eta", "");
    setText("job-error", data.error);
    setText("job-snapshot", data.snapshot_id);
    const cancel = document.getElementById("job-cancel");
    if (cancel) cancel.hidden = true;
    source.close();
    link.hidden = true;
  });
}

// The dashboard follows the fleet: its one stream only says "changed", and
// the page then asks for its live part again (rendered by the server, as
// the signed-in operator). The tab title and favicon follow the fleet.
function followFleet(root) {
  const link = document.getElementById("fleet-link");
  let busy = false;
  let again = false;
  const refresh = () => {
    if (busy) { again = true; return; }
    busy = true;
    // Marked as the page's own request: it does not keep the session alive.
    const headers = { "X-Cairn-Background": "1" };
    htmx.ajax("GET", "/", { target: "#fleet", swap: "outerHTML", headers }).finally(() => {
      busy = false;
      fleetState();
      if (again) { again = false; refresh(); }
    });
  };
  const source = new EventSource(root.dataset.fleetEvents);
  source.addEventListener("open", () => { link.hidden = true; });
  source.addEventListener("error", () => {
    link.textContent = source.readyState === EventSource.CLOSED
      ? "The live view stopped: reload the page."
      : "Reconnecting to the live view…";
    link.hidden = false;
  });
  source.addEventListener("changed", refresh);
}

function fleetState() {
  const fleet = document.getElementById("fleet");
  if (!fleet) return;
  localTimes(fleet);
  const count = Number(fleet.dataset.attention) || 0;
  document.title = (count > 0 ? "(" + count + ") " : "") + "Fleet · Cairn";
  const icon = document.getElementById("fleet-icon");
  const state = fleet.dataset.state;
  if (icon && (state === "ok" || state === "warn" || state === "bad")) {
    icon.href = "/static/favicon-" + state + ".svg";
  }
}

// A snapshot's tree: a folder's button shows or hides its children (HTMX
// fetches them on the first click).
document.addEventListener("click", (event) => {
  const toggle = event.target.closest(".tree-toggle");
  if (!toggle) return;
  const children = document.getElementById(toggle.getAttribute("aria-controls"));
  if (!children) return;
  const open = toggle.getAttribute("aria-expanded") !== "true";
  toggle.setAttribute("aria-expanded", open ? "true" : "false");
  toggle.textContent = open ? "\u25BE" : "\u25B8";
  children.hidden = !open;
});

// Pages that run restic on a host take a while: say so while the next one
// loads (the text is the link's or form's own data-wait).
function showWait(text) {
  const wait = document.getElementById("page-wait");
  if (!wait) return;
  wait.textContent = text;
  wait.hidden = false;
}
document.addEventListener("click", (event) => {
  const link = event.target.closest("a[data-wait]");
  const plain = event.button === 0 && !event.ctrlKey && !event.metaKey && !event.shiftKey;
  if (link && plain && !event.defaultPrevented) showWait(link.dataset.wait);
});
document.addEventListener("submit", (event) => {
  const form = event.target.closest("form[data-wait]");
  if (form && !event.defaultPrevented) showWait(form.dataset.wait);
});
// Back to a page kept in the browser's cache: it is not waiting any more.
window.addEventListener("pageshow", () => {
  const wait = document.getElementById("page-wait");
  if (wait) wait.hidden = true;
});

document.addEventListener("DOMContentLoaded", () => {
  localTimes(document);
  const job = document.querySelector("[data-job-events]");
  if (job) followJob(job);
  const fleet = document.querySelector("[data-fleet-events]");
  if (fleet) followFleet(fleet);
});
document.addEventListener("htmx:afterSwap", (event) => localTimes(event.target));
