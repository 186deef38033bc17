// What the maps have room for: the ids the reconciler hands out and the frontends
// xlb_services holds.
import { MAPS } from './contract.js';

/** Below the maps' sizes (XLB_MAX_SERVICES, XLB_MAX_BACKENDS); id 0 means "none". */
export const MAX_SERVICE_ID = MAPS.xlb_services.maxEntries - 1;
export const MAX_BACKEND_ID = MAPS.xlb_backends.maxEntries - 1;

/** What the maps have room for. */
export interface Capacity {
  /** service ids (each names an xlb_svc_names entry and counters) */
  serviceIds: number;
  /** xlb_services entries */
  frontends: number;
  /** backend ids (xlb_backends) */
  backendIds: number;
}

export const CAPACITY: Capacity = { serviceIds: MAX_SERVICE_ID, frontends: MAPS.xlb_services.maxEntries, backendIds: MAX_BACKEND_ID };
