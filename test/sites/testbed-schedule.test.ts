import assert from "node:assert/strict";
import { test } from "node:test";
import { eventually, randomBytes } from "../helpers.js";
import { carried, configureLinkEstimates, delta, getBytes, hasTag, pushImage, SITE_WAIT_MS, siteCluster, stopSite, testbedAddress } from "./site-harness.js";
import { insideTestbed, testInTestbed } from "./testbed.js";

/**
 * How a pull splits its chunks between two holders whose link estimates are wrong: a (5 Mbit/s)
 * and c (50 Mbit/s) both hold the layers, and b is told that both links run at 25 Mbit/s, so its
 * first plan gives each holder half. The network-aware schedule mends the plan as the transfer
 * shows the truth (the fast link takes what the slow one has not asked for yet, and a link far
 * below its estimate is planned again), so a sends far less than half; `random`, Nitro's
 * baseline, is kept to whatever the links do, so a sends about half. Inside its own network
 * namespace, like testbed-sites.test.ts.
 */

const A = testbedAddress(0);
const B = testbedAddress(1);
const C = testbedAddress(2);
const LINKS = [`${A}>${B}=5mbit`, `${C}>${B}=50mbit`];
/** Mbit/s, as the config file gives link estimates: wrong for both links. */
const CONFIGURED_MBIT = 25;

if (!insideTestbed) {
  await testInTestbed("the scheduling tests, inside their own network namespace", import.meta.url, LINKS, 600_000);
} else {
  test("with wrong link estimates, network-aware moves chunks off the slow link; random keeps its plan", { timeout: 300_000 }, async (t) => {
    const cluster = await siteCluster(t, ["a", "b", "c"], { testbed: true });
    const config = await configureLinkEstimates(t, cluster, "b", CONFIGURED_MBIT);
    const a = await cluster.start("a");
    const c = await cluster.start("c");
    // Random bytes do not compress: what the links carry is what the chunks weigh.
    const layers = [randomBytes(8 << 20, 131), randomBytes(8 << 20, 132)];
    const images: { manifest: string; blobs: string[] }[] = [];
    for (const [i, layer] of layers.entries()) {
      images.push(await pushImage(a.url, "sched/app", `v${i}`, [layer]));
      await pushImage(c.url, "sched/app", `v${i}`, [layer]);
    }

    /** Pulls layer i at b with `policy`; the share of its bytes that came from a. */
    const shareFromA = async (i: number, policy: string): Promise<number> => {
      const b = await cluster.start("b", ["--config", config, "--schedule", policy]);
      try {
        await eventually(async () => assert.ok(await hasTag(b.url, "sched/app", `v${i}`), `b lists v${i}`), SITE_WAIT_MS);
        const before = await carried();
        const blob = await getBytes(b.url, `/v2/sched/app/blobs/${images[i]!.blobs[1]}`);
        assert.ok(blob.equals(layers[i]!), "the layer arrived whole and right");
        const after = await carried();
        const fromA = delta(before, after, `${A}>${B}`);
        const fromC = delta(before, after, `${C}>${B}`);
        console.log(`${policy}: a sent ${fromA} bytes, c ${fromC}`);
        return fromA / (fromA + fromC);
      } finally {
        await stopSite(b);
      }
    };

    // a's link is a tenth of c's: an exact plan gives a 1/11 of the bytes.
    assert.ok((await shareFromA(0, "network-aware")) < 0.3, "network-aware moved most of a's planned half to c");
    assert.ok((await shareFromA(1, "random")) > 0.4, "random kept to its plan: a sent about half");
  });
}
