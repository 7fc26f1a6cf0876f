import assert from "node:assert/strict";
import { test } from "node:test";
import { formatDuration, PhasedProgress, Progress, type ProgressOutput } from "../../src/cli/progress.js";

/** An output that keeps what is written, and a clock the test moves: no timing in these tests. */
function fakes(isTTY: boolean): { out: ProgressOutput; written: () => string; clock: { now: number }; now: () => number } {
  let text = "";
  const clock = { now: 1_000_000 };
  return { out: { isTTY, write: (more: string) => void (text += more) }, written: () => text, clock, now: () => clock.now };
}

test("off a terminal: one plain line per interval, only once an interval went by, with the share, the rate and the time left", () => {
  const { out, written, clock, now } = fakes(false);
  const progress = new Progress("adding", 1000 * 1e6, { out, now, lineEveryMs: 10_000 });
  clock.now += 4_000;
  progress.advance(100 * 1e6);
  assert.equal(written(), "", "a short run stays quiet");
  clock.now += 6_000;
  progress.advance(150 * 1e6);
  assert.equal(written(), "adding: 25% (238.4 MiB of 953.7 MiB), 25.0 MB/s, about 30 s left\n");
  clock.now += 5_000;
  progress.advance(50 * 1e6);
  assert.equal(written().split("\n").length, 2, "no second line within the interval");
  clock.now += 5_000;
  progress.advance(0);
  assert.equal(written().split("\n")[1], "adding: 30% (286.1 MiB of 953.7 MiB), 15.0 MB/s, about 47 s left");
  progress.clearLine();
  assert.equal(written().split("\n").length, 3, "nothing to clear off a terminal");
});

test("off a terminal, counting things of unknown number: the count and the rate", () => {
  const { out, written, clock, now } = fakes(false);
  const progress = new PhasedProgress("verifying", { out, now, lineEveryMs: 10_000 });
  progress.update("chunks", 1);
  clock.now += 10_000;
  progress.update("chunks", 1200);
  clock.now += 10_000;
  progress.update("blobs", 30);
  clock.now += 10_000;
  progress.update("blobs", 90);
  assert.equal(written(), "verifying chunks: 1200 chunks, 120.0 chunks/s\nverifying blobs: 90 blobs, 9.0 blobs/s\n");
});

test("on a terminal: a bar redrawn in place, at most every 100 ms, cleared for other lines", () => {
  const { out, written, clock, now } = fakes(true);
  const progress = new Progress("pulling", 400, { out, now, unit: "blobs" });
  clock.now += 2_000;
  progress.advance(100);
  assert.equal(written(), `\r\x1b[Kpulling [########----------------------] 25% 100 blobs 50.0 blobs/s`);
  clock.now += 50;
  progress.advance(100);
  assert.equal(written().split("\r").length, 2, "not redrawn within 100 ms");
  clock.now += 50;
  progress.advance(200);
  assert.ok(written().endsWith(`\r\x1b[Kpulling [##############################] 100% 400 blobs 190.5 blobs/s`), written());
  progress.clearLine();
  assert.ok(written().endsWith("\r\x1b[K"));
});

test("durations are told as a person reads them", () => {
  assert.deepEqual([0.4, 45, 200, 7500].map(formatDuration), ["0 s", "45 s", "3 min 20 s", "2 h 5 min"]);
});
