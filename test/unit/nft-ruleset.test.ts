// nftables mode: golden transaction, the layout's own rules, the same outcomes as
// iptables mode for every frontend (rule-behaviour.test.ts traces the cases in both),
// and transactions that touch only what changed.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildDesiredState, DesiredStateBuilder } from '../../src/model/desired.js';
import type { Service } from '../../src/model/k8s.js';
import { buildNftRuleset, mergeRuleset, NftRulesetBuilder, objectName } from '../../src/dataplane/nftables/ruleset.js';
import { deletion, incremental, reconcile } from '../../src/dataplane/nftables/transaction.js';
import { nftApply } from '../../src/dataplane/nftables/nft.js';
import { buildRuleset } from '../../src/dataplane/iptables/rules.js';
import { trace as iptablesTrace } from '../helpers/iptables-tracer.js';
import { trace } from '../helpers/nft-tracer.js';
import type { Outcome, Packet } from '../helpers/trace.js';
import { CLIENT, node, services as shared, slice, slices as sharedSlices, udpService, udpSlice } from '../fixtures/rules-state.js';

const GOLDEN = new URL('../golden/nft-transaction.txt', import.meta.url);
/** A transaction's lines as nft reads them. */
const text = (lines: Iterable<string>) => [...lines].map((l) => `${l}\n`).join('');

const services: Service[] = [...shared, udpService];
const slices = [...sharedSlices, udpSlice];
const update = () => buildDesiredState(services, slices, node);
const rs = buildNftRuleset(update());

const byDnat = (a: Outcome, b: Outcome) => String(a.dnat).localeCompare(String(b.dnat));
function outcomes(dst: string, dport: number, extra: Partial<Packet> = {}): Outcome[] {
  return trace(rs, { src: CLIENT, dst, proto: 'tcp', dport, ...extra }).sort(byDnat);
}
const svcKey = (name: string, port = 'http', proto = 'TCP') => buildDesiredState(services, slices, node).state.services.get(`shop/${name}:${port}/${proto}`)!;

/** Every chain a transaction names (add, flush, delete). */
const chainsIn = (text: string) => new Set([...text.matchAll(/chain ip xlb (\S+)/g)].map((m) => m[1]!));

describe('nftables ruleset', () => {
  it('matches the golden transaction', () => {
    const b = new NftRulesetBuilder();
    b.build(update());
    const tx = reconcile(b.all(), { chains: new Set(), sets: new Set() });
    if (process.env.UPDATE_GOLDEN) fs.writeFileSync(GOLDEN, text(tx.lines));
    expect(text(tx.lines)).toBe(fs.readFileSync(GOLDEN, 'utf8'));
    expect(tx.stale).toEqual({ chains: [], sets: [] });
  });

  it('loadBalancerSourceRanges: a client not listed is dropped before DNAT (rule-behaviour.test has the rest)', () => {
    expect(outcomes('198.19.255.1', 80, { src: '198.18.0.9' })).toEqual([{ dnat: undefined, masquerade: false, verdict: 'DROP', probability: 1 }]);
  });

  it('sessionAffinity ClientIP: the client\'s endpoint is checked before numgen and recorded with the timeout', () => {
    const sticky = svcKey('sticky');
    const rules = rs.chains.get(objectName('service', sticky))!;
    const eps = sticky.backends.map((b) => `${b.addr}:${b.port}`);
    expect(rules.slice(0, 2)).toEqual(eps.map((e) => `ip saddr @${objectName('affinity', sticky, e)} goto ${objectName('endpoint', sticky, e)}`));
    expect(rules.slice(2)).toEqual([`numgen random mod 2 == 0 goto ${objectName('endpoint', sticky, eps[0]!)}`, `goto ${objectName('endpoint', sticky, eps[1]!)}`]);
    expect(rs.chains.get(objectName('endpoint', sticky, eps[0]!))).toEqual([`update @${objectName('affinity', sticky, eps[0]!)} { ip saddr timeout 60s }`, `meta l4proto tcp dnat to ${eps[0]}`]);
    expect(rs.sets).toEqual(eps.map((e) => objectName('affinity', sticky, e)));
  });

  it('gives every packet the outcomes iptables mode gives it', () => {
    const ipt = buildRuleset(update());
    const frontends = [...update().state.services.values()].flatMap((s) => s.frontends);
    // The firewall drops before DNAT here and after it in iptables: compare what the client sees.
    const seen = (o: Outcome[]) => o.map((x) => (x.verdict === 'ACCEPT' ? x : { ...x, dnat: undefined, masquerade: false })).sort(byDnat);
    expect(frontends.length).toBeGreaterThan(10);
    for (const f of frontends) {
      for (const src of [CLIENT, '198.18.0.9', '198.18.1.10']) {
        for (const proto of ['tcp', 'udp'] as const) {
          const p = { src, dst: f.addr, dport: f.port, proto, local: f.type === 'NodePort' };
          expect(seen(trace(rs, p)), JSON.stringify(p)).toEqual(seen(iptablesTrace(ipt, p)));
        }
      }
    }
  });

  it('keeps chain and set names within nft\'s 255 characters', () => {
    const long = 'n'.repeat(63);
    const s = { ...svcKey('sticky'), key: `${long}/${long}:${'p'.repeat(15)}/TCP/external`, namespace: long, name: long, portName: 'p'.repeat(15) };
    const name = objectName('affinity', s, '198.118.111.110:65535');
    expect(name.length).toBeLessThanOrEqual(255);
    expect(name).not.toBe(objectName('affinity', s, '198.118.111.110:65534'));
    const unnamed = { ...svcKey('dns', 'dns', 'UDP'), key: 'shop/dns:53/UDP/external', portName: '' };
    expect(objectName('service', unnamed)).toMatch(/^service-[A-Z2-7]{8}-shop\/dns\/udp\/53\/external$/);
  });
});

