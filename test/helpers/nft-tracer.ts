// A packet tracer over a generated nftables ruleset (as iptables-tracer.ts is over
// iptables rules): runs a new connection's first packet through our base chains in
// hook order, interpreting the rule text we generate, and reports every possible
// outcome with its probability. A rule it cannot read fails the trace, so a change of
// the generator cannot slip past the behaviour tests.
import type { NftRuleset } from '../../src/dataplane/nftables/ruleset.js';
import { inCidr, type Outcome, type Packet } from './trace.js';

interface State {
  p: Packet;
  /** the masquerade mark */
  mark: boolean;
  masquerade: boolean;
  dnat?: string;
  prob: number;
}

type Final = 'accept' | 'drop' | 'reject';
/** continue: on to the next rule; return: the chain ends; final: the hook's verdict */
type Step = { kind: 'continue' | 'return'; st: State } | { kind: 'final'; st: State; verdict: Final };
/** How a chain ends: fell off (or returned), or with a verdict. */
type End = { st: State; verdict?: Final };

const KEY = 'ip daddr . meta l4proto . th dport';

/** Matches at the start of a rule: [pattern, test]; the rest of the rule follows. */
const MATCHES: Array<[RegExp, (s: State, m: RegExpExecArray, rs: NftRuleset) => boolean]> = [
  [/^ct state new /, () => true], // every trace is a new connection's first packet
  [/^fib daddr type local /, (s) => s.p.local === true],
  [/^ip saddr != \{ ([^}]+) \} /, (s, m) => !m[1]!.split(', ').some((c) => inCidr(s.p.src, c))],
  [/^ip saddr @\S+ /, () => false], // no affinity history in a trace
  [/^meta mark and 0x4000 == 0 /, (s) => !s.mark],
  // After DNAT: the packet goes from an endpoint's address to itself.
  [/^ct status dnat ip saddr \. ip daddr @hairpin /, (s, _, rs) => s.dnat !== undefined && rs.hairpin.has(`${s.p.src} . ${s.p.dst}`)],
];

function run(rs: NftRuleset, chain: string, st: State): End[] {
  const rules = rs.chains.get(chain);
  if (!rules) throw new Error(`no chain ${chain}`);
  const out: End[] = [];
  let cur = [st];
  for (const rule of rules) {
    const next: State[] = [];
    for (const s of cur) {
      for (const r of step(rs, rule, s)) {
        if (r.kind === 'continue') next.push(r.st);
        else out.push({ st: r.st, verdict: r.kind === 'final' ? r.verdict : undefined });
      }
    }
    cur = next;
  }
  return [...out, ...cur.map((s) => ({ st: s }))];
}

