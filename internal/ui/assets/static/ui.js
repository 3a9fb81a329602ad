// jetflow ui: live updates over Server-Sent Events, and confirmation of
// actions. Everything inserted here was rendered (and escaped) by the server.
"use strict";

function showLive(on) {
  const el = document.getElementById("live");
  if (el) el.hidden = !on;
}

function listen(url, handlers) {
  const es = new EventSource(url);
  es.onopen = () => showLive(true);
  es.onerror = () => showLive(false);
  for (const [name, fn] of Object.entries(handlers)) es.addEventListener(name, (e) => fn(e.data));
  return es;
}

function fromHTML(html, wrapper) {
  const t = document.createElement(wrapper || "template");
  t.innerHTML = html.trim();
  return wrapper ? t.firstElementChild : t.content.firstElementChild;
}

// refresher fetches a fragment again, at most once per interval.
function refresher(el, url, ms) {
  let pending = false;
  return () => {
    if (pending) return;
    pending = true;
    setTimeout(async () => {
      pending = false;
      const res = await fetch(url, { credentials: "same-origin" });
      if (res.ok) el.innerHTML = await res.text();
    }, ms);
  };
}

function runsList(tbody) {
  const total = document.getElementById("total");
  listen(tbody.dataset.live, {
    run: (html) => {
      const row = fromHTML(html, "tbody");
      const old = document.getElementById(row.id);
      if (old) {
        old.replaceWith(row);
      } else {
        tbody.prepend(row);
        if (total) total.textContent = String(Number(total.textContent) + 1);
        const empty = document.getElementById("empty");
        if (empty) empty.hidden = true;
      }
      row.classList.add("fresh");
    },
    gone: (id) => {
      const old = document.getElementById("run-" + id);
      if (old) {
        old.remove();
        if (total) total.textContent = String(Number(total.textContent) - 1);
      }
    },
    many: () => { document.getElementById("many").hidden = false; },
  });
}

document.addEventListener("DOMContentLoaded", () => {
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (e) => {
      if (!window.confirm(form.dataset.confirm)) e.preventDefault();
    });
  }
  const rows = document.getElementById("rows");
  if (rows && rows.dataset.live) runsList(rows);

  const run = document.getElementById("live-part");
  if (run) listen(run.dataset.live, { change: refresher(run, run.dataset.fragment, 300) });

  const feed = document.getElementById("feed");
  if (feed) {
    const table = document.getElementById("breaker-table");
    const refresh = refresher(table, table.dataset.fragment, 300);
    listen(feed.dataset.live, {
      transition: (html) => {
        feed.prepend(fromHTML(html));
        const none = document.getElementById("nofeed");
        if (none) none.hidden = true;
        refresh();
      },
    });
  }
});
