// iptables mode runs on the legacy backend in the benchmarks: iptables-nft-restore
// (1.8.9, Debian 12) needs more than 12 minutes to load the 420,000 lines of 10,000
// Services x 10 endpoints, legacy about 12 s. One legacy rule in the node makes the
// agent pick legacy, as kube-proxy's iptables-wrapper does on a host whose rules
// live there.
import { inNs } from '../test/testbed/netns.js';

export function useLegacyIptables(nodeNs: string): void {
  inNs(nodeNs, 'iptables-legacy', ['-A', 'INPUT', '-m', 'comment', '--comment', 'xlb bench: a legacy host', '-j', 'ACCEPT']);
}
