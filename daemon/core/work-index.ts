// The in-memory work graph: which items are ready (by priority, then age), which are waiting or
// blocked, and who depends on whom. Kept from the tables' apply hook, so every way a record
// changes (API, journal replay at start, external file edits, other daemons on PostgreSQL)
// keeps it right. Choosing the next item reads the head of a few heaps, never the backlog.
import { EventEmitter } from 'node:events';
import type { Entry, JsonObject, Section } from '../../shared/types.js';
import { isHeld } from '../../shared/types.js';
import { ageKey, dependsOn, prereqState, priorityRank, readiness, type ReadinessState } from '../../shared/work-graph.js';
import type { Tables } from '../store/tables.js';

interface Node {
  id: string;
  data: JsonObject;
  deps: string[];
  state: ReadinessState;
  rank: number;
  bucket: Bucket | null;
  age: number;
  /** Order of first sight: breaks ties between items created in the same second. */
  seq: number;
  /** When it last became ready (ms), for the ready-to-claimed histogram. */
  readySince: number;
  /** Bumped on every push: older heap entries of this item are stale. */
  gen: number;
}

interface HeapItem {
  age: number;
  seq: number;
  gen: number;
  node: Node;
}

const before = (a: HeapItem, b: HeapItem): boolean => a.age < b.age || (a.age === b.age && a.seq < b.seq);

/** A binary min-heap by (age, seq); entries are invalidated lazily (see isLive()). */
class Heap {
  readonly items: HeapItem[] = [];

  push(x: HeapItem): void {
    const a = this.items;
    a.push(x);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(a[i], a[p])) break;
      [a[i], a[p]] = [a[p], a[i]];
      i = p;
    }
  }

  /** Keeps only the entries `keep` accepts (rebuilt bottom-up: linear). */
  compact(keep: (h: HeapItem) => boolean): void {
    const a = this.items.filter(keep);
    this.items.length = 0;
    for (const x of a) this.items.push(x);
    for (let i = (a.length >> 1) - 1; i >= 0; i--) this.siftDown(i);
  }

  pop(): HeapItem | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last) {
      a[0] = last;
      this.siftDown(0);
    }
    return top;
  }

  private siftDown(i: number): void {
    const a = this.items;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < a.length && before(a[l], a[m])) m = l;
      if (r < a.length && before(a[r], a[m])) m = r;
      if (m === i) return;
      [a[i], a[m]] = [a[m], a[i]];
      i = m;
    }
  }
}

/** Ready items of one priority, team and work type. */
interface Bucket {
  rank: number;
  team: string;
  type: string;
  heap: Heap;
  /** Live entries (the heap also holds stale ones until they reach the top). */
  live: number;
}

const isLive = (h: HeapItem): boolean => h.node.state === 'ready' && h.node.gen === h.gen && h.node.bucket !== null;

export interface NextFilter {
  work_types?: readonly string[];
  teams?: readonly string[];
  /** Lowest priority rank to consider (priorityRank). */
  min_rank?: number;
}

export interface WorkGraphCounts {
  ready: number;
  waiting: number;
  blocked: number;
}

/** Events: 'ready' (work id) when an item becomes ready; 'claimed' (seconds it was ready) when a ready item becomes held. */
export class WorkIndex extends EventEmitter {
  private nodes = new Map<string, Node>();
  /** Prerequisite id -> the items that list it (the id may not exist yet). */
  private dependents = new Map<string, Set<string>>();
  /** Per priority rank (0..3): bucket key -> bucket. */
  private buckets: Array<Map<string, Bucket>> = [new Map(), new Map(), new Map(), new Map()];
  private seq = 0;
  readonly counts: WorkGraphCounts = { ready: 0, waiting: 0, blocked: 0 };

  constructor(private tables: Tables) {
    super();
    // Built once the store is open (every record loaded), then kept by the apply hook.
    for (const [key, slot] of tables.maps.work) this.put(key, slot.data, false);
    tables.onApply((section, key, b, a) => this.apply(section, key, b, a));
  }

  private apply(section: Section, key: string, b: Entry | undefined, a: Entry | undefined): void {
    if (section !== 'work') return;
    if (a) this.put(key, a.data, true);
    else this.remove(key);
    // Dependents only change when what this item means for them changes.
    if (prereqState(b?.data) !== prereqState(a?.data)) {
      const deps = this.dependents.get(key);
      if (deps)
        for (const id of deps) {
          const n = this.nodes.get(id);
          if (n) this.refresh(n, true);
        }
    }
  }

  private put(id: string, data: JsonObject, live: boolean): void {
    let node = this.nodes.get(id);
    const deps = dependsOn(data);
    if (!node) {
      node = { id, data, deps: [], state: 'closed', rank: 1, bucket: null, age: 0, seq: this.seq++, readySince: 0, gen: 0 };
      this.nodes.set(id, node);
    }
    this.link(node, deps);
    const prevState = node.state;
    const wasReady = prevState === 'ready';
    node.data = data;
    const rank = priorityRank(data.priority);
    const team = typeof data.team === 'string' ? data.team : '';
    const type = typeof data.work_type === 'string' ? data.work_type : '';
    const age = ageKey(data);
    const moved = !node.bucket || node.rank !== rank || node.bucket.team !== team || node.bucket.type !== type || node.age !== age;
    node.rank = rank;
    node.age = age;
    const next = readiness(data, (d) => this.tables.get('work', d)?.data).state;
    if (wasReady && (next !== 'ready' || moved)) this.unready(node);
    this.setState(node, next);
    if (next === 'ready' && (!wasReady || moved)) this.enqueue(node, team, type, live);
    if (wasReady && next === 'closed' && isHeld(data) && live) this.emit('claimed', Math.max(0, Date.now() - node.readySince) / 1000);
  }

