/**
 * A metrics snapshot (metrics.ts) in Prometheus' text exposition format,
 * version 0.0.4: per family `# HELP` and `# TYPE`, then one line per series;
 * a histogram as its cumulative `_bucket{le=…}` lines ending with `+Inf`,
 * then `_sum` and `_count`. Label values and help texts are escaped as the
 * format says (a backslash, a double quote in label values, a line feed).
 */

import type { FamilySnapshot, MetricsSnapshot } from "./metrics.js";

export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

export function prometheusText(snapshot: MetricsSnapshot): string {
  const lines: string[] = [];
  for (const family of snapshot) writeFamily(lines, family);
  return lines.length > 0 ? `${lines.join("\n")}\n` : "";
}

function writeFamily(lines: string[], family: FamilySnapshot): void {
  const { name, help, type, labels = [], buckets = [] } = family.spec;
  lines.push(`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} ${type}`);
  for (const series of family.series) {
    const pairs = labels.map((label, i) => `${label}="${escapeLabel(series.labels[i] ?? "")}"`);
    if (type !== "histogram") {
      lines.push(`${name}${braces(pairs)} ${sampleValue(series.value)}`);
      continue;
    }
    const counts = series.counts ?? [];
    let cumulative = 0;
    for (let i = 0; i <= buckets.length; i++) {
      cumulative += counts[i] ?? 0;
      const le = i < buckets.length ? sampleValue(buckets[i]!) : "+Inf";
      lines.push(`${name}_bucket${braces([...pairs, `le="${le}"`])} ${cumulative}`);
    }
    lines.push(`${name}_sum${braces(pairs)} ${sampleValue(series.sum ?? 0)}`);
    lines.push(`${name}_count${braces(pairs)} ${series.count ?? cumulative}`);
  }
}

function braces(pairs: readonly string[]): string {
  return pairs.length > 0 ? `{${pairs.join(",")}}` : "";
}

/** A sample value as Go's ParseFloat reads it. */
export function sampleValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}

export function escapeLabel(value: string): string {
  return value.replace(/[\\"\n]/g, (c) => (c === "\n" ? "\\n" : `\\${c}`));
}

function escapeHelp(text: string): string {
  return text.replace(/[\\\n]/g, (c) => (c === "\n" ? "\\n" : "\\\\"));
}
