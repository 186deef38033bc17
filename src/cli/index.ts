// lbctl: the xlb command line; its contract is the README's CLI section.
import { Command, Option } from 'commander';
import { createLogger } from '../log.js';
import { cleanup, runAgent, UsageError, type AgentOptions } from './agent-command.js';
import { DUMP_SECTIONS, mapsDump, type DumpSection } from './maps-dump.js';
import { cgroup2Mount } from '../dataplane/bpf/cgroup.js';
import { ACCELERATIONS } from '../dataplane/bpf/programs.js';
import { xlb_limits } from '../dataplane/bpf/contract.js';
import { MODE_FLAGS } from '../dataplane/choose.js';
import { renderStatus, status } from './status.js';
import { parseFlow, renderExplanation } from './explain.js';
import { explain } from '../dataplane/bpf/explain.js';

const DEFAULT_BPFFS = '/sys/fs/bpf/xlb';

const program = new Command('lbctl').description('xlb: eBPF/XDP Kubernetes Service load balancer').showHelpAfterError();

program
  .command('agent')
  .description('watch Services and EndpointSlices and program the node datapath')
  .option('--manifests <dir>', 'read Service/EndpointSlice objects from *.yaml/*.yml/*.json files in DIR')
  .option('--kubeconfig <file>', 'watch the Kubernetes API with this kubeconfig (neither this nor --manifests: in-cluster config)')
  .option('--node-name <name>', 'this node\'s name (default: hostname)')
  .option('--node-ip <ips>', 'IPv4 addresses NodePorts are served on, comma-separated (default: the Node object\'s, else the devices\' addresses)')
  .option('--proxy-name <name>', 'also serve Services labelled service.kubernetes.io/service-proxy-name=NAME')
  .requiredOption('--devices <ifs>', 'interfaces external traffic arrives on, comma-separated')
  .addOption(new Option('--mode <mode>', 'datapath').choices(MODE_FLAGS).default('auto'))
  .option('--bpffs <dir>', 'where maps are pinned (a bpf filesystem is mounted there if needed)', DEFAULT_BPFFS)
  .option('--cgroup <dir>', 'cgroup v2 directory whose processes (pods, host) get socket-level load balancing (default: the cgroup2 mount)', cgroup2Mount() ?? '')
  .option('--max-services <n>', `map capacity for Service ports, and for their frontends (default: ${xlb_limits.XLB_MAX_SERVICES}; a pinned map keeps its size until cleanup)`)
  .option('--max-backends <n>', `map capacity for distinct endpoints, and twice that for service-endpoint pairs (default: ${xlb_limits.XLB_MAX_BACKENDS}; a pinned map keeps its size until cleanup)`)
  .option('--nat-table-size <entries>', `SNAT table capacity: flows from outside to backends on other nodes (default: ${xlb_limits.XLB_MAX_NAT}; a pinned table keeps its size until cleanup)`)
  .addOption(new Option('--acceleration <how>', 'XDP where the driver has native XDP and it pays (auto), XDP or fail (xdp), tc only (off)').choices([...ACCELERATIONS]).default('auto'))
  .option('--metrics-addr <addr>', 'HOST:PORT serving /healthz, /readyz and Prometheus /metrics ("" for none)', '127.0.0.1:10249')
  .option('--unreachable-grace <seconds>', 'how long the API server may be unreachable before /readyz reports not ready (the programmed state keeps serving)', '60')
  .option('--log-level <level>', 'trace, debug, info, warn or error', 'info')
  .option('--cleanup', 'remove everything the agent made in any mode (programs, pins, nftables table, iptables chains) and exit')
  .action(async (opts: AgentOptions) => {
    const log = createLogger(opts.logLevel);
    await runAgent(opts, log);
    // Idle keep-alive connections to the API server must not hold the process.
    process.exit(0);
  });

program
  .command('cleanup')
  .description('detach xlb from the devices and remove its pinned maps, its nftables table and its iptables chains')
  .option('--devices <ifs>', 'interfaces to detach from, comma-separated', '')
  .option('--bpffs <dir>', 'where maps are pinned', DEFAULT_BPFFS)
  .option('--cgroup <dir>', 'also detach xlb socket programs still attached to this cgroup v2 directory')
  .action((opts: { devices: string; bpffs: string; cgroup?: string }) => cleanup(opts, createLogger()));

const maps = program.command('maps').description('inspect the BPF maps');
maps
  .command('dump')
  .description(`print the maps: ${DUMP_SECTIONS.join(', ')} (default: all)`)
  .argument('[section]', DUMP_SECTIONS.join('|'))
  .option('--bpffs <dir>', 'where maps are pinned', DEFAULT_BPFFS)
  .option('--json', 'one JSON document')
  .action((section: string | undefined, opts: { bpffs: string; json?: boolean }) => {
    if (section !== undefined && !DUMP_SECTIONS.includes(section as DumpSection)) {
      throw new UsageError(`unknown section "${section}": choose one of ${DUMP_SECTIONS.join(', ')}`);
    }
    process.stdout.write(mapsDump(opts.bpffs, section as DumpSection | undefined, opts.json ?? false) + '\n');
  });

program
  .command('status')
  .description('the agent\'s mode, devices and programs, last sync and error, readiness, and map fill')
  .option('--bpffs <dir>', 'where maps are pinned', DEFAULT_BPFFS)
  .option('--json', 'one JSON document')
  .action((opts: { bpffs: string; json?: boolean }) => {
    const r = status(opts.bpffs);
    process.stdout.write((opts.json ? JSON.stringify(r, null, 2) : renderStatus(r)) + '\n');
  });

program
  .command('explain')
  .description('which backend a new flow from a client gets, and why: the datapath\'s own decision, run on a built packet')
  .argument('<frontend>', 'IP:PORT/PROTO, e.g. 10.96.0.10:80/TCP')
  .requiredOption('--from <src>', 'the client: SRC_IP or SRC_IP:PORT')
  .option('--bpffs <dir>', 'where maps are pinned', DEFAULT_BPFFS)
  .option('--json', 'one JSON document')
  .action((frontend: string, opts: { from: string; bpffs: string; json?: boolean }) => {
    const e = explain(opts.bpffs, parseFlow(frontend, opts.from));
    process.stdout.write((opts.json ? JSON.stringify(e, null, 2) : renderExplanation(e)) + '\n');
  });

program.parseAsync(process.argv).catch((err: unknown) => {
  const msg = err instanceof Error ? err.message : String(err);
  process.stderr.write(`lbctl: ${msg}\n`);
  process.exit(err instanceof UsageError ? 2 : 1);
});
