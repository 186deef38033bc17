// `nft -f -` transactions that write only what changed. A changed service's chains are
// flushed and refilled, its map elements deleted or added one by one. Chains and sets
// no longer wanted are flushed in the transaction that drops their last references and
// deleted in a second one: the kernel counts a reference as gone only once its
// transaction commits, so deleting in the same one can fail with EBUSY (kube-proxy
// defers deletion for the same reason).
import { FIXED_CHAINS, HAIRPIN_SET, MAP_DECLS, MAP_NAMES, TABLE, elementCount, elementsIn, hairpinElement, slotElements, type Contribution, type MapName, type NftChanges } from './ruleset.js';

const T = `ip ${TABLE}`;

export interface Transaction {
  /** the payload's lines, in order (made as they are read: 10,000 Services' are 30 MB of strings); none when nothing changed */
  lines: Iterable<string>;
  /** chains and sets flushed now, to delete once `lines` is committed */
  stale: Stale;
  chainsWritten: number;
  elementsAdded: number;
  elementsDeleted: number;
}

export interface Stale {
  chains: string[];
  sets: string[];
}

/** Our chains and sets in the kernel now (from `nft -j list chains|sets`). */
export interface Existing {
  chains: Set<string>;
  sets: Set<string>;
}

/** Elements a transaction adds to or deletes from a map or set, written out when read. */
interface ElementBatch {
  op: 'add' | 'delete';
  of: MapName | typeof HAIRPIN_SET;
  /** each call iterates them afresh */
  items: () => Iterable<string>;
}

/** Elements per statement: one statement for 100,000 endpoints would be one 5 MB string. */
const ELEMENTS_PER_LINE = 1024;

/** `items` in groups of `size`, the last one smaller: what one statement holds. */
function* groups<T>(items: Iterable<T>, size: number): Generator<T[]> {
  let group: T[] = [];
  for (const item of items) {
    group.push(item);
    if (group.length === size) {
      yield group;
      group = [];
    }
  }
  if (group.length) yield group;
}

function* elementLines({ op, of, items }: ElementBatch): Generator<string> {
  for (const group of groups(items(), ELEMENTS_PER_LINE)) yield `${op} element ${T} ${of} { ${group.join(', ')} }`;
}

/** A chain a transaction declares, flushes and fills; `hook`: a base chain's "type … hook … priority …". */
interface ChainFill {
  name: string;
  rules: readonly string[];
  hook?: string;
}

/** Lines grouped so that everything exists before it is referenced. */
class Lines {
  /** the table, maps and sets, and the chains (their lines are made when read) */
  readonly declare: Array<string | ChainFill> = [];
  readonly sets: string[] = [];
  private readonly fills: ChainFill[] = [];
  /** flushes of maps and sets, then elements deleted */
  readonly deleteElements: Array<string | ElementBatch> = [];
  readonly addElements: ElementBatch[] = [];
  readonly flushStale: string[] = [];
  chainsWritten = 0;
  elementsAdded = 0;
  elementsDeleted = 0;

  chain(name: string, rules: readonly string[], hook?: string): void {
    const fill = { name, rules, hook };
    this.declare.push(fill);
    this.fills.push(fill);
    this.chainsWritten++;
  }

  set(name: string): void {
    this.sets.push(`add set ${T} ${name} { type ipv4_addr; flags dynamic,timeout; }`);
  }

  /** `of`: a map or the hairpin set; `count`: how many `items` there are */
  elements(op: 'add' | 'delete', of: MapName | typeof HAIRPIN_SET, items: () => Iterable<string>, count: number): void {
    if (count === 0) return;
    const batch = { op, of, items };
    if (op === 'add') {
      this.addElements.push(batch);
      this.elementsAdded += count;
    } else {
      this.deleteElements.push(batch);
      this.elementsDeleted += count;
    }
  }

  done(stale: Stale): Transaction {
    for (const c of stale.chains) this.flushStale.push(`flush chain ${T} ${c}`);
    const { declare, sets, fills, deleteElements, addElements, flushStale } = this;
    return {
      lines: {
        *[Symbol.iterator]() {
          for (const d of declare) yield typeof d === 'string' ? d : `add chain ${T} ${d.name}${d.hook ? ` { ${d.hook}; policy accept; }` : ''}`;
          yield* sets;
          for (const c of fills) {
            yield `flush chain ${T} ${c.name}`;
            for (const r of c.rules) yield `add rule ${T} ${c.name} ${r}`;
          }
          for (const d of deleteElements) {
            if (typeof d === 'string') yield d;
            else yield* elementLines(d);
          }
          for (const a of addElements) yield* elementLines(a);
          yield* flushStale;
        },
      },
      stale,
      chainsWritten: this.chainsWritten,
      elementsAdded: this.elementsAdded,
      elementsDeleted: this.elementsDeleted,
    };
  }
}

const sameRules = (a: readonly string[] | undefined, b: readonly string[]) => a !== undefined && a.length === b.length && a.every((r, i) => r === b[i]);

