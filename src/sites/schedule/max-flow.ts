/**
 * Dinic's maximum flow on a small network with real-valued capacities (bytes, and bytes/s x
 * seconds). The scheduler's network has one node per holder group and per site, so it stays
 * small however many chunks there are; augmenting paths alternate groups and sites, so the
 * recursion is at most about twice the number of sites deep.
 */
export class FlowNetwork {
  readonly #head: Int32Array;
  readonly #next: Int32Array;
  readonly #to: Int32Array;
  /** Residual capacity; edge e and its reverse are e and e ^ 1. */
  readonly #residual: Float64Array;
  #edgeCount = 0;
  /** Residual capacities at or below this count as zero (floating-point noise). */
  readonly #epsilon: number;
  readonly #level: Int32Array;
  readonly #cursor: Int32Array;
  readonly #queue: Int32Array;

  constructor(nodeCount: number, maxEdges: number, epsilon: number) {
    this.#head = new Int32Array(nodeCount).fill(-1);
    this.#next = new Int32Array(2 * maxEdges);
    this.#to = new Int32Array(2 * maxEdges);
    this.#residual = new Float64Array(2 * maxEdges);
    this.#level = new Int32Array(nodeCount);
    this.#cursor = new Int32Array(nodeCount);
    this.#queue = new Int32Array(nodeCount);
    this.#epsilon = epsilon;
  }

  /** Adds an edge (at most `maxEdges` in all) and returns its handle for `flow`. */
  addEdge(from: number, to: number, capacity: number): number {
    const edge = this.#edgeCount;
    this.#link(from, to, capacity);
    this.#link(to, from, 0);
    return edge;
  }

  /**
   * Changes an edge's capacity, keeping the flow found so far: `maxFlow` then goes on from it.
   * The new capacity must be at least the edge's flow.
   */
  setCapacity(edge: number, capacity: number): void {
    this.#residual[edge] = capacity - this.#residual[edge ^ 1]!;
  }

  /** The flow an edge carries after `maxFlow` (what its reverse edge could send back; exact even for infinite capacities). */
  flow(edge: number): number {
    return this.#residual[edge ^ 1]!;
  }

  /** Augments the current flow to a maximum one; returns how much it added. */
  maxFlow(source: number, sink: number): number {
    let total = 0;
    while (this.#buildLevels(source, sink)) {
      this.#cursor.set(this.#head);
      for (;;) {
        const pushed = this.#augment(source, sink, Infinity);
        if (pushed <= this.#epsilon) break;
        total += pushed;
      }
    }
    return total;
  }

  /** After `maxFlow`: 1 for the nodes the source still reaches in the residual network (a minimum cut's source side). */
  sourceSide(source: number): Uint8Array {
    this.#buildLevels(source, -1);
    return Uint8Array.from(this.#level, (level) => (level >= 0 ? 1 : 0));
  }

  #link(from: number, to: number, capacity: number): void {
    const edge = this.#edgeCount++;
    this.#to[edge] = to;
    this.#residual[edge] = capacity;
    this.#next[edge] = this.#head[from]!;
    this.#head[from] = edge;
  }

  /**
   * Breadth-first levels from the source over residual edges; true if the sink is reached. Nodes
   * as far as the sink or farther are not expanded: no shortest path goes through them.
   */
  #buildLevels(source: number, sink: number): boolean {
    const level = this.#level;
    const queue = this.#queue;
    const residual = this.#residual;
    level.fill(-1);
    level[source] = 0;
    queue[0] = source;
    for (let read = 0, write = 1; read < write; read++) {
      const node = queue[read]!;
      if (sink >= 0 && level[sink] !== -1 && level[node]! >= level[sink]!) break;
      for (let e = this.#head[node]!; e !== -1; e = this.#next[e]!) {
        const target = this.#to[e]!;
        if (level[target] === -1 && residual[e]! > this.#epsilon) {
          level[target] = level[node]! + 1;
          queue[write++] = target;
        }
      }
    }
    return sink >= 0 && level[sink] !== -1;
  }

  /** One augmenting path along increasing levels (Dinic's blocking-flow step); returns what it pushed. */
  #augment(node: number, sink: number, limit: number): number {
    if (node === sink) return limit;
    for (let e = this.#cursor[node]!; e !== -1; e = this.#next[e]!, this.#cursor[node] = e) {
      const to = this.#to[e]!;
      const residual = this.#residual[e]!;
      if (residual <= this.#epsilon || this.#level[to] !== this.#level[node]! + 1) continue;
      const pushed = this.#augment(to, sink, Math.min(limit, residual));
      if (pushed > this.#epsilon) {
        this.#residual[e] = residual - pushed;
        this.#residual[e ^ 1] = this.#residual[e ^ 1]! + pushed;
        return pushed;
      }
    }
    return 0;
  }
}
