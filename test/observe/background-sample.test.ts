import assert from "node:assert/strict";
import { test } from "node:test";
import { BackgroundSample } from "../../src/observe/background-sample.js";

/** The store's totals are sampled in the background (observe/background-sample.ts): who gets which sample, and what a failure leaves. */

/** A `take` the test lets finish, one call at a time. */
function controlledTake(): { take: () => Promise<number>; calls: number; finish(value: number): void; fail(error: Error): void } {
  const pending: { resolve(value: number): void; reject(error: Error): void }[] = [];
  const control = {
    calls: 0,
    take: () => {
      control.calls++;
      return new Promise<number>((resolve, reject) => pending.push({ resolve, reject }));
    },
    finish: (value: number) => pending.shift()!.resolve(value),
    fail: (error: Error) => pending.shift()!.reject(error),
  };
  return control;
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

test("a refresh during a sample waits for the next one, shared by every caller meanwhile", async () => {
  const control = controlledTake();
  let clock = 5_000;
  const sample = new BackgroundSample(control.take, { now: () => clock });
  const first = sample.refresh();
  const second = sample.refresh();
  const third = sample.refresh();
  assert.equal(second, third, "callers during a sample share the next");
  assert.equal(control.calls, 1);
  clock += 250;
  control.finish(1);
  await first;
  assert.deepEqual(sample.latest, { value: 1, at: 5_250, seconds: 0.25 });
  await turn();
  assert.equal(control.calls, 2, "the next sample started once the first was in");
  control.finish(2);
  await second;
  assert.equal(sample.latest?.value, 2, "what a caller did before asking is in the sample it gets");
  assert.equal(control.calls, 2);
});

test("a failed sample keeps the last value, logs once, and once again when sampling works", async () => {
  const control = controlledTake();
  const lines: string[] = [];
  const sample = new BackgroundSample(control.take, { log: (line) => lines.push(line), what: "the totals" });
  const ok = sample.refresh();
  control.finish(7);
  await ok;
  for (let i = 0; i < 2; i++) {
    const failing = sample.refresh();
    control.fail(new Error("store down"));
    await failing;
  }
  assert.equal(sample.latest?.value, 7);
  const back = sample.refresh();
  control.finish(8);
  await back;
  assert.deepEqual(lines, ["sampling the totals failed (the last sample stays): store down", "sampling the totals works again"]);
});
