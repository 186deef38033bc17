// Checks Service and EndpointSlice objects field by field, so a bad object is reported
// by the field that is wrong instead of crashing the agent or programming garbage.
import { isIPv4, isIP } from 'node:net';
import type { EndpointSlice, Service } from '../model/k8s.js';

export class ValidationError extends Error {
  constructor(
    readonly field: string,
    readonly problem: string,
  ) {
    super(`${field}: ${problem}`);
  }
}

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
/** A field left out: the API server omits it, a manifest may write null. */
const absent = (v: unknown): v is undefined | null => v === undefined || v === null;
/** Predicates rather than checkers where a field's name would be built per endpoint. */
const optBoolean = (v: unknown): boolean => absent(v) || typeof v === 'boolean';

function fail(field: string, problem: string, got?: unknown): never {
  throw new ValidationError(field, got === undefined ? problem : `${problem}, got ${JSON.stringify(got)}`);
}

function obj(v: unknown, field: string): Obj {
  if (!isObj(v)) fail(field, 'must be an object', v);
  return v;
}

function optObj(v: unknown, field: string): Obj | undefined {
  return absent(v) ? undefined : obj(v, field);
}

function optArray(v: unknown, field: string): unknown[] {
  if (absent(v)) return [];
  if (!Array.isArray(v)) fail(field, 'must be a list', v);
  return v;
}

/**
 * Checks each item of the list `v` (absent: none) with `check`, which names fields from
 * the item ('' for the item itself); the item's place is prefixed only on failure:
 * naming each field of 100,000 endpoints up front cost 30 MB of strings per 10,000 slices.
 */
function eachItem(v: unknown, field: string, check: (item: unknown) => void): void {
  const items = optArray(v, field);
  // A loop, not forEach, and checks made once, not per item: closures per endpoint were
  // 32 MB of garbage at a start of 100,000 endpoints, and 30 ms.
  for (let i = 0; i < items.length; i++) {
    try {
      check(items[i]);
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      throw new ValidationError(err.field ? `${field}[${i}].${err.field}` : `${field}[${i}]`, err.problem);
    }
  }
}

function optString(v: unknown, field: string): string | undefined {
  if (absent(v)) return undefined;
  if (typeof v !== 'string') fail(field, 'must be a string', v);
  return v;
}

function port(v: unknown, field: string, optional = false): number | undefined {
  if (optional && absent(v)) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 65535) fail(field, 'must be an integer 1-65535', v);
  return v;
}

function protocol(v: unknown, field: string): void {
  if (v !== undefined && v !== 'TCP' && v !== 'UDP' && v !== 'SCTP') fail(field, 'must be TCP, UDP or SCTP', v);
}

function ip(v: unknown, field: string): void {
  if (typeof v !== 'string' || !isIP(v)) fail(field, 'must be an IP address', v);
}

function cidr(v: unknown, field: string): void {
  const [addr, len, extra] = typeof v === 'string' ? v.trim().split('/') : [];
  const max = addr && isIPv4(addr) ? 32 : 128;
  const bits = Number(len);
  if (!addr || !isIP(addr) || extra !== undefined || !Number.isInteger(bits) || bits < 0 || bits > max) fail(field, 'must be a CIDR such as 198.51.100.0/24', v);
}

/** The API's DNS-1123 rules: names end up in iptables-restore payloads and logs, so nothing else may pass. */
const NAME_RULES = {
  label: [/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, 'must be a DNS label (lowercase letters, digits and "-", at most 63)'],
  subdomain: [/^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/, 'must be a DNS subdomain (lowercase letters, digits, "-" and ".")'],
} as const;

/** A name as the API accepts it; '' counts as absent. */
function dnsName(v: unknown, field: string, rule: keyof typeof NAME_RULES, required = false): string | undefined {
  const s = optString(v, field);
  if (!s) return required ? fail(field, 'is required') : undefined;
  const [re, problem] = NAME_RULES[rule];
  if (!re.test(s)) fail(field, problem, s);
  return s;
}

function stringMap(v: unknown, field: string): void {
  const m = optObj(v, field);
  for (const k in m) {
    const x = m[k];
    // Named only on failure, as in eachItem.
    if (!absent(x) && typeof x !== 'string') fail(`${field}.${k}`, 'must be a string', x);
  }
}

function metadata(o: Obj): void {
  const m = obj(o.metadata, 'metadata');
  dnsName(m.name, 'metadata.name', 'subdomain', true);
  dnsName(m.namespace, 'metadata.namespace', 'label');
  stringMap(m.labels, 'metadata.labels');
  stringMap(m.annotations, 'metadata.annotations');
}

const SERVICE_TYPES = ['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName'];
const TRAFFIC_POLICIES = ['externalTrafficPolicy', 'internalTrafficPolicy'] as const;