/** The changes of one update, on a table that holds exactly what we wrote before. */
export function incremental({ changes, hairpin, shared }: NftChanges): Transaction {
  const out = new Lines();
  const stale: Stale = { chains: [...shared.deleted], sets: [] };
  const added = new Set(shared.added);
  const dels = new Map<MapName, string[]>(MAP_NAMES.map((m) => [m, []]));
  const adds = new Map<MapName, string[]>(MAP_NAMES.map((m) => [m, []]));
  for (const { before, after } of changes) {
    for (const [chain, rules] of after?.chains ?? []) if (!sameRules(before?.chains.get(chain), rules)) out.chain(chain, rules);
    for (const [chain, rules] of after?.shared ?? []) if (added.delete(chain)) out.chain(chain, rules);
    for (const chain of before?.chains.keys() ?? []) if (!after?.chains.has(chain)) stale.chains.push(chain);
    for (const set of after?.sets ?? []) if (!before?.sets.includes(set)) out.set(set);
    for (const set of before?.sets ?? []) if (!after?.sets.includes(set)) stale.sets.push(set);
    for (const map of MAP_NAMES) {
      const was = elementsIn(before, map);
      const now = elementsIn(after, map);
      // A changed verdict is a delete and an add: nft refuses to add an existing key.
      for (const [k, v] of was) if (now.get(k) !== v) dels.get(map)!.push(k);
      for (const [k, v] of now) if (was.get(k) !== v) adds.get(map)!.push(`${k} : ${v}`);
    }
  }
  for (const map of MAP_NAMES) {
    const [del, add] = [dels.get(map)!, adds.get(map)!];
    out.elements('delete', map, () => del, del.length);
    out.elements('add', map, () => add, add.length);
  }
  out.elements('delete', HAIRPIN_SET, () => hairpin.deleted.map(hairpinElement), hairpin.deleted.length);
  out.elements('add', HAIRPIN_SET, () => hairpin.added.map(hairpinElement), hairpin.added.length);
  return out.done(stale);
}

/** Every element of `map` the contributions hold, as `key : verdict`, made as they are read. */
function* allElements(wanted: Contribution[], map: MapName): Generator<string> {
  for (const c of wanted) {
    for (const [k, v] of c.elements.get(map) ?? []) yield `${k} : ${v}`;
    if (c.slots?.map === map) for (const [k, v] of slotElements(c.slots)) yield `${k} : ${v}`;
  }
}

/**
 * The whole table, on a kernel whose state is not known (first sync, after a failed
 * one): the table, the fixed chains and the maps are created if missing, every chain
 * we want is flushed and refilled and every map refilled, in one atomic transaction;
 * our other chains and sets are stale.
 */
export function reconcile(wanted: Contribution[], existing: Existing): Transaction {
  const out = new Lines();
  out.declare.push(`add table ${T} { comment "xlb: Kubernetes Service load balancing"; }`);
  for (const ch of FIXED_CHAINS) out.chain(ch.name, ch.rules, ch.hook);
  for (const map of MAP_NAMES) {
    out.declare.push(`add map ${T} ${map} { ${MAP_DECLS[map]}; }`);
    out.deleteElements.push(`flush map ${T} ${map}`);
  }
  out.declare.push(`add set ${T} ${HAIRPIN_SET} { type ipv4_addr . ipv4_addr; comment "endpoints: a pod reaching itself through a service"; }`);
  out.deleteElements.push(`flush set ${T} ${HAIRPIN_SET}`);
  const chains = new Set<string>(FIXED_CHAINS.map((c) => c.name));
  const sets = new Set<string>([HAIRPIN_SET]);
  for (const c of wanted) {
    for (const [chain, rules] of c.chains) {
      out.chain(chain, rules);
      chains.add(chain);
    }
    for (const [chain, rules] of c.shared) {
      if (chains.has(chain)) continue;
      out.chain(chain, rules);
      chains.add(chain);
    }
    for (const set of c.sets) {
      out.set(set);
      sets.add(set);
    }
  }
  for (const map of MAP_NAMES) out.elements('add', map, () => allElements(wanted, map), wanted.reduce((n, c) => n + elementCount(c, map), 0));
  const hairpin = new Set(wanted.flatMap((c) => c.hairpin));
  out.elements('add', HAIRPIN_SET, () => [...hairpin].map(hairpinElement), hairpin.size);
  return out.done({ chains: [...existing.chains].filter((c) => !chains.has(c)).sort(), sets: [...existing.sets].filter((s) => !sets.has(s)).sort() });
}

/** The second transaction's lines: deletes what the first flushed. */
export function deletion(stale: Stale): string[] {
  return [...stale.chains.map((c) => `delete chain ${T} ${c}`), ...stale.sets.map((s) => `delete set ${T} ${s}`)];
}

/** Removes the whole table, whether or not it exists (--cleanup, mode switches). */
export const DROP_TABLE: readonly string[] = [`add table ${T}`, `delete table ${T}`];
