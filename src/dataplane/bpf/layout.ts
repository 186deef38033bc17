// Pinned maps against the objects about to load (an upgrade, or a restart). A map's
// layout is its definition with its key and value as the objects' BTF describes them:
// the same layout is reused as pinned; another one is migrated or rebuilt, each with
// one log line saying what changed and what was done, so loading never fails on a map
// an older xlb pinned and no established flow is lost. The old programs keep their old
// maps until the new ones replace them, so traffic never sees a half-done table.
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { native, type ByteRange, type Layout, type MapDefinition } from './native.js';
import { BPF_F_INNER_MAP } from './kernel.js';

export interface UpgradeReport {
  /** flow maps copied into maps of the new layout: entries copied, and dropped (not convertible, or colliding) */
  migrated: Record<string, { entries: number; dropped: number }>;
  /** configuration maps replaced by empty ones: the agent writes them in full before the new programs attach */
  rebuilt: string[];
}

/**
 * Whose entries a map holds decides what an upgrade does with it. What the programs
 * write (flows, their NAT, affinity, balanced sockets, answer budgets in LRU hashes;
 * connected sockets' slots in an array; counters in per-CPU maps) no one could write
 * again: it is migrated, and a new such map simply starts empty. Every other map
 * holds what the agent writes (services, backends, Maglev tables, names, devices,
 * source ranges): those are rebuilt, all of them together, since the reconciler
 * recovers its ids and tables from them as one state, and then writes that state in
 * full.
 */
const PROGRAM_ARRAYS = new Set(['xlb_sock_peers']);
const keepsEntries = (name: string, def: MapDefinition) =>
  def.typeName.startsWith('lru_') || def.typeName.startsWith('percpu_') || PROGRAM_ARRAYS.has(name);

/** How the bytes of an old key or value make a new one, and what changed between them. */
export interface Conversion {
  ranges: ByteRange[];
  /** members only the new layout has (zero) */
  added: string[];
  /** members only the old layout has (dropped) */
  removed: string[];
  /** members of both under another type (zero), as "name (old → new)" */
  changed: string[];
  /** members of both at other offsets, as "name (@old → @new)" */
  moved: string[];
  /** structs of both under other names, as "old → new" */
  renamed: string[];
}

const same = (a: Layout, b: Layout) => JSON.stringify(a) === JSON.stringify(b);

function typeWord(l: Layout): string {
  switch (l.kind) {
    case 'struct':
    case 'union':
    case 'enum':
      return `${l.kind} ${l.name}`;
    case 'int':
      return `${l.signed ? 's' : 'u'}${l.bits ?? l.size * 8}`;
    case 'array':
      return `${typeWord(l.elem)}[${l.count}]`;
    default:
      return `${l.kind} of ${l.size} bytes`;
  }
}

/**
 * Matches members by name, recursively: same-named members of the same layout are
 * copied byte for byte wherever they moved, nested structs member by member, arrays
 * of the same element as far as both reach; the rest of the new bytes stay zero.
 * Bitfields are copied only within a struct whose layout did not change.
 */
function match(o: Layout, n: Layout, at: readonly [number, number], name: string, out: Conversion): void {
  if (same(o, n)) {
    out.ranges.push([at[0], at[1], n.size]);
    return;
  }
  if (o.kind === 'struct' && n.kind === 'struct') {
    if (o.name !== n.name) out.renamed.push(`${o.name} → ${n.name}`);
    const full = (m: string) => (name ? `${name}.${m}` : m);
    for (const m of n.members) {
      const p = o.members.find((x) => x.name === m.name);
      if (!p) {
        out.added.push(full(m.name));
      } else if (p.bits !== undefined || m.bits !== undefined) {
        out.changed.push(`${full(m.name)} (bitfield)`);
      } else {
        if (p.offset !== m.offset) out.moved.push(`${full(m.name)} (@${p.offset} → @${m.offset})`);
        match(p.type, m.type, [at[0] + p.offset, at[1] + m.offset], full(m.name), out);
      }
    }
    for (const p of o.members) if (!n.members.some((m) => m.name === p.name)) out.removed.push(full(p.name));
    return;
  }
  if (o.kind === 'array' && n.kind === 'array' && same(o.elem, n.elem)) {
    out.ranges.push([at[0], at[1], Math.min(o.count, n.count) * n.elem.size]);
  }
  const change = `${typeWord(o)} → ${typeWord(n)}`;
  out.changed.push(name ? `${name} (${change})` : change);
}

