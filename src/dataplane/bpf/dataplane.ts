// The eBPF dataplane: the reconciler programs the maps; when backends left UDP
// services, the sockets the socket programs connected to them are destroyed, so
// their applications reconnect through the service (as per-packet UDP flows move).
import type { Logger } from 'pino';
import type { DesiredState } from '../../model/state.js';
import type { Dataplane } from '../types.js';
import type { BpfApplyStats, BpfReconciler } from './reconciler.js';
import { namespacesOf } from './cgroup.js';
import { native } from './native.js';

export class BpfDataplane implements Dataplane {
  readonly mode = 'bpf' as const;

  constructor(
    private readonly reconciler: BpfReconciler,
    private readonly sweepFd: number,
    private readonly cgroup: string,
    private readonly log: Logger,
  ) {}

  apply(state: DesiredState): BpfApplyStats & { socketNamespacesSwept?: number } {
    const stats = this.reconciler.apply(state);
    if (stats.udpMembersRemoved === 0) return stats;
    return { ...stats, socketNamespacesSwept: this.sweep() };
  }

  /** Runs the sweep in every network namespace of the cgroup's processes; returns how many. */
  private sweep(): number {
    const namespaces = namespacesOf(this.cgroup);
    const failed = native().iterRun(this.sweepFd, namespaces);
    for (const [ns, why] of Object.entries(failed)) {
      // A process that exited takes its namespace along: nothing left to sweep there.
      this.log.debug({ ns, why }, 'could not sweep the sockets of a network namespace');
    }
    return namespaces.length - Object.keys(failed).length;
  }
}
