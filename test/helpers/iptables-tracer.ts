// A packet tracer over generated rules (kube-proxy's proxier_test way): follows a
// packet through our nat and filter chains and reports every possible outcome with
// its probability, so tests assert behaviour rather than rule text.
import { CHAINS, type Rule, type Ruleset } from '../../src/dataplane/iptables/rules.js';
import { inCidr, type Outcome, type Packet } from './trace.js';

function opt(rule: Rule, name: string): string | undefined {
  const i = rule.indexOf(name);
  return i >= 0 ? rule[i + 1] : undefined;
}

/** Whether a rule's matches hold; statistic matches are branched by the caller. */
function matches(rule: Rule, p: Packet, orig: Packet): boolean {
  const d = opt(rule, '-d');
  if (d && !inCidr(p.dst, d)) return false;
  const s = opt(rule, '-s');
  if (s && !inCidr(p.src, s)) return false;
  const proto = opt(rule, '-p');
  if (proto && proto !== p.proto) return false;
  const dport = opt(rule, '--dport');
  if (dport && Number(dport) !== p.dport) return false;
  if (opt(rule, '--dst-type') === 'LOCAL' && !p.local) return false;
  const od = opt(rule, '--ctorigdst');
  if (od && !inCidr(orig.dst, od)) return false;
  const odp = opt(rule, '--ctorigdstport');
  if (odp && Number(odp) !== orig.dport) return false;
  if (rule.includes('--rcheck')) return false; // no affinity history in a trace
  const markNeg = rule.indexOf('!');
  if (markNeg >= 0 && rule[markNeg + 1] === '--mark') return false; // handled in postrouting only
  return true;
}

interface State {
  p: Packet;
  masq: boolean;
  dnat?: string;
  prob: number;
}

/** Runs a chain; returns the states that leave it (by falling off or RETURN). */
function runChain(rs: Ruleset['nat'], chain: string, st: State, orig: Packet, out: State[]): void {
  const rules = rs.get(chain) ?? [];
  let cur: State | undefined = st;
  for (const rule of rules) {
    if (!cur) return;
    if (!matches(rule, cur.p, orig)) continue;
    let taken = cur;
    const prob = opt(rule, '--probability');
    if (prob) {
      const pr = Number(prob);
      taken = { ...cur, prob: cur.prob * pr };
      cur = { ...cur, prob: cur.prob * (1 - pr) };
    } else {
      cur = undefined;
    }
    const target = opt(rule, '-j')!;
    if (target === 'RETURN') {
      out.push(taken);
    } else if (target === 'DNAT') {
      const to = opt(rule, '--to-destination')!;
      const [addr, port] = to.split(':');
      out.push({ ...taken, dnat: to, p: { ...taken.p, dst: addr!, dport: Number(port) } });
    } else if (target === CHAINS.markMasq) {
      cur = { ...taken, masq: true };
    } else if (rs.has(target)) {
      const sub: State[] = [];
      runChain(rs, target, taken, orig, sub);
      // A jump returns to the rule after it only for states that fell off the chain.
      for (const s of sub) {
        if (s.dnat) out.push(s);
        else cur = cur ? { ...cur, prob: cur.prob + s.prob } : s;
      }
    } else {
      out.push(taken);
    }
  }
  if (cur) out.push(cur);
}

function filterVerdict(rs: Ruleset['filter'], p: Packet, orig: Packet): Outcome['verdict'] {
  for (const chain of [CHAINS.services, CHAINS.firewall]) {
    const visit = (c: string): Outcome['verdict'] | undefined => {
      for (const rule of rs.get(c) ?? []) {
        if (!matches(rule, p, orig)) continue;
        const t = opt(rule, '-j')!;
        if (t === 'RETURN') return undefined;
        if (t === 'DROP' || t === 'REJECT') return t;
        const v = visit(t);
        if (v) return v;
        return undefined;
      }
      return undefined;
    };
    const v = visit(chain);
    if (v) return v;
  }
  return 'ACCEPT';
}

export function trace(rs: Ruleset, p: Packet): Outcome[] {
  const out: State[] = [];
  runChain(rs.nat, CHAINS.services, { p, masq: false, prob: 1 }, p, out);
  return out.map((s) => ({
    dnat: s.dnat,
    masquerade: s.masq,
    verdict: filterVerdict(rs.filter, s.p, p),
    probability: Math.round(s.prob * 1e6) / 1e6,
  }));
}