/** The conversion of a key or value; without BTF on either side, equal sizes are copied whole. */
export function conversion(o: Layout | null, n: Layout | null, oldSize: number, newSize: number): Conversion {
  const out: Conversion = { ranges: [], added: [], removed: [], changed: [], moved: [], renamed: [] };
  if (o && n) match(o, n, [0, 0], '', out);
  else if (oldSize === newSize) out.ranges.push([0, 0, newSize]);
  return out;
}

/** "value 24 → 32 bytes (members added: nat_addr, nat_port)"; none when nothing differs. */
function layoutChange(what: string, o: Layout | null, n: Layout | null, oldSize: number, newSize: number): string[] {
  const c = conversion(o, n, oldSize, newSize);
  const details = (
    [
      ['members added', c.added],
      ['removed', c.removed],
      ['changed', c.changed],
      ['moved', c.moved],
      ['struct renamed', c.renamed],
    ] as const
  )
    .filter(([, l]) => l.length)
    .map(([w, l]) => `${w}: ${l.join(', ')}`);
  if (oldSize === newSize && details.length === 0) return [];
  const head = oldSize === newSize ? `${what} layout changed` : `${what} ${oldSize} → ${newSize} bytes`;
  return [details.length ? `${head} (${details.join('; ')})` : head];
}

/** What makes a pinned map unusable by the new objects, in words; none: compatible. The size is not part of it. */
export function differences(old: MapDefinition, now: MapDefinition): string[] {
  const out: string[] = [];
  if (old.type !== now.type) out.push(`type ${old.typeName} → ${now.typeName}`);
  if (old.flags !== now.flags) out.push(`flags 0x${old.flags.toString(16)} → 0x${now.flags.toString(16)}`);
  out.push(...layoutChange('key', old.key, now.key, old.keySize, now.keySize));
  out.push(...layoutChange('value', old.value, now.value, old.valueSize, now.valueSize));
  if (old.inner && now.inner) {
    const inner = differences(old.inner, now.inner);
    // The kernel holds inner maps to the template's size only without BPF_F_INNER_MAP.
    if (!(now.inner.flags & BPF_F_INNER_MAP) && old.inner.maxEntries !== now.inner.maxEntries) {
      inner.push(`max_entries ${old.inner.maxEntries} → ${now.inner.maxEntries}`);
    }
    out.push(...inner.map((d) => `inner ${d}`));
  }
  return out;
}

/** Where a migrated map is pinned until it replaces the old one (bpffs names take no dots). */
export const UPGRADING_SUFFIX = '_upgrading';
const stagingPin = (pin: string) => `${pin}${UPGRADING_SUFFIX}`;

/**
 * Copies the map pinned at `pin` into a new map of the object's definition (keeping
 * the pinned size) and puts the new one at the pin in one rename(2), so the pin names
 * a complete map at every moment, also if the agent dies meanwhile.
 */
function migrate(object: string, name: string, pin: string, old: MapDefinition, now: MapDefinition) {
  const key = conversion(old.key, now.key, old.keySize, now.keySize);
  const value = conversion(old.value, now.value, old.valueSize, now.valueSize);
  // A key member that has no counterpart leaves no way to find the entry again.
  const keysConvert = key.ranges.length > 0 && key.added.length === 0 && key.changed.length === 0;
  const staging = stagingPin(pin);
  fs.rmSync(staging, { force: true }); // left by an upgrade that died half way
  const from = native().objGet(pin);
  try {
    const to = native().createObjectMap(object, name, staging, old.maxEntries);
    try {
      const { copied, dropped } = native().mapMigrate(from, to, keysConvert ? key.ranges : null, value.ranges);
      fs.renameSync(staging, pin);
      return { entries: copied, dropped };
    } finally {
      native().closeFd(to);
    }
  } finally {
    native().closeFd(from);
  }
}

