// The lab page: run an experiment (POST /lab/run/), poll its progress (GET /lab/status/),
// then draw the timeline as SVG. No inline script or style: a CSP can forbid both.
"use strict";

(function () {
  const SVG = "http://www.w3.org/2000/svg";
  const form = document.getElementById("lab-form");
  if (!form) return;
  const strings = JSON.parse(document.getElementById("lab-strings").textContent);
  const lang = document.documentElement.lang || "en";
  const number = new Intl.NumberFormat(lang, { maximumFractionDigits: 1 });
  const whole = new Intl.NumberFormat(lang, { maximumFractionDigits: 0 });

  const range = document.getElementById("concurrency-range");
  const count = document.getElementById("concurrency");
  const runButton = document.getElementById("run");
  const progress = document.getElementById("progress");
  const message = document.getElementById("message");
  const result = document.getElementById("result");
  const chart = document.getElementById("chart");

  range.addEventListener("input", () => { count.value = range.value; });
  count.addEventListener("input", () => { range.value = count.value; });

  function fill(text, values) {
    return text.replace(/%\((\w+)\)s/g, (_, key) => values[key]);
  }

  function showMessage(text, kind) {
    message.textContent = text;
    message.className = "message " + (kind || "");
    message.hidden = !text;
  }

  function setProgress(done, total) {
    for (const side of ["a", "b"]) {
      const bar = document.getElementById("progress-" + side);
      bar.max = total;
      bar.value = done[side] || 0;
      document.getElementById("progress-" + side + "-text").textContent =
        (done[side] || 0) + " / " + total;
    }
  }

  let polling = null;

  function poll() {
    fetch("/lab/status/", { cache: "no-store", credentials: "same-origin" })
      .then((response) => response.json())
      .then((status) => { if (status.running && polling) setProgress(status.done, status.concurrency); })
      .catch(() => {})
      .finally(() => { if (polling) polling = setTimeout(poll, 200); });
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const preset = form.querySelector("input[name=preset]:checked").value;
    const concurrency = Number(count.value);
    const token = form.querySelector("input[name=csrfmiddlewaretoken]").value;
    runButton.disabled = true;
    form.setAttribute("aria-busy", "true");
    result.hidden = true;
    showMessage(strings.running, "busy");
    setProgress({ a: 0, b: 0 }, Number.isInteger(concurrency) && concurrency > 0 ? concurrency : 1);
    progress.hidden = false;
    polling = setTimeout(poll, 100);
    try {
      const response = await fetch("/lab/run/", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": token },
        body: JSON.stringify({ preset: preset, concurrency: concurrency }),
      });
      if (!response.ok) {
        showMessage((await response.text()).trim() || response.statusText, "error");
        progress.hidden = true;
        return;
      }
      const data = await response.json();
      const total = data.concurrency;
      setProgress({ a: data.sides[0] ? data.sides[0].finished : 0, b: data.sides[1] ? data.sides[1].finished : 0 }, total);
      progress.hidden = true;
      showMessage(data.partial ? strings.partial : "", data.partial ? "warning" : "");
      draw(data);
    } catch (error) {
      showMessage(strings.failed + ": " + error, "error");
      progress.hidden = true;
    } finally {
      clearTimeout(polling);
      polling = null;
      runButton.disabled = false;
      form.removeAttribute("aria-busy");
    }
  });

  // --- the timeline ---------------------------------------------------------------------------

  function el(name, attrs, text) {
    const node = document.createElementNS(SVG, name);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function niceStep(max, ticks) {
    const raw = max / ticks;
    const power = Math.pow(10, Math.floor(Math.log10(raw)));
    const unit = [1, 2, 2.5, 5, 10].find((m) => m * power >= raw);
    return unit * power;
  }

  function ms(value) {
    return value === null || value === undefined ? "–" : number.format(value) + " " + strings.ms;
  }

  function draw(data) {
    const presetInput = form.querySelector("input[name=preset][value='" + data.preset + "']");
    const title = presetInput ? presetInput.parentElement.querySelector(".preset-title").textContent : data.preset;
    document.getElementById("result-title").textContent =
      title + " · " + data.concurrency + " × 2";

    const [a, b] = data.sides;
    const verdict = document.getElementById("verdict");
    verdict.textContent = "";
    if (a && b && a.span_ms && b.span_ms) {
      const ratio = a.span_ms / b.span_ms;
      verdict.textContent = ratio >= 1
        ? fill(strings.faster, { ratio: number.format(ratio) })
        : fill(strings.slower, { ratio: number.format(1 / ratio) });
    }

    const n = data.concurrency;
    const ends = [];
    for (const side of data.sides) {
      for (const r of side.requests) ends.push(r.end_ms === null ? data.deadline_s * 1000 : r.end_ms);
    }
    const maxEnd = Math.max(1, ...ends);
    const step = niceStep(maxEnd, 6);
    const axisMax = Math.ceil(maxEnd / step) * step;

    const width = 1000, left = 16, plot = 690, statsX = left + plot + 28;
    const laneHeight = Math.max(84, Math.min(240, n * 7));
    const laneGap = 58, top = 34;
    const axisY = top + 2 * laneHeight + laneGap + 24;
    const height = axisY + 46;
    const x = (value) => left + (value / axisMax) * plot;

    const svg = el("svg", {
      viewBox: "0 0 " + width + " " + height,
      class: "timeline",
      role: "img",
      "aria-label": strings.chart_title,
    });
    svg.appendChild(el("title", {}, strings.chart_title));

    // Grid and axis, shared by both lanes.
    const grid = el("g", { class: "grid" });
    for (let t = 0; t <= axisMax + 1e-9; t += step) {
      grid.appendChild(el("line", { x1: x(t), x2: x(t), y1: top - 18, y2: axisY }));
      grid.appendChild(el("text", { x: x(t), y: axisY + 16, class: "tick" }, whole.format(t)));
    }
    grid.appendChild(el("text", { x: left + plot / 2, y: axisY + 36, class: "axis-label" }, strings.axis));
    svg.appendChild(grid);

    data.sides.forEach((side, index) => {
      const laneTop = top + index * (laneHeight + laneGap);
      const lane = el("g", { class: "lane lane-" + side.key, "data-side": side.key });
      lane.appendChild(el("rect", { x: left, y: laneTop, width: plot, height: laneHeight, class: "lane-bg", rx: 6 }));
      const head = el("text", { x: left, y: laneTop - 10, class: "lane-title" });
      head.appendChild(el("tspan", { class: "lane-key" }, side.key.toUpperCase() + "  "));
      head.appendChild(el("tspan", {}, side.label));
      head.appendChild(el("tspan", { class: "lane-path", dx: 10 }, side.path));
      lane.appendChild(head);

      const requests = side.requests.slice().sort((p, q) => p.start_ms - q.start_ms);
      const row = (laneHeight - 8) / Math.max(1, requests.length);
      const barHeight = Math.max(1, Math.min(row * 0.72, 10));
      requests.forEach((r, i) => {
        const end = r.end_ms === null ? axisMax : r.end_ms;
        const ok = r.status !== null && r.status >= 200 && r.status < 300;
        const kind = r.end_ms === null ? " unfinished" : ok ? "" : " error";
        const bar = el("rect", {
          class: "bar" + kind,
          "data-side": side.key,
          x: x(r.start_ms),
          y: laneTop + 4 + i * row + (row - barHeight) / 2,
          width: Math.max(1.5, x(end) - x(r.start_ms)),
          height: barHeight,
          rx: Math.min(2, barHeight / 2),
        });
        bar.appendChild(el("title", {},
          "#" + (i + 1) + "  " + number.format(r.start_ms) + " → " +
          (r.end_ms === null ? strings.unfinished : number.format(r.end_ms)) + " " + strings.ms +
          (r.status ? "  · " + r.status : "") + (r.error ? "  · " + r.error : "")));
        lane.appendChild(bar);
      });

      if (side.span_ms !== null && requests.length) {
        const first = Math.min(...requests.map((r) => r.start_ms));
        const spanEnd = first + side.span_ms;
        const y = laneTop + laneHeight + 10;
        lane.appendChild(el("path", {
          d: "M" + x(first) + " " + (y - 4) + "V" + y + "H" + x(spanEnd) + "V" + (y - 4),
          class: "span-mark",
        }));
      }

      // The numbers, beside the lane.
      const stats = el("g", { class: "stats", transform: "translate(" + statsX + "," + laneTop + ")" });
      stats.appendChild(el("text", { x: 0, y: 30, class: "stat-big" }, side.rps === null ? "–" : number.format(side.rps)));
      stats.appendChild(el("text", { x: 0, y: 48, class: "stat-unit" }, strings.rps));
      const lines = [
        [strings.p50, ms(side.p50_ms)],
        [strings.p99, ms(side.p99_ms)],
        [strings.span, ms(side.span_ms)],
      ];
      if (side.errors) lines.push([strings.errors, String(side.errors)]);
      if (side.finished < side.fired) lines.push([strings.unfinished, String(side.fired - side.finished)]);
      lines.forEach(([name, value], i) => {
        const line = el("text", { x: 0, y: 72 + i * 18, class: "stat" });
        line.appendChild(el("tspan", { class: "stat-name" }, name + "  "));
        line.appendChild(el("tspan", { class: "stat-value" }, value));
        stats.appendChild(line);
      });
      lane.appendChild(stats);
      svg.appendChild(lane);
    });

    chart.replaceChildren(svg);
    result.hidden = false;
    result.dataset.preset = data.preset;
    result.dataset.partial = String(data.partial);
    data.sides.forEach((side) => { result.dataset["span" + side.key.toUpperCase()] = side.span_ms; });
  }
})();
