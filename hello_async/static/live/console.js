/* The article's console: each request this page sends, and the lines it makes on the server,
   on one time axis (milliseconds since the button was pressed, as this page saw them). */
"use strict";

(() => {
  const strings = JSON.parse(document.getElementById("console-strings").textContent);
  const root = document.getElementById("console");
  const runs = document.getElementById("runs");
  const message = document.getElementById("console-message");
  const token = root.dataset.token;
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

    add(kind, t, text) {
      const item = element("li", `event event-${kind}`);
      item.dataset.kind = kind;
      item.dataset.t = t.toFixed(1);
      item.append(element("span", "t", `+${number.format(t)} ${strings.ms}`));
      item.append(element("span", "label", kind === "line" ? strings.line : strings[kind] || kind));
      item.append(element("span", "text", text));
      const after = this.events.findIndex((other) => other.t > t);
      const entry = { t, item, mark: element("span", `mark mark-${kind}`) };
      entry.mark.title = text;
      if (after === -1) {
        this.events.push(entry);
        this.list.append(item);
      } else {
        this.list.insertBefore(item, this.events[after].item);
        this.events.splice(after, 0, entry);
      }
      this.track.append(entry.mark);
      this.run.rescale(t);
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
    const clientId = `c${++sent}`;
    const view = run.view(path);
    byClientId.set(clientId, view);
    view.add("sent", run.now(), `GET ${path}`);
    const headers = { "X-Console-Session": token, "X-Console-Request": clientId };
    fetch(path, { headers, cache: "no-store" })
      .then(async (response) => {
        const t = run.now();
        const body = await response.text();
        view.status.textContent = String(response.status);
        view.node.dataset.status = String(response.status);
        view.add("answered", t, `${response.status}: ${body.trim()}`);
      })
      .catch((error) => view.add("answered", run.now(), String(error)));
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
    if (view) view.add("line", view.run.now(), data.text);
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
