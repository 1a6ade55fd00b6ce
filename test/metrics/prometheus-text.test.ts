/**
 * The text exposition format of a metrics snapshot: HELP and TYPE lines,
 * label values escaped, histograms as cumulative buckets ending with +Inf,
 * then _sum and _count; snapshots of two processes summed before writing.
 */

import { describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { MetricsRegistry, mergeSnapshots } from "../../src/core/metrics.js";
import { escapeLabel, prometheusText, sampleValue } from "../../src/core/prometheus-text.js";
import { prometheusMissing, promtoolCheck } from "./exposition.js";

function registry(): MetricsRegistry {
  const r = new MetricsRegistry();
  const requests = r.family({ name: "x_requests_total", help: "Requests.", type: "counter", labels: ["status"] });
  requests.series("200").value = 3;
  requests.series("404").value = 1;
  r.family({ name: "x_open", help: "Open now.", type: "gauge" }).series().value = 2;
  const h = r.family({ name: "x_seconds", help: "Time.", type: "histogram", buckets: [0.1, 1] }).series();
  h.observe(0.05);
  h.observe(0.5);
  h.observe(0.5);
  h.observe(7);
  return r;
}

describe("Prometheus text exposition", () => {
  test("counters, gauges and a histogram with cumulative buckets", () => {
    assert.equal(
      prometheusText(registry().snapshot()),
      [
        "# HELP x_requests_total Requests.",
        "# TYPE x_requests_total counter",
        'x_requests_total{status="200"} 3',
        'x_requests_total{status="404"} 1',
        "# HELP x_open Open now.",
        "# TYPE x_open gauge",
        "x_open 2",
        "# HELP x_seconds Time.",
        "# TYPE x_seconds histogram",
        'x_seconds_bucket{le="0.1"} 1',
        'x_seconds_bucket{le="1"} 3',
        'x_seconds_bucket{le="+Inf"} 4',
        "x_seconds_sum 8.05",
        "x_seconds_count 4",
        "",
      ].join("\n"),
    );
  });

  test("label values and help texts are escaped", () => {
    const r = new MetricsRegistry();
    r.family({ name: "y_total", help: "a \\ b\nc", type: "counter", labels: ["peer"] }).series('a"b\\c\nd').value = 1;
    const text = prometheusText(r.snapshot());
    assert.match(text, /^# HELP y_total a \\\\ b\\nc$/m);
    assert.match(text, /^y_total\{peer="a\\"b\\\\c\\nd"\} 1$/m);
    assert.equal(escapeLabel("plain"), "plain");
  });

  test("special values as Go reads them", () => {
    assert.equal(sampleValue(Infinity), "+Inf");
    assert.equal(sampleValue(-Infinity), "-Inf");
    assert.equal(sampleValue(NaN), "NaN");
    assert.equal(sampleValue(0.25), "0.25");
  });

  test("two processes' snapshots summed, histograms bucket by bucket", () => {
    const text = prometheusText(mergeSnapshots([registry().snapshot(), registry().snapshot()]));
    assert.match(text, /^x_requests_total\{status="200"\} 6$/m);
    assert.match(text, /^x_open 4$/m);
    assert.match(text, /^x_seconds_bucket\{le="1"\} 6$/m);
    assert.match(text, /^x_seconds_bucket\{le="\+Inf"\} 8$/m);
    assert.match(text, /^x_seconds_count 8$/m);
  });

  test("an empty registry writes nothing", () => {
    assert.equal(prometheusText(new MetricsRegistry().snapshot()), "");
  });

  test("promtool accepts the text, and refuses a broken one", { skip: prometheusMissing() }, async () => {
    const good = await promtoolCheck(prometheusText(registry().snapshot()));
    assert.equal(good.code, 0, good.output);
    const bad = await promtoolCheck("x_requests_total{status=200} 3\n");
    assert.notEqual(bad.code, 0, "promtool refuses an unquoted label value");
  });
});