/**
 * Prepares the maps pinned under `bpffs` for loading `objects`: compatible ones stay,
 * flow maps of another layout are migrated, and when any configuration map's layout
 * changed every configuration map is unpinned (the loads create them empty). Returns
 * the sizes to load with (`wanted`, but a map that stays pinned keeps its size) and
 * what was migrated and rebuilt.
 */
export function preparePins(
  bpffs: string,
  objects: string[],
  wanted: Record<string, number>,
  log: Logger,
): { sizes: Record<string, number>; report: UpgradeReport } {
  const defs = new Map<string, { object: string; def: MapDefinition }>();
  for (const object of objects) {
    for (const m of native().objectInfo(object).maps) if (m.pinned && !defs.has(m.name)) defs.set(m.name, { object, def: m });
  }
  const report: UpgradeReport = { migrated: {}, rebuilt: [] };
  const sizes = { ...wanted };
  const config: Array<{ name: string; pin: string; old: MapDefinition; def: MapDefinition; changes: string[] }> = [];
  /** configuration maps the load creates */
  const fresh: string[] = [];
  /** maps that stay pinned (or are migrated): they keep their size */
  const kept: Array<{ name: string; old: MapDefinition; def: MapDefinition }> = [];
  for (const [name, { object, def }] of defs) {
    const pin = path.join(bpffs, name);
    const old = native().pinnedMapInfo(pin);
    if (!keepsEntries(name, def)) {
      if (old) config.push({ name, pin, old, def, changes: differences(old, def) });
      else fresh.push(name);
      continue;
    }
    if (!old) continue; // the load creates it
    const changes = differences(old, def);
    kept.push({ name, old, def });
    if (changes.length === 0) continue;
    const { entries, dropped } = migrate(object, name, pin, old, def);
    report.migrated[name] = { entries, dropped };
    const done =
      entries === 0 && dropped > 0
        ? `its entries do not convert: the ${dropped} flows in it are lost`
        : `migrated ${entries} ${entries === 1 ? 'entry' : 'entries'}${dropped ? `, dropped ${dropped} (colliding keys, or no room)` : ''}`;
    log.warn({ map: name, migrated: entries, dropped }, `${name}: ${changes.join(', ')}: ${done}`);
  }

  // A new configuration map among pinned ones is a part of the state the reconciler
  // would not know to write: the whole state is written anew then too.
  const changed = config.filter((c) => c.changes.length > 0).map((c) => c.name);
  const trigger = [changed.length ? `${changed.join(', ')} changed` : '', fresh.length ? `${fresh.join(', ')} new` : ''].filter(Boolean).join(' and ');
  for (const { name, pin, old, def, changes } of config) {
    if (trigger) {
      fs.rmSync(pin);
      report.rebuilt.push(name);
      const why = changes.length ? changes.join(', ') : `layout unchanged, but ${trigger}`;
      log.warn({ map: name, rebuilt: true }, `${name}: ${why}: rebuilt: the agent reprograms it from the API state`);
    } else if (def.inner && !old.inner) {
      // An outer map holding no inner map hides its template: a fresh one loses nothing.
      fs.rmSync(pin);
      log.debug({ map: name }, `${name}: holds no inner map to compare with the new template: replaced by an empty one`);
    } else {
      kept.push({ name, old, def });
    }
  }

  for (const { name, old, def } of kept) {
    const asked = wanted[name] ?? def.maxEntries;
    sizes[name] = old.maxEntries;
    if (old.maxEntries !== asked) {
      log.info({ map: name, maxEntries: old.maxEntries, asked }, `${name}: pinned with ${old.maxEntries} entries where ${asked} are asked: keeps its size until "lbctl cleanup"`);
    }
  }
  return { sizes, report };
}
