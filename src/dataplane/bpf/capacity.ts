// What the maps have room for: the ids the reconciler hands out, the frontends
// xlb_services holds and the (service, backend) pairs of xlb_members. The sizes are the
// agent's --max-services and --max-backends (bpf/xlb.h's defaults otherwise), read from
// the maps as loaded: a pinned map keeps the size it was made with.
import { MAPS } from './contract.js';
import { native } from './native.js';
import type { XlbMaps } from './maps.js';

/** What the maps have room for. */
export interface Capacity {
  /** service ids (each names an xlb_svc_names entry and counters); id 0 means "none" */
  serviceIds: number;
  /** xlb_services entries */
  frontends: number;
  /** backend ids (xlb_backends) */
  backendIds: number;
  /** xlb_members entries: (service, backend) pairs */
  members: number;
}

const capacity = (services: number, names: number, backends: number, members: number): Capacity => ({
  serviceIds: Math.min(services, names) - 1,
  frontends: services,
  backendIds: backends - 1,
  members,
});

/** bpf/xlb.h's sizes. */
export const CAPACITY = capacity(MAPS.xlb_services.maxEntries, MAPS.xlb_svc_names.maxEntries, MAPS.xlb_backends.maxEntries, MAPS.xlb_members.maxEntries);

/** The sizes of the maps as loaded. */
export function capacityOf(maps: XlbMaps): Capacity {
  const size = (fd: number) => native().mapInfo(fd).maxEntries;
  return capacity(size(maps.services.fd), size(maps.names.fd), size(maps.backends.fd), size(maps.members.fd));
}

/** The flags that size the maps, each with the maps it sizes (entries per unit) and its bounds. */
const SIZE_FLAGS = {
  '--max-services': { maps: { xlb_services: 1, xlb_svc_names: 1, xlb_svc_stats: 1 }, min: 1024, max: 1 << 24 },
  '--max-backends': { maps: { xlb_backends: 1, xlb_members: 2 }, min: 1024, max: 1 << 23 },
  '--nat-table-size': { maps: { xlb_nat: 1 }, min: 1024, max: 1 << 24 },
} as const;
export type SizeFlag = keyof typeof SIZE_FLAGS;

/** The maps' sizes the flags ask for (by map name); a clear error for a bad value. */
export function mapSizes(given: Partial<Record<SizeFlag, string>>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [flag, value] of Object.entries(given) as Array<[SizeFlag, string | undefined]>) {
    if (value === undefined) continue;
    const { maps, min, max } = SIZE_FLAGS[flag];
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) throw new RangeError(`${flag} ${value}: must be a whole number from ${min} to ${max}`);
    for (const [map, per] of Object.entries(maps)) out[map] = n * per;
  }
  return out;
}