describe('nftables transactions', () => {
  it('one endpoint change touches only elements: no rule, no chain', () => {
    const model = new DesiredStateBuilder();
    const b = new NftRulesetBuilder();
    b.build(model.build(services, slices, node));
    const changed = slices.map((s) => (s.metadata.name === 'web-a' ? slice('web', [['198.18.1.10'], ['198.18.1.11'], ['198.18.1.13']]) : s));
    const built = b.build(model.build(services, changed, node));
    expect(built.written.map((s) => s.key)).toEqual(['shop/web:http/TCP']);
    expect(built.removed.map((s) => s.key)).toEqual(['shop/web:http/TCP']);
    const tx = incremental(built);
    // 198.18.1.12 is lb's endpoint too: it stays in the hairpin set.
    expect(text(tx.lines).split('\n')).toEqual([
      'delete element ip xlb endpoints-tcp { 198.19.0.10 . 80 . 2 }',
      'add element ip xlb endpoints-tcp { 198.19.0.10 . 80 . 2 : 198.18.1.13 . 8080 }',
      'add element ip xlb hairpin { 198.18.1.13 . 198.18.1.13 }',
      '',
    ]);
    expect(tx).toMatchObject({ chainsWritten: 0, elementsAdded: 2, elementsDeleted: 1, stale: { chains: [], sets: [] } });
    expect(text(deletion(tx.stale))).toBe('');
    // Nothing changed: nothing to run.
    expect([...incremental(b.build(model.build(services, changed, node))).lines]).toEqual([]);
    // The last service of an address takes it out of the hairpin set.
    const gone = incremental(b.build(model.build(services, slices.map((s) => (s.metadata.name === 'web-a' ? slice('web', [['198.18.1.10'], ['198.18.1.11']]) : s)), node)));
    expect(text(gone.lines)).toContain('delete element ip xlb hairpin { 198.18.1.13 . 198.18.1.13 }\n');
  });

  it('a new endpoint count moves the frontends to the shared chain for it; the last holder of a chain frees it', () => {
    const model = new DesiredStateBuilder();
    const b = new NftRulesetBuilder();
    b.build(model.build(services, slices, node));
    const four = slices.map((s) => (s.metadata.name === 'web-a' ? slice('web', [['198.18.1.10'], ['198.18.1.11'], ['198.18.1.12'], ['198.18.1.13']]) : s));
    const tx = incremental(b.build(model.build(services, four, node)));
    // web was the only service with three endpoints.
    expect(text(tx.lines).split('\n')).toEqual([
      'add chain ip xlb pick-tcp-4',
      'flush chain ip xlb pick-tcp-4',
      'add rule ip xlb pick-tcp-4 meta l4proto tcp dnat ip to ip daddr . tcp dport . numgen random mod 4 map @endpoints-tcp',
      'delete element ip xlb service-ips { 198.19.0.10 . tcp . 80 }',
      'add element ip xlb service-ips { 198.19.0.10 . tcp . 80 : goto pick-tcp-4 }',
      'add element ip xlb endpoints-tcp { 198.19.0.10 . 80 . 3 : 198.18.1.13 . 8080 }',
      'add element ip xlb hairpin { 198.18.1.13 . 198.18.1.13 }',
      'flush chain ip xlb pick-tcp-3',
      '',
    ]);
    expect(text(deletion(tx.stale))).toBe('delete chain ip xlb pick-tcp-3\n');
    expect(trace(mergeRuleset(b.all()), { src: CLIENT, dst: '198.19.0.10', proto: 'tcp', dport: 80 }).map((o) => o.probability)).toEqual([0.25, 0.25, 0.25, 0.25]);
  });

  it('a removed service: its elements deleted and its chains flushed in one transaction, chains and sets deleted in the next', () => {
    const model = new DesiredStateBuilder();
    const b = new NftRulesetBuilder();
    b.build(model.build(services, slices, node));
    const sticky = svcKey('sticky');
    const built = b.build(model.build(services.filter((s) => s.metadata.name !== 'sticky'), slices, node));
    expect(built.removed.map((s) => s.key)).toEqual([sticky.key]);
    const tx = incremental(built);
    const own = [objectName('service', sticky), ...sticky.backends.map((e) => objectName('endpoint', sticky, `${e.addr}:${e.port}`))];
    expect(text(tx.lines)).toBe(`delete element ip xlb service-ips { 198.19.0.15 . tcp . 80 }\n${own.map((c) => `flush chain ip xlb ${c}\n`).join('')}`);
    expect(chainsIn(text(tx.lines))).toEqual(new Set(own));
    const sets = sticky.backends.map((e) => objectName('affinity', sticky, `${e.addr}:${e.port}`));
    expect(text(deletion(tx.stale))).toBe([...own.map((c) => `delete chain ip xlb ${c}`), ...sets.map((s) => `delete set ip xlb ${s}`), ''].join('\n'));
  });

  it('a frontend whose verdict changes is deleted and added again (nft refuses to add an existing key)', () => {
    const model = new DesiredStateBuilder();
    const b = new NftRulesetBuilder();
    b.build(model.build(services, slices, node));
    // web loses its endpoints: its ClusterIP moves from service-ips to no-endpoint-services.
    const tx = incremental(b.build(model.build(services, slices.filter((s) => s.metadata.name !== 'web-a'), node)));
    expect(text(tx.lines)).toContain('delete element ip xlb service-ips { 198.19.0.10 . tcp . 80 }');
    expect(text(tx.lines)).toContain('add element ip xlb no-endpoint-services { 198.19.0.10 . tcp . 80 : goto reject-chain }');
    expect(text(tx.lines).indexOf('delete element')).toBeLessThan(text(tx.lines).indexOf('add element'));
  });

  it('a reconcile rewrites everything wanted and marks the rest of our chains and sets stale', () => {
    const b = new NftRulesetBuilder();
    b.build(update());
    const sticky = objectName('service', svcKey('sticky'));
    const tx = reconcile(b.all(), { chains: new Set(['services', sticky, 'pick-tcp-3', 'service-OLD00000-shop/old/tcp/http']), sets: new Set(['affinity-OLD00000-x', 'hairpin']) });
    expect(tx.stale).toEqual({ chains: ['service-OLD00000-shop/old/tcp/http'], sets: ['affinity-OLD00000-x'] });
    expect(text(tx.lines)).toContain('flush map ip xlb service-ips');
    expect(text(tx.lines)).toContain('flush map ip xlb endpoints-tcp');
    expect(text(tx.lines)).toContain(`flush chain ip xlb ${sticky}`);
    expect(text(tx.lines)).toContain('flush chain ip xlb pick-tcp-3');
    expect(text(tx.lines).trimEnd().split('\n').at(-1)).toBe('flush chain ip xlb service-OLD00000-shop/old/tcp/http');
    expect(mergeRuleset(b.all())).toEqual(rs);
  });

  it('writes the elements of a big map in statements of 1,024, every element once', () => {
    const big = slice('web', Array.from({ length: 1500 }, (_, i): [string] => [`198.18.${10 + (i >> 8)}.${i & 255}`]));
    const b = new NftRulesetBuilder();
    b.build(buildDesiredState(services, [big, ...slices.filter((s) => s.metadata.name !== 'web-a')], node));
    const tx = reconcile(b.all(), { chains: new Set(), sets: new Set() });
    const statements = [...tx.lines].filter((l) => l.startsWith('add element ip xlb endpoints-tcp '));
    const items = statements.flatMap((l) => l.slice(l.indexOf('{ ') + 2, -2).split(', '));
    expect(statements.map((l) => l.split(', ').length)).toEqual([1024, items.length - 1024]);
    expect(new Set(items).size).toBe(items.length);
    expect(items.filter((e) => e.startsWith('198.19.0.10 . 80 . ')).map((e) => e.split(' : ')[1]).sort()).toEqual(
      Array.from({ length: 1500 }, (_, i) => `198.18.${10 + (i >> 8)}.${i & 255} . 8080`).sort(),
    );
    // Read again (as a retry would), the lines are the same.
    expect([...tx.lines].filter((l) => l.startsWith('add element ip xlb endpoints-tcp '))).toEqual(statements);
  });
});

