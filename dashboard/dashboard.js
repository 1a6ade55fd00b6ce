/*
 * The dashboard's page: it listens to the live feed (server-sent events from
 * wsgate, one snapshot of the server's figures a second), computes rates from
 * the differences between snapshots, and draws them with uPlot. Counters are
 * totals since the server started; a counter that goes down (a new
 * generation after a reload) counts as a rate of 0, never negative.
 */
(function () {
  "use strict";

  /** Five minutes of seconds. */
  const KEEP = 300;
  const CHART_HEIGHT = 180;

  const byId = (id) => document.getElementById(id);
  const setText = (id, text) => {
    const element = byId(id);
    if (element.textContent !== text) element.textContent = text;
  };

  function number(value) {
    if (value >= 1e9) return (value / 1e9).toFixed(1) + "G";
    if (value >= 1e6) return (value / 1e6).toFixed(1) + "M";
    if (value >= 1e4) return (value / 1e3).toFixed(1) + "k";
    return Number.isInteger(value) ? String(value) : value.toFixed(1);
  }

  function bytes(value) {
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let unit = 0;
    while (value >= 1024 && unit < units.length - 1) {
      value /= 1024;
      unit++;
    }
    return (unit === 0 ? String(Math.round(value)) : value.toFixed(1)) + " " + units[unit];
  }

  function seconds(value) {
    if (value < 0) return "–";
    if (value < 1) return (value * 1000).toFixed(value < 0.01 ? 2 : 0) + " ms";
    return value.toFixed(2) + " s";
  }

  const palette = ["#2563eb", "#ea580c", "#16a34a", "#9333ea"];

  /** The charts: each a uPlot with its series, fed from `history`. */
  const CHARTS = [
    { id: "chart-open", series: ["open tunnels", "active connections"], format: number },
    { id: "chart-upgrades", series: ["upgrades/s", "closes/s"], format: number },
    { id: "chart-messages", series: ["from clients", "from upstreams"], format: number },
    { id: "chart-bytes", series: ["from clients", "from upstreams"], format: bytes, top: 1024 },
    { id: "chart-http", series: ["requests/s"], format: number },
    { id: "chart-handshake", series: ["mean ms"], format: number },
  ];

  const history = { time: [] };
  for (const chart of CHARTS) history[chart.id] = chart.series.map(() => []);

  function makeChart(chart) {
    const element = byId(chart.id);
    const options = {
      width: Math.max(element.clientWidth, 200),
      height: CHART_HEIGHT,
      legend: { live: false },
      cursor: { drag: { x: false, y: false } },
      scales: {
        // At least a minute wide, so that the first seconds read as seconds.
        x: { time: true, range: (u, min, max) => [Math.min(min, max - 60), max] },
        y: { range: (u, min, max) => [0, Math.max(max, chart.top || 1) * 1.1] },
      },
      axes: [{}, { size: 60, values: (u, ticks) => ticks.map((tick) => chart.format(tick)) }],
      series: [{}].concat(
        chart.series.map((label, i) => ({
          label,
          stroke: palette[i],
          width: 2,
          fill: i === 0 ? palette[0] + "1a" : undefined,
          value: (u, v) => (v === null || v === undefined ? "–" : chart.format(v)),
        })),
      ),
    };
    chart.plot = new uPlot(options, [history.time].concat(history[chart.id]), element);
  }

  function resize() {
    for (const chart of CHARTS) {
      const width = Math.max(byId(chart.id).clientWidth, 200);
      if (chart.plot.width !== width) chart.plot.setSize({ width, height: CHART_HEIGHT });
    }
  }

  function push(id, values) {
    const series = history[id];
    values.forEach((value, i) => {
      series[i].push(value);
      if (series[i].length > KEEP) series[i].shift();
    });
  }

  /** Per second from the difference of two totals; 0 when the total went down (a new server). */
  function rate(now, before, seconds) {
    return seconds > 0 && now >= before ? (now - before) / seconds : 0;
  }

  const total = (record) => Object.values(record).reduce((a, b) => a + b, 0);

  let previous;

  function show(snapshot) {
    const elapsed = previous ? (snapshot.time - previous.time) / 1000 : 0;
    const last = previous || snapshot;
    const rates = {
      upgrades: rate(snapshot.upgradesTotal, last.upgradesTotal, elapsed),
      closes: rate(total(snapshot.closes), total(last.closes), elapsed),
      messagesIn: rate(snapshot.messages.fromClient, last.messages.fromClient, elapsed),
      messagesOut: rate(snapshot.messages.fromUpstream, last.messages.fromUpstream, elapsed),
      bytesIn: rate(snapshot.bytes.fromClient, last.bytes.fromClient, elapsed),
      bytesOut: rate(snapshot.bytes.fromUpstream, last.bytes.fromUpstream, elapsed),
      http: rate(httpCount(snapshot, snapshot), httpCount(last, snapshot), elapsed),
    };
    const handshakes = snapshot.handshake.count - last.handshake.count;
    const handshakeMs = handshakes > 0 ? ((snapshot.handshake.sum - last.handshake.sum) / handshakes) * 1000 : null;
    previous = snapshot;

    setText("tunnels", number(snapshot.tunnels));
    setText("upgrades-rate", number(rates.upgrades));
    setText("upgrades-total", number(snapshot.upgradesTotal));
    setText("messages-in-rate", number(rates.messagesIn));
    setText("messages-out-rate", number(rates.messagesOut));
    setText("messages-in-total", String(snapshot.messages.fromClient));
    setText("messages-out-total", String(snapshot.messages.fromUpstream));
    setText("bytes-in-rate", bytes(rates.bytesIn));
    setText("bytes-out-rate", bytes(rates.bytesOut));
    setText("bytes-in-total", bytes(snapshot.bytes.fromClient));
    setText("bytes-out-total", bytes(snapshot.bytes.fromUpstream));
    setText("http-rate", number(rates.http));
    setText("requests-total", String(snapshot.connections.requests));
    setText("handshake-p50", seconds(snapshot.handshake.p50));
    setText("handshake-p99", seconds(snapshot.handshake.p99));
    for (const key of ["active", "accepted", "handled", "requests", "reading", "writing", "waiting"]) {
      setText("conn-" + key, String(snapshot.connections[key]));
    }
    showCloses(snapshot.closes);
    showPeers(snapshot.peers);

    history.time.push(snapshot.time / 1000);
    if (history.time.length > KEEP) history.time.shift();
    push("chart-open", [snapshot.tunnels, snapshot.connections.active]);
    push("chart-upgrades", [rates.upgrades, rates.closes]);
    push("chart-messages", [rates.messagesIn, rates.messagesOut]);
    push("chart-bytes", [rates.bytesIn, rates.bytesOut]);
    push("chart-http", [rates.http]);
    push("chart-handshake", [handshakeMs]);
    for (const chart of CHARTS) chart.plot.setData([history.time].concat(history[chart.id]));
    setText("updated", "updated " + new Date(snapshot.time).toLocaleTimeString());
  }

  /** HTTP requests in `of`: wsgate_http_requests_total where `now` has it, else stub_status's requests. */
  function httpCount(of, now) {
    return now.httpTotal > 0 ? of.httpTotal : of.connections.requests;
  }

  function row(cells) {
    const tr = document.createElement("tr");
    for (const cell of cells) {
      const td = document.createElement("td");
      if (cell.node) td.appendChild(cell.node);
      else td.textContent = cell.text;
      if (cell.className) td.className = cell.className;
      tr.appendChild(td);
    }
    return tr;
  }

  function replaceRows(id, rows, empty, columns) {
    const body = byId(id);
    const fresh = document.createDocumentFragment();
    if (rows.length === 0) {
      const tr = row([{ text: empty }]);
      tr.className = "empty";
      tr.firstChild.colSpan = columns;
      fresh.appendChild(tr);
    }
    for (const tr of rows) fresh.appendChild(tr);
    body.replaceChildren(fresh);
  }

  function showCloses(closes) {
    const entries = Object.entries(closes).sort((a, b) => b[1] - a[1]);
    const most = entries.length > 0 ? entries[0][1] : 0;
    const rows = entries.map(([key, count]) => {
      const [code, by] = key.split(" ");
      const bar = document.createElement("div");
      bar.className = "bar";
      bar.style.width = (most > 0 ? (count / most) * 100 : 0) + "%";
      return row([
        { text: code || "–", className: "text" },
        { text: by || "–", className: "text" },
        { text: String(count) },
        { node: bar },
      ]);
    });
    replaceRows("closes", rows, "no tunnel closed yet", 4);
  }

  function showPeers(peers) {
    const rows = peers.map((peer) => {
      const state = peer.up === 1 ? "up" : peer.up === 0 ? "down" : "–";
      return row([
        { text: peer.upstream, className: "text" },
        { text: peer.peer, className: "text" },
        { text: state, className: "text " + (peer.up === 1 ? "up" : peer.up === 0 ? "down" : "") },
        { text: String(peer.tunnels) },
        { text: String(peer.requests) },
        { text: String(peer.failures) },
      ]);
    });
    replaceRows("peers", rows, "no upstream peer reported", 6);
  }

  function setState(name) {
    const state = byId("state");
    state.textContent = name;
    state.className = "state " + name;
  }

  function listen() {
    // Relative to the page: the feed is "events" under the same location.
    const source = new EventSource("events");
    source.onopen = () => setState("live");
    source.onmessage = (event) => {
      setState("live");
      show(JSON.parse(event.data));
    };
    // EventSource reconnects by itself (the stream's retry:); the page says so meanwhile.
    source.onerror = () => setState("lost");
  }

  for (const chart of CHARTS) makeChart(chart);
  // A chart follows its container: a window resized, a scroll bar come or gone, the grid refolded.
  let resizing = 0;
  const later = () => {
    cancelAnimationFrame(resizing);
    resizing = requestAnimationFrame(resize);
  };
  window.addEventListener("resize", later);
  if (typeof ResizeObserver === "function") {
    const observer = new ResizeObserver(later);
    for (const chart of CHARTS) observer.observe(byId(chart.id));
  }
  listen();
})();
