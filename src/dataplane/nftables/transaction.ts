// `nft -f -` transactions that write only what changed. A changed service's chains are
// flushed and refilled, its map elements deleted or added one by one. Chains and sets
// no longer wanted are flushed in the transaction that drops their last references and
// deleted in a second one: the kernel counts a reference as gone only once its
// transaction commits, so deleting in the same one can fail with EBUSY (kube-proxy
// defers deletion for the same reason).
import { FIXED_CHAINS, HAIRPIN_SET, MAP_DECLS, MAP_NAMES, TABLE, elementsIn, hairpinElement, type Contribution, type MapName, type NftChanges } from './ruleset.js';

const T = `ip ${TABLE}`;

export interface Transaction {
  /** the payload; empty when nothing changed */
  text: string;
  /** chains and sets flushed now, to delete once `text` is committed */
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

/** Lines grouped so that everything exists before it is referenced. */
class Lines {
  readonly declare: string[] = [];
  readonly sets: string[] = [];
  readonly rules: string[] = [];
  readonly deleteElements: string[] = [];
  readonly addElements: string[] = [];
  readonly flushStale: string[] = [];
  chainsWritten = 0;
  elementsAdded = 0;
  elementsDeleted = 0;

  /** `hook`: a base chain's "type … hook … priority …" */
  chain(name: string, rules: readonly string[], hook?: string): void {
    this.declare.push(`add chain ${T} ${name}${hook ? ` { ${hook}; policy accept; }` : ''}`);
    this.rules.push(`flush chain ${T} ${name}`, ...rules.map((r) => `add rule ${T} ${name} ${r}`));
    this.chainsWritten++;
  }

  set(name: string): void {
    this.sets.push(`add set ${T} ${name} { type ipv4_addr; flags dynamic,timeout; }`);
  }

  /** `of`: a map or the hairpin set */
  elements(op: 'add' | 'delete', of: MapName | typeof HAIRPIN_SET, items: string[]): void {
    if (items.length === 0) return;
    (op === 'add' ? this.addElements : this.deleteElements).push(`${op} element ${T} ${of} { ${items.join(', ')} }`);
    if (op === 'add') this.elementsAdded += items.length;
    else this.elementsDeleted += items.length;
  }

  done(stale: Stale): Transaction {
    for (const c of stale.chains) this.flushStale.push(`flush chain ${T} ${c}`);
    const all = [...this.declare, ...this.sets, ...this.rules, ...this.deleteElements, ...this.addElements, ...this.flushStale];
    return {
      text: all.length ? `${all.join('\n')}\n` : '',
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
    out.elements('delete', map, dels.get(map)!);
    out.elements('add', map, adds.get(map)!);
  }
  out.elements('delete', HAIRPIN_SET, hairpin.deleted.map(hairpinElement));
  out.elements('add', HAIRPIN_SET, hairpin.added.map(hairpinElement));
  return out.done(stale);
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
  for (const map of MAP_NAMES) out.elements('add', map, wanted.flatMap((c) => [...elementsIn(c, map)].map(([k, v]) => `${k} : ${v}`)));
  out.elements('add', HAIRPIN_SET, [...new Set(wanted.flatMap((c) => c.hairpin))].map(hairpinElement));
  return out.done({ chains: [...existing.chains].filter((c) => !chains.has(c)).sort(), sets: [...existing.sets].filter((s) => !sets.has(s)).sort() });
}

/** The second transaction: deletes what the first flushed. */
export function deletion(stale: Stale): string {
  const lines = [...stale.chains.map((c) => `delete chain ${T} ${c}`), ...stale.sets.map((s) => `delete set ${T} ${s}`)];
  return lines.length ? `${lines.join('\n')}\n` : '';
}

/** Removes the whole table, whether or not it exists (--cleanup, mode switches). */
export const DROP_TABLE = `add table ${T}\ndelete table ${T}\n`;