  private remove(id: string): void {
    const node = this.nodes.get(id);
    if (!node) return;
    if (node.state === 'ready') this.unready(node);
    this.setState(node, 'closed');
    this.link(node, []);
    this.nodes.delete(id);
  }

  /** Recomputes readiness after a prerequisite changed. */
  private refresh(node: Node, live: boolean): void {
    const next = readiness(node.data, (d) => this.tables.get('work', d)?.data).state;
    if (next === node.state) return;
    if (node.state === 'ready') this.unready(node);
    this.setState(node, next);
    if (next === 'ready')
      this.enqueue(node, typeof node.data.team === 'string' ? node.data.team : '', typeof node.data.work_type === 'string' ? node.data.work_type : '', live);
  }

  private setState(node: Node, next: ReadinessState): void {
    if (node.state !== 'closed') this.counts[node.state]--;
    if (next !== 'closed') this.counts[next]++;
    node.state = next;
  }

  private link(node: Node, deps: string[]): void {
    if (node.deps.length === deps.length && node.deps.every((d, i) => d === deps[i])) return;
    for (const d of node.deps) {
      const set = this.dependents.get(d);
      set?.delete(node.id);
      if (set && set.size === 0) this.dependents.delete(d);
    }
    for (const d of deps) {
      let set = this.dependents.get(d);
      if (!set) this.dependents.set(d, (set = new Set()));
      set.add(node.id);
    }
    node.deps = deps;
  }

  private enqueue(node: Node, team: string, type: string, live: boolean): void {
    const map = this.buckets[node.rank];
    const key = team + '\0' + type;
    let bucket = map.get(key);
    if (!bucket) map.set(key, (bucket = { rank: node.rank, team, type, heap: new Heap(), live: 0 }));
    node.bucket = bucket;
    node.gen++;
    node.readySince = Date.now();
    bucket.live++;
    bucket.heap.push({ age: node.age, seq: node.seq, gen: node.gen, node });
    // Items claimed by id leave stale entries deep in the heap: drop them once they outnumber the live ones.
    if (bucket.heap.items.length > 2 * bucket.live + 1024) bucket.heap.compact(isLive);
    if (live) this.emit('ready', node.id);
  }

  private unready(node: Node): void {
    if (node.bucket) node.bucket.live--;
    node.bucket = null;
    node.gen++;
  }

  /** The head of a bucket's heap, after dropping stale entries. */
  private head(bucket: Bucket): HeapItem | undefined {
    const items = bucket.heap.items;
    while (items.length && !isLive(items[0])) bucket.heap.pop();
    if (!items.length && bucket.live === 0) this.buckets[bucket.rank].delete(bucket.team + '\0' + bucket.type);
    return items[0];
  }

  /**
   * The best ready item matching `filter` that `accept` takes (priority, then age, then order of
   * creation). Items `accept` turns down are skipped, and stay ready for others.
   */
  next(filter: NextFilter, accept: (workId: string) => boolean = () => true): string | undefined {
    const teams = filter.teams?.length ? new Set(filter.teams) : null;
    const types = filter.work_types?.length ? new Set(filter.work_types) : null;
    for (let rank = 3; rank >= (filter.min_rank ?? 0); rank--) {
      const matching: Bucket[] = [];
      for (const b of this.buckets[rank].values()) {
        if (b.live > 0 && (!teams || teams.has(b.team)) && (!types || types.has(b.type))) matching.push(b);
      }
      if (!matching.length) continue;
      const skipped: Array<[Bucket, HeapItem]> = [];
      let found: string | undefined;
      for (;;) {
        let best: [Bucket, HeapItem] | null = null;
        for (const b of matching) {
          const h = this.head(b);
          if (h && (!best || before(h, best[1]))) best = [b, h];
        }
        if (!best) break;
        if (accept(best[1].node.id)) {
          found = best[1].node.id;
          break;
        }
        skipped.push([best[0], best[0].heap.pop()!]);
      }
      for (const [b, h] of skipped) b.heap.push(h);
      if (found !== undefined) return found;
    }
    return undefined;
  }

  /** Whether some ready item matches `filter` (a waiter could be served). */
  hasReady(filter: NextFilter): boolean {
    return this.next(filter) !== undefined;
  }

  /** Heap entries held, stale ones included (bounded by compaction). */
  heapEntries(): number {
    let n = 0;
    for (const map of this.buckets) for (const b of map.values()) n += b.heap.items.length;
    return n;
  }

  stateOf(workId: string): ReadinessState | undefined {
    return this.nodes.get(workId)?.state;
  }

  /** The items that list `workId` as a prerequisite. */
  dependentsOf(workId: string): string[] {
    return [...(this.dependents.get(workId) ?? [])];
  }
}