export function validateService(o: Obj): Service {
  metadata(o);
  const spec = obj(o.spec, 'spec');
  const type = optString(spec.type, 'spec.type');
  if (type !== undefined && !SERVICE_TYPES.includes(type)) fail('spec.type', `must be one of ${SERVICE_TYPES.join(', ')}`, type);
  for (const f of TRAFFIC_POLICIES) {
    const v = spec[f];
    if (!absent(v) && v !== 'Cluster' && v !== 'Local') fail(`spec.${f}`, 'must be Cluster or Local', v);
  }
  port(spec.healthCheckNodePort, 'spec.healthCheckNodePort', true);
  if (!optBoolean(spec.publishNotReadyAddresses)) fail('spec.publishNotReadyAddresses', 'must be true or false', spec.publishNotReadyAddresses);
  const affinity = optString(spec.sessionAffinity, 'spec.sessionAffinity');
  if (affinity !== undefined && affinity !== 'None' && affinity !== 'ClientIP') fail('spec.sessionAffinity', 'must be None or ClientIP', affinity);
  const sac = optObj(spec.sessionAffinityConfig, 'spec.sessionAffinityConfig');
  const t = optObj(sac?.clientIP, 'spec.sessionAffinityConfig.clientIP')?.timeoutSeconds;
  if (!absent(t) && (typeof t !== 'number' || !Number.isInteger(t) || t < 1 || t > 86400)) {
    fail('spec.sessionAffinityConfig.clientIP.timeoutSeconds', 'must be an integer 1-86400', t);
  }
  const clusterIP = optString(spec.clusterIP, 'spec.clusterIP');
  if (clusterIP && clusterIP !== 'None') ip(clusterIP, 'spec.clusterIP');
  eachItem(spec.clusterIPs, 'spec.clusterIPs', (v) => v !== 'None' && ip(v, ''));
  eachItem(spec.externalIPs, 'spec.externalIPs', (v) => ip(v, ''));
  eachItem(spec.loadBalancerSourceRanges, 'spec.loadBalancerSourceRanges', (v) => cidr(v, ''));
  const names = new Set<string>();
  eachItem(spec.ports, 'spec.ports', (raw) => {
    const p = obj(raw, '');
    const name = dnsName(p.name, 'name', 'label') ?? '';
    if (names.has(name)) fail('name', 'duplicates another port name', name);
    names.add(name);
    protocol(p.protocol, 'protocol');
    port(p.port, 'port');
    port(p.nodePort, 'nodePort', true);
    if (p.targetPort !== undefined && typeof p.targetPort !== 'string') port(p.targetPort, 'targetPort');
  });
  const lb = optObj(optObj(o.status, 'status')?.loadBalancer, 'status.loadBalancer');
  eachItem(lb?.ingress, 'status.loadBalancer.ingress', (raw) => {
    const ing = obj(raw, '');
    if (!absent(ing.ip)) ip(ing.ip, 'ip');
  });
  return o as unknown as Service;
}

const CONDITIONS = ['ready', 'serving', 'terminating'] as const;

/** One endpoint of a slice of `addressType` `at`; fields named from the endpoint ('' for itself). */
function endpoint(raw: unknown, at: unknown): void {
  const e = obj(raw, '');
  const addrs = optArray(e.addresses, 'addresses');
  if (addrs.length === 0) fail('addresses', 'must list at least one address');
  if (at === 'IPv4') eachItem(addrs, 'addresses', ipv4Address);
  // As the API server's validation: no backend is reached at 0.0.0.0 (and xlb_backends reads an address of 0 as no backend).
  if (addrs.includes('0.0.0.0')) fail(`addresses[${addrs.indexOf('0.0.0.0')}]`, 'must not be the unspecified address', '0.0.0.0');
  const c = optObj(e.conditions, 'conditions') ?? {};
  for (const k of CONDITIONS) {
    if (!optBoolean(c[k])) fail(`conditions.${k}`, 'must be true or false', c[k]);
  }
  optString(e.nodeName, 'nodeName');
  optString(optObj(e.targetRef, 'targetRef')?.name, 'targetRef.name');
  eachItem(optObj(e.hints, 'hints')?.forZones, 'hints.forZones', zoneHint);
}

function ipv4Address(a: unknown): void {
  if (!isIPv4(String(a))) fail('', 'must be an IPv4 address', a);
}

function zoneHint(z: unknown): void {
  const zone = obj(z, '');
  if (typeof zone.name !== 'string') fail('name', 'must be a string', zone.name);
}

export function validateEndpointSlice(o: Obj): EndpointSlice {
  metadata(o);
  const at = o.addressType;
  if (at !== 'IPv4' && at !== 'IPv6' && at !== 'FQDN') fail('addressType', 'must be IPv4, IPv6 or FQDN', at);
  eachItem(o.ports, 'ports', (raw) => {
    const p = obj(raw, '');
    dnsName(p.name, 'name', 'label');
    protocol(p.protocol, 'protocol');
    port(p.port, 'port', true);
  });
  eachItem(o.endpoints, 'endpoints', (raw) => endpoint(raw, at));
  return o as unknown as EndpointSlice;
}
