// Run inside a namespace: attaches bpf/xdp_pass.bpf.c to a device (see that file for why).
// The attachment outlives this process, as every netlink XDP attachment does.
import { native } from '../dataplane/bpf/native.js';
import { objectPath } from '../dataplane/bpf/programs.js';

const device = process.argv[2];
if (!device) {
  process.stderr.write('usage: attach-pass.js DEVICE\n');
  process.exit(2);
}
// The object has no maps, so nothing is pinned under this directory.
const obj = native().loadObject(objectPath('xdp_pass.bpf.o'), '/sys/fs/bpf');
native().xdpAttach(native().ifIndex(device), obj.progs.xlb_pass!, 'native');
