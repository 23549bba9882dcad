/* The orders board, live: rows updated from server-sent events as the worker moves the orders. */
"use strict";

(() => {
  const strings = JSON.parse(document.getElementById("board-strings").textContent);
  const table = document.getElementById("board");
  const body = table.tBodies[0];
  const shown = Number(table.dataset.shown) || 20;
  const message = document.getElementById("board-message");
  const lang = document.documentElement.lang;
  const clock = new Intl.DateTimeFormat(lang, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  const seconds = new Intl.NumberFormat(lang, { maximumFractionDigits: 1 });

  function time(iso) {
    const node = document.createElement("time");
    if (iso) {
      node.dateTime = iso;
      node.textContent = clock.format(new Date(iso));
    }
    return node;
  }

  function took(order) {
    if (!order.started_at || !order.finished_at) return "";
    const span = (new Date(order.finished_at) - new Date(order.started_at)) / 1000;
    return strings.took.replace("%(seconds)s", seconds.format(span));
  }

  function outcome(order) {
    if (order.result) {
      const smoked = strings.smoked.replace("%(count)s", String(order.result.smoked));
      return `${smoked} · ${took(order)}`;
    }
    return order.error ? order.error.message : "";
  }

  function row(order) {
    const tr = document.createElement("tr");
    tr.dataset.id = order.id;
    tr.dataset.status = order.status;
    const link = document.createElement("a");
    link.href = order.status_url;
    const code = document.createElement("code");
    code.textContent = `${order.id.slice(0, 8)}…`;
    link.append(code);
    const state = document.createElement("span");
    state.className = `state state-${order.status.toLowerCase()}`;
    state.textContent = strings.states[order.status] || order.status;
    const cells = [
      link,
      state,
      (order.meats || []).join(", "),
      order.flavor || "",
      time(order.enqueued_at),
      time(order.started_at),
      time(order.finished_at),
      String(order.attempts),
      outcome(order),
    ];
    for (const content of cells) {
      const td = document.createElement("td");
      td.append(content);
      tr.append(td);
    }
    return tr;
  }

  function put(order) {
    const fresh = row(order);
    const old = body.querySelector(`tr[data-id="${CSS.escape(order.id)}"]`);
    if (old) {
      if (old.dataset.status !== order.status) fresh.classList.add("changed");
      old.replaceWith(fresh);
    } else {
      body.querySelector("tr.empty")?.remove();
      fresh.classList.add("changed");
      body.prepend(fresh);
      // The newest orders only, as the server shows them: the oldest row leaves.
      while (body.rows.length > shown) body.lastElementChild.remove();
    }
  }

  const events = new EventSource(table.dataset.events);
  events.addEventListener("board", (event) => {
    const orders = JSON.parse(event.data);
    body.replaceChildren(...orders.map(row));
    if (!orders.length) {
      const empty = document.createElement("tr");
      empty.className = "empty";
      const td = document.createElement("td");
      td.colSpan = 9;
      td.textContent = strings.empty;
      empty.append(td);
      body.append(empty);
    }
    document.body.dataset.live = "true";
  });
  events.addEventListener("order", (event) => put(JSON.parse(event.data)));
  events.addEventListener("dropped", () => {
    events.close();
    message.textContent = strings.dropped;
    message.hidden = false;
  });
})();
