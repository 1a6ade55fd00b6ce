/**
 * The process's metrics: families of counters, gauges and histograms with
 * labels, as Prometheus models them. A family holds one series per set of
 * label values; a hot path resolves its series once (`family.series(…)`) and
 * then only adds to a number, so counting a frame costs an addition.
 *
 * A snapshot is the registry's figures as plain data (JSON over IPC), so the
 * figures of every worker can be summed into one (`mergeSnapshots`): counters,
 * gauges and histogram buckets of the same family and labels add up (a
 * family of states takes the lowest value instead: `merge: "min"`); series
 * that carry a process's own labels (`pid`) stay apart. Gauges whose value is
 * read when asked (open connections, resident memory) are `collect`
 * callbacks, run when a snapshot is taken.
 */

export type MetricType = "counter" | "gauge" | "histogram";

export interface FamilySpec {
  readonly name: string;
  readonly help: string;
  readonly type: MetricType;
  readonly labels?: readonly string[];
  /** Histograms: the upper bounds of the buckets, ascending (+Inf is implied). */
  readonly buckets?: readonly number[];
  /**
   * How processes' values of one series become the server's: added up (the default: counts), or the
   * lowest (a state every process must agree on, as a peer that is up for the group only when every
   * worker sees it up).
   */
  readonly merge?: "sum" | "min";
}

/** One series of a family: a value, or a histogram's buckets. */
export class Series {
  value = 0;
  /** Histograms: cumulative-at-export counts per bucket (stored per bucket, not cumulative). */
  readonly counts: number[];
  sum = 0;
  count = 0;

  constructor(
    readonly labelValues: readonly string[],
    private readonly bounds: readonly number[] | undefined,
  ) {
    this.counts = bounds ? new Array<number>(bounds.length + 1).fill(0) : [];
  }

  observe(value: number): void {
    const bounds = this.bounds!;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    this.counts[i]!++;
    this.sum += value;
    this.count++;
  }
}

export class Family {
  private readonly bySeries = new Map<string, Series>();

  constructor(readonly spec: FamilySpec) {}

  /** The series for these label values (in the order of spec.labels), made the first time. */
  series(...labelValues: string[]): Series {
    const key = labelValues.join("\u0000");
    let series = this.bySeries.get(key);
    if (series === undefined) {
      series = new Series(labelValues, this.spec.buckets);
      this.bySeries.set(key, series);
    }
    return series;
  }

  all(): IterableIterator<Series> {
    return this.bySeries.values();
  }
}

/** A snapshot of one family's series, as data. */
export interface FamilySnapshot {
  readonly spec: FamilySpec;
  readonly series: ReadonlyArray<{
    readonly labels: readonly string[];
    readonly value: number;
    readonly counts?: readonly number[];
    readonly sum?: number;
    readonly count?: number;
  }>;
}

export type MetricsSnapshot = readonly FamilySnapshot[];

export class MetricsRegistry {
  private readonly families = new Map<string, Family>();
  private readonly collectors: Array<() => void> = [];

  /** The family named so, made the first time (a second spec for the same name must agree). */
  family(spec: FamilySpec): Family {
    let family = this.families.get(spec.name);
    if (family === undefined) {
      family = new Family(spec);
      this.families.set(spec.name, family);
    }
    return family;
  }

  /** `collect` sets gauges when a snapshot is taken. */
  onCollect(collect: () => void): void {
    this.collectors.push(collect);
  }

  snapshot(): MetricsSnapshot {
    for (const collect of this.collectors) collect();
    return [...this.families.values()].map((family) => ({
      spec: family.spec,
      series: [...family.all()].map((series) =>
        family.spec.type === "histogram"
          ? { labels: series.labelValues, value: 0, counts: [...series.counts], sum: series.sum, count: series.count }
          : { labels: series.labelValues, value: series.value },
      ),
    }));
  }
}

/** The process's registry. */
export const metrics = new MetricsRegistry();

/** Several processes' snapshots as one: the same family and labels add up. */
export function mergeSnapshots(snapshots: readonly MetricsSnapshot[]): MetricsSnapshot {
  const families = new Map<string, { spec: FamilySpec; series: Map<string, MutableSeries> }>();
  for (const snapshot of snapshots) {
    for (const family of snapshot) {
      let merged = families.get(family.spec.name);
      if (merged === undefined) {
        merged = { spec: family.spec, series: new Map() };
        families.set(family.spec.name, merged);
      }
      for (const series of family.series) addSeries(merged.series, series, family.spec.merge === "min");
    }
  }
  return [...families.values()].map(({ spec, series }) => ({ spec, series: [...series.values()] }));
}

interface MutableSeries {
  labels: readonly string[];
  value: number;
  counts?: number[];
  sum?: number;
  count?: number;
}

function addSeries(into: Map<string, MutableSeries>, series: FamilySnapshot["series"][number], lowest: boolean): void {
  const key = series.labels.join("\u0000");
  const found = into.get(key);
  if (found === undefined) {
    const { counts, ...rest } = series;
    into.set(key, counts ? { ...rest, counts: [...counts] } : rest);
    return;
  }
  found.value = lowest ? Math.min(found.value, series.value) : found.value + series.value;
  if (series.counts && found.counts) {
    for (let i = 0; i < series.counts.length; i++) found.counts[i] = (found.counts[i] ?? 0) + series.counts[i]!;
    found.sum = (found.sum ?? 0) + (series.sum ?? 0);
    found.count = (found.count ?? 0) + (series.count ?? 0);
  }
}