describe('nft command', () => {
  it('hands nft a transaction of many writes whole, on its stdin, and leaves no file behind', () => {
    // A stand-in nft that keeps what it reads, and the file its stdin is.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xlb-fake-nft-'));
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'xlb-nft-tmp-'));
    fs.writeFileSync(path.join(dir, 'nft'), `#!/bin/sh\necho "$@" > ${dir}/args\nreadlink /proc/self/fd/0 > ${dir}/stdin\ncat > ${dir}/read\n`, { mode: 0o755 });
    const [pathVar, tmpdir] = [process.env.PATH, process.env.TMPDIR];
    process.env.PATH = `${dir}:${pathVar}`;
    process.env.TMPDIR = tmp;
    try {
      // Several buffers' worth (1 MiB each), a line longer than one buffer, and multi-byte characters.
      const lines = Array.from({ length: 60_000 }, (_, i) => `add chain ip xlb c${i}`);
      lines.splice(30_000, 0, `add rule ip xlb c0 comment "${'x'.repeat(400_000)}"`, 'add rule ip xlb c1 comment "café ☕"');
      nftApply(lines);
      expect(fs.readFileSync(path.join(dir, 'args'), 'utf8')).toBe('-f -\n');
      expect(fs.readFileSync(path.join(dir, 'read'), 'utf8')).toBe(text(lines));
      expect(fs.readFileSync(path.join(dir, 'stdin'), 'utf8')).toMatch(/xlb-nft-\d+-\d+ \(deleted\)\n$/);
      expect(fs.readdirSync(tmp)).toEqual([]);
    } finally {
      process.env.PATH = pathVar;
      if (tmpdir === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = tmpdir;
      fs.rmSync(dir, { recursive: true, force: true });
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('says how to get nft when it is missing', () => {
    const path = process.env.PATH;
    process.env.PATH = '/nonexistent';
    try {
      expect(() => nftApply(['add table ip xlb'])).toThrow('nft not found: install nftables (make deps)');
    } finally {
      process.env.PATH = path;
    }
  });
});