function step(rs: NftRuleset, rule: string, s: State): Step[] {
  // One arm of a numgen cascade: taken with probability 1/k, else on to the next rule.
  const arm = /^numgen random mod (\d+) == 0 (.+)$/.exec(rule);
  if (arm) {
    const k = Number(arm[1]);
    return [...step(rs, arm[2]!, { ...s, prob: s.prob / k }), { kind: 'continue', st: { ...s, prob: (s.prob * (k - 1)) / k } }];
  }
  let rest = `${rule} `;
  for (let matched = true; matched; ) {
    matched = false;
    for (const [re, test] of MATCHES) {
      const m = re.exec(rest);
      if (!m) continue;
      if (!test(s, m, rs)) return [{ kind: 'continue', st: s }];
      rest = rest.slice(m[0].length);
      matched = true;
    }
  }
  rest = rest.trim();
  let m: RegExpExecArray | null;
  if ((m = new RegExp(`^${KEY.replace(/\./g, '\\.')} vmap @(\\S+)$`).exec(rest))) {
    const v = rs.maps.get(m[1] as never)?.get(`${s.p.dst} . ${s.p.proto} . ${s.p.dport}`);
    return v ? verdict(rs, v, s) : [{ kind: 'continue', st: s }];
  }
  if (rest === 'meta mark set meta mark or 0x4000') return [{ kind: 'continue', st: { ...s, mark: true } }];
  if (rest === 'meta mark set meta mark xor 0x4000') return [{ kind: 'continue', st: { ...s, mark: false } }];
  if (rest === 'masquerade fully-random') return [{ kind: 'final', st: { ...s, masquerade: true }, verdict: 'accept' }];
  if (/^update @\S+ \{ ip saddr timeout \d+s \}$/.test(rest)) return [{ kind: 'continue', st: s }];
  if ((m = /^meta l4proto (tcp|udp) dnat to (\d+\.\d+\.\d+\.\d+):(\d+)$/.exec(rest))) {
    return m[1] === s.p.proto ? [dnat(s, m[2]!, m[3]!)] : [{ kind: 'continue', st: s }];
  }
  // A slot 0..n-1 at random, the frontend's endpoint in that slot; no element: no match.
  if ((m = /^meta l4proto (tcp|udp|sctp) dnat ip to ip daddr \. \1 dport \. numgen random mod (\d+) map @(\S+)$/.exec(rest))) {
    if (m[1] !== s.p.proto) return [{ kind: 'continue', st: s }];
    const n = Number(m[2]);
    const map = rs.maps.get(m[3] as never);
    if (!map) throw new Error(`no map ${m[3]}`);
    return Array.from({ length: n }, (_, i): Step => {
      const st = { ...s, prob: s.prob / n };
      const to = map.get(`${s.p.dst} . ${s.p.dport} . ${i}`)?.split(' . ');
      return to ? dnat(st, to[0]!, to[1]!) : { kind: 'continue', st };
    });
  }
  return verdict(rs, rest, s);
}

function dnat(s: State, addr: string, port: string): Step {
  return { kind: 'final', st: { ...s, dnat: `${addr}:${port}`, p: { ...s.p, dst: addr, dport: Number(port), local: false } }, verdict: 'accept' };
}

function verdict(rs: NftRuleset, v: string, s: State): Step[] {
  if (v === 'accept' || v === 'drop' || v === 'reject') return [{ kind: 'final', st: s, verdict: v }];
  if (v === 'return') return [{ kind: 'return', st: s }];
  const m = /^(jump|goto) (\S+)$/.exec(v);
  if (!m) throw new Error(`the tracer cannot read "${v}"`);
  // A jump comes back to the next rule; a goto to the caller of this chain.
  return run(rs, m[2]!, s).map((e): Step => (e.verdict ? { kind: 'final', st: e.st, verdict: e.verdict } : { kind: m[1] === 'jump' ? 'continue' : 'return', st: e.st }));
}

const VERDICTS = { accept: 'ACCEPT', drop: 'DROP', reject: 'REJECT' } as const;

/** The hooks a new connection's first packet from outside passes, in order. */
export function trace(rs: NftRuleset, p: Packet): Outcome[] {
  const out: Outcome[] = [];
  const report = (s: State, v: Final) => out.push({ dnat: s.dnat, masquerade: s.masquerade, verdict: VERDICTS[v], probability: Math.round(s.prob * 1e6) / 1e6 });
  for (const pre of run(rs, 'filter-prerouting', { p, mark: false, masquerade: false, prob: 1 })) {
    if (pre.verdict && pre.verdict !== 'accept') {
      report(pre.st, pre.verdict);
      continue;
    }
    for (const nat of run(rs, 'nat-prerouting', pre.st)) {
      // Routing: to this node (input) or on to a pod (forward).
      const filter = run(rs, nat.st.p.local ? 'filter-input' : 'filter-forward', nat.st);
      for (const f of filter) {
        if (f.verdict && f.verdict !== 'accept') {
          report(f.st, f.verdict);
          continue;
        }
        for (const post of run(rs, 'nat-postrouting', f.st)) report(post.st, 'accept');
      }
    }
  }
  return out;
}
