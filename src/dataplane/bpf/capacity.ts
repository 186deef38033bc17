// What the maps have room for: the ids the reconciler hands out and the frontends
// xlb_services holds.

/** Below XLB_MAX_SERVICES / XLB_MAX_BACKENDS in bpf/xlb.h; id 0 means "none". */
export const MAX_SERVICE_ID = 65535;
export const MAX_BACKEND_ID = 262143;

/** What the maps have room for. */
export interface Capacity {
  /** service ids (each names two xlb_maglev tables and an xlb_svc_names entry) */
  serviceIds: number;
  /** xlb_services entries */
  frontends: number;
  /** backend ids (xlb_backends) */
  backendIds: number;
}

/** xlb_services holds XLB_MAX_SERVICES frontends. */
export const CAPACITY: Capacity = { serviceIds: MAX_SERVICE_ID, frontends: MAX_SERVICE_ID + 1, backendIds: MAX_BACKEND_ID };
