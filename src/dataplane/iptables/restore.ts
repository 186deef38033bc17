// iptables-restore payloads that rewrite only what changed: a chain is declared (which
// flushes it) and refilled only when its rules differ from what was last programmed;
// our chains that are no longer wanted are flushed and deleted. Chains we do not own
// are never named.
import { CHAINS, PREFIX, type Rule, type Ruleset, type Table } from './rules.js';

export const TABLES: readonly Table[] = ['nat', 'filter'];

/** table -> chain -> its rules rendered, as last programmed */
export type Programmed = Record<Table, Map<string, string>>;

/** Chains that reference per-service chains are always rewritten, so a removed
 *  service's chains are unreferenced when they are deleted in the same transaction. */
const ALWAYS: ReadonlySet<string> = new Set([CHAINS.services, CHAINS.nodePorts, CHAINS.firewall]);

/** One argument as iptables-restore reads it: quoted when it has spaces. */
function arg(a: string): string {
  return /^[\w./:!,+-]+$/.test(a) ? a : `"${a.replace(/(["\\])/g, '\\$1')}"`;
}

export function renderRules(chain: string, rules: string[][]): string {
  return rules.map((r) => `-A ${chain} ${r.map(arg).join(' ')}`).join('\n');
}

/**
 * A service's own chain keeps its rules array while the service is unchanged
 * (RulesetBuilder): each array is rendered once. Owned by the dataplane that writes.
 */
export type RenderCache = WeakMap<Rule[], string>;

export interface Payload {
  text: string;
  next: Programmed;
  written: number;
  deleted: number;
}

/** `existing`: our chains present in the kernel now (from iptables-save); `programmed`: what we wrote last. */
export function buildPayload(desired: Ruleset, programmed: Programmed, existing: Record<Table, Set<string>>, cache: RenderCache = new WeakMap()): Payload {
  const renderCached = (chain: string, rules: Rule[]) => {
    let text = cache.get(rules);
    if (text === undefined) cache.set(rules, (text = renderRules(chain, rules)));
    return text;
  };
  const next: Programmed = { nat: new Map(), filter: new Map() };
  let written = 0;
  let deleted = 0;
  const parts: string[] = [];
  for (const table of TABLES) {
    const declare: string[] = [];
    const body: string[] = [];
    for (const [chain, rules] of desired[table]) {
      const text = ALWAYS.has(chain) ? renderRules(chain, rules) : renderCached(chain, rules);
      next[table].set(chain, text);
      if (!ALWAYS.has(chain) && programmed[table].get(chain) === text && existing[table].has(chain)) continue;
      declare.push(`:${chain} - [0:0]`);
      if (text) body.push(text);
      written++;
    }
    const stale = [...existing[table]].filter((c) => c.startsWith(PREFIX) && !desired[table].has(c)).sort();
    for (const chain of stale) declare.push(`:${chain} - [0:0]`);
    const deletes = stale.map((c) => `-X ${c}`);
    deleted += stale.length;
    parts.push([`*${table}`, ...declare, ...body, ...deletes, 'COMMIT'].join('\n'));
  }
  return { text: `${parts.join('\n')}\n`, next, written, deleted };
}

/** Our chains in an iptables-save dump of one table. */
export function ownChains(save: string): Set<string> {
  const out = new Set<string>();
  for (const line of save.split('\n')) {
    const m = /^:(\S+) /.exec(line);
    if (m && m[1]!.startsWith(PREFIX)) out.add(m[1]!);
  }
  return out;
}

/** Removes every chain of ours: the payload for --cleanup and mode switches. */
export function cleanupPayload(existing: Record<Table, Set<string>>): string {
  return (
    TABLES.map((t) => {
      const chains = [...existing[t]].sort();
      return [`*${t}`, ...chains.map((c) => `:${c} - [0:0]`), ...chains.map((c) => `-X ${c}`), 'COMMIT'].join('\n');
    }).join('\n') + '\n'
  );
}
