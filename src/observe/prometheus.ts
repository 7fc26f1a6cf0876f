import { Counter, Gauge, type Registry } from "prom-client";

/**
 * Metrics whose values live elsewhere (running totals in layers/, registry/, sites/; a
 * background sample of the store) and are read when Prometheus scrapes: the domain code keeps
 * plain numbers and never imports prom-client, and a scrape costs one read per series. Every
 * metric is registered on the registry it is given, never on prom-client's global one.
 */

export const PREFIX = "docker_dedup_";

/** One labelled value: the labels, then the value. */
export type Series<L extends string> = readonly [Partial<Record<L, string>>, number];

/** A counter that reads its value from a running total. */
export function pulledCounter(register: Registry, name: string, help: string, read: () => number): void {
  pulledCounters(register, name, help, [], () => [[{}, read()]]);
}

/** A labelled counter, one series per entry `read` returns (each a running total). */
export function pulledCounters<L extends string>(register: Registry, name: string, help: string, labelNames: readonly L[], read: () => Iterable<Series<L>>): void {
  // A counter cannot be set, only raised: each scrape empties it and raises it to each total.
  new Counter<L>(pulled(register, name, help, labelNames, read, (counter: Counter<L>, labels, value) => counter.inc(labels, value)));
}

/** A gauge that reads its value at scrape time; NaN (left out of graphs) while the value is unknown. */
export function pulledGauge(register: Registry, name: string, help: string, read: () => number | undefined): void {
  pulledGauges(register, name, help, [], () => [[{}, read() ?? Number.NaN]]);
}

export function pulledGauges<L extends string>(register: Registry, name: string, help: string, labelNames: readonly L[], read: () => Iterable<Series<L>>): void {
  new Gauge<L>(pulled(register, name, help, labelNames, read, (gauge: Gauge<L>, labels, value) => gauge.set(labels, value)));
}

/** A metric's configuration whose series are those `read` returns at each scrape, put in place by `put`. */
function pulled<L extends string, M extends { reset(): void }>(
  register: Registry,
  name: string,
  help: string,
  labelNames: readonly L[],
  read: () => Iterable<Series<L>>,
  put: (metric: M, labels: Partial<Record<L, string>>, value: number) => void,
) {
  return {
    name: PREFIX + name,
    help,
    labelNames,
    registers: [register],
    collect(this: M) {
      this.reset();
      for (const [labels, value] of read()) put(this, labels, value);
    },
  };
}
