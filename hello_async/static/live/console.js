/* The article's console: each request this page sends, and the lines it makes on the server,
   on one time axis (milliseconds since the button was pressed). The server stamps each line and
   the answer with its own time since the request arrived (t); the page places them by it, so
   they are drawn in the order the server made them, wherever they travelled from: the server's
   time is pinned to this page's at the answer (the moment its fetch resolved), lines at the same
   distance before or after it as on the server. */
"use strict";

(() => {
  const strings = JSON.parse(document.getElementById("console-strings").textContent);
  const root = document.getElementById("console");
  const runs = document.getElementById("runs");
  const message = document.getElementById("console-message");
  const token = root.dataset.session;
  // Tabs of one browser share its token: each names its requests with a prefix of its own.
  const page = Math.random().toString(36).slice(2, 8);
  const number = new Intl.NumberFormat(document.documentElement.lang, { maximumFractionDigits: 0 });
  const byClientId = new Map();
  const byServerId = new Map();
  let sent = 0;

  function show(text) {
    message.textContent = text;
    message.hidden = false;
  }

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  /* One request: a track with its marks, and the list of what happened, in time order. */
  class RequestView {
    constructor(run, path) {
      this.run = run;
      this.node = element("div", "request");
      this.node.dataset.path = path;
      const head = element("div", "request-head");
      head.append(element("code", "", `GET ${path}`));
      this.status = element("span", "status");
      head.append(this.status);
      this.track = element("div", "track");
      this.list = element("ol", "events");
      this.node.append(head, this.track, this.list);
      this.events = [];
    }

    add(kind, t, text, server) {
      const item = element("li", `event event-${kind}`);
      item.dataset.kind = kind;
      item.append(element("span", "t", ""));
      item.append(element("span", "label", kind === "line" ? strings.line : strings[kind] || kind));
      item.append(element("span", "text", text));
      const entry = { t, item, server, mark: element("span", `mark mark-${kind}`) };
      entry.mark.title = text;
      this.track.append(entry.mark);
      this.insert(entry, t);
      return entry;
    }

    insert(entry, t) {
      entry.t = t;
      entry.item.dataset.t = t.toFixed(1);
      entry.item.querySelector(".t").textContent = `+${number.format(t)} ${strings.ms}`;
      const at = this.events.indexOf(entry);
      if (at !== -1) this.events.splice(at, 1);
      const after = this.events.findIndex((other) => other.t > t);
      if (after === -1) {
        this.events.push(entry);
        this.list.append(entry.item);
      } else {
        this.list.insertBefore(entry.item, this.events[after].item);
        this.events.splice(after, 0, entry);
      }
      this.run.rescale(t);
    }

    /* Where the server's time 0 (the request's arrival) is on this page's axis: once both the
       answer and the server's time for it are known, the answer's moment less that time;
       until then, the moment the request was sent. */
    origin() {
      return this.base ?? this.sentAt;
    }

    line(t, text) {
      this.add("line", this.origin() + t, text, t);
    }

    answered(t, text) {
      this.answer = t;
      this.add("answered", t, text);
      this.settle();
    }

    responded(t) {
      this.serverAnswer = t;
      this.settle();
    }

    settle() {
      if (this.base !== undefined || this.answer === undefined) return;
      if (this.serverAnswer === undefined) return;
      this.base = Math.max(this.sentAt, this.answer - this.serverAnswer);
      for (const entry of [...this.events]) {
        if (entry.server !== undefined) this.insert(entry, this.base + entry.server);
      }
    }

    place(scale) {
      for (const entry of this.events) entry.mark.style.left = `${(entry.t / scale) * 100}%`;
    }
  }

  /* One press of a button: its requests, drawn against one scale. */
  class Run {
    constructor(paths) {
      this.started = performance.now();
      this.scale = 1000;
      this.node = element("article", "panel run-card");
      this.node.append(element("h2", "", paths.join(" + ")));
      this.views = [];
      runs.prepend(this.node);
    }

    now() {
      return performance.now() - this.started;
    }

    view(path) {
      const view = new RequestView(this, path);
      this.views.push(view);
      this.node.append(view.node);
      return view;
    }

    rescale(t) {
      if (t > this.scale * 0.9) this.scale = Math.ceil((t * 1.25) / 1000) * 1000;
      for (const view of this.views) view.place(this.scale);
    }
  }

  function send(run, path) {
    const clientId = `${page}-${++sent}`;
    const view = run.view(path);
    byClientId.set(clientId, view);
    view.sentAt = run.now();
    view.add("sent", view.sentAt, `GET ${path}`);
    const headers = { "X-Console-Session": token, "X-Console-Request": clientId };
    fetch(path, { headers, cache: "no-store" })
      .then(async (response) => {
        const t = run.now();
        const body = await response.text();
        view.status.textContent = String(response.status);
        view.node.dataset.status = String(response.status);
        view.answered(t, `${response.status}: ${body.trim()}`);
      })
      .catch((error) => view.answered(run.now(), String(error)));
  }

  const events = new EventSource(`${root.dataset.events}?session=${encodeURIComponent(token)}`);
  // "ready": the server follows this page's requests from now on (the stream's "open" comes first).
  const opened = new Promise((resolve) => events.addEventListener("ready", resolve, { once: true }));
  events.addEventListener("request", (event) => {
    const data = JSON.parse(event.data);
    const view = byClientId.get(data.client);
    if (view) byServerId.set(data.request, view);
  });
  events.addEventListener("line", (event) => {
    const data = JSON.parse(event.data);
    const view = byServerId.get(data.request);
    if (view) view.line(Number(data.t), data.text);
  });
  events.addEventListener("response", (event) => {
    const data = JSON.parse(event.data);
    const view = byServerId.get(data.request);
    if (view) view.responded(Number(data.t));
  });
  events.addEventListener("dropped", () => {
    events.close();
    show(strings.dropped);
  });
  events.addEventListener("error", () => {
    if (events.readyState === EventSource.CLOSED) show(strings.closed);
  });

  for (const button of root.querySelectorAll(".view-button")) {
    button.addEventListener("click", async () => {
      await opened;
      const paths = button.dataset.paths.split(" ");
      const run = new Run(paths);
      send(run, paths[0]);
      // The second request goes "beside" the first, once the first is on its way.
      if (paths.length > 1) setTimeout(() => send(run, paths[1]), 100);
    });
  }
  document.body.dataset.ready = "true";
})();
