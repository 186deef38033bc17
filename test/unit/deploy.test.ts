// deploy/: every manifest valid against the Kubernetes OpenAPI schemas (kubernetes-models),
// RBAC exactly what the Kubernetes API source reads, and the DaemonSet wired to the
// agent's CLI: the probes hit --metrics-addr, the downward API fills in the node, and the
// mounts hold what the flags point at. That the flags exist is checked against the
// shipped lbctl (test/integration/image.test.ts).
import { describe, expect, it } from 'vitest';
import * as core from 'kubernetes-models/v1';
import * as apps from 'kubernetes-models/apps/v1';
import * as rbac from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import type { IDaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import type { IClusterRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole';
import type { IClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding';
import { deployDocs, type Doc } from '../helpers/deploy.js';

type Model = new (data: unknown) => { validate(): void };
const GROUPS: Record<string, Record<string, unknown>> = { v1: core, 'apps/v1': apps, 'rbac.authorization.k8s.io/v1': rbac };
const modelOf = (apiVersion: string, kind: string) => GROUPS[apiVersion]?.[kind] as Model | undefined;

const docs = deployDocs();
const only = <T>(kind: string): T => {
  const found = docs.filter((d) => d.kind === kind);
  expect(found.length, kind).toBe(1);
  return found[0] as unknown as T;
};

const ds = only<IDaemonSet>('DaemonSet');
const pod = ds.spec!.template.spec!;
const agent = pod.containers[0]!;
const args = agent.args ?? [];

/** The value of --flag, given as "--flag=value" or "--flag value". */
function flag(name: string): string | undefined {
  const i = args.findIndex((a) => a === name || a.startsWith(`${name}=`));
  if (i < 0) return undefined;
  return args[i] === name ? args[i + 1] : args[i]!.slice(name.length + 1);
}

describe('deploy/', () => {
  it('holds the service account, its RBAC and the DaemonSet', () => {
    expect(docs.map((d) => d.kind).sort()).toEqual(['ClusterRole', 'ClusterRoleBinding', 'DaemonSet', 'ServiceAccount']);
  });

  it('is valid against the Kubernetes OpenAPI schemas, every document', () => {
    for (const d of docs) {
      const Model = modelOf(d.apiVersion, d.kind);
      expect(Model, `${d.file}: no schema for ${d.apiVersion} ${d.kind}`).toBeDefined();
      expect(() => new Model!(d).validate(), `${d.file}: ${d.kind} ${d.metadata.name}`).not.toThrow();
    }
  });

  it('would reject a broken manifest (the schema check is real)', () => {
    const validate = (mutate: (d: IDaemonSet) => void) => {
      const copy = structuredClone(ds);
      mutate(copy);
      return () => new apps.DaemonSet(copy).validate();
    };
    expect(validate((d) => (d.spec!.template.spec!.containers[0]!.ports = [{ containerPort: 'abc' as unknown as number }]))).toThrow(/containerPort must be integer/);
    expect(validate((d) => ((d.spec!.template.spec!.containers[0]!.volumeMounts![0] as { mountPropagation: string }).mountPropagation = 'Bidirectionnal'))).toThrow(
      /mountPropagation must be equal to one of the allowed values/,
    );
    expect(validate((d) => delete (d.spec as Partial<typeof d.spec>)!.selector)).toThrow(/selector/);
  });

  it('grants get, list and watch on services, nodes and endpointslices, and nothing else', () => {
    const role = only<IClusterRole>('ClusterRole');
    const granted = (role.rules ?? []).flatMap((r) => {
      expect(r).not.toHaveProperty('resourceNames');
      expect(r).not.toHaveProperty('nonResourceURLs');
      return r.apiGroups!.flatMap((g) => r.resources!.flatMap((res) => r.verbs.map((v) => `${g}/${res}:${v}`)));
    });
    const want = ['/services', '/nodes', 'discovery.k8s.io/endpointslices'].flatMap((r) => ['get', 'list', 'watch'].map((v) => `${r}:${v}`));
    expect(granted.sort()).toEqual(want.sort());
  });

  it('binds the role to the service account the DaemonSet runs as', () => {
    const sa = only<Doc>('ServiceAccount');
    const binding = only<IClusterRoleBinding>('ClusterRoleBinding');
    expect(binding.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: only<IClusterRole>('ClusterRole').metadata!.name });
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: sa.metadata.name, namespace: sa.metadata.namespace }]);
    expect(pod.serviceAccountName).toBe(sa.metadata.name);
    expect(ds.metadata!.namespace).toBe('kube-system');
    expect(sa.metadata.namespace).toBe('kube-system');
  });

  it('runs the agent on every node, in the host network and PID namespaces, before anything else', () => {
    expect(pod).toMatchObject({ hostNetwork: true, hostPID: true, dnsPolicy: 'ClusterFirstWithHostNet', priorityClassName: 'system-node-critical' });
    expect(pod.tolerations).toEqual([{ operator: 'Exists' }]);
    expect(ds.spec!.updateStrategy).toMatchObject({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: expect.anything() } });
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(0);
    expect(pod.containers).toHaveLength(1);
    expect(agent.image).toBeTruthy();
    expect(agent.securityContext?.privileged).toBe(true);
    expect(agent.resources?.requests).toMatchObject({ cpu: expect.any(String), memory: expect.any(String) });
  });

  it('runs lbctl agent with in-cluster config and the node from the downward API', () => {
    expect(args[0]).toBe('agent');
    expect(flag('--kubeconfig')).toBeUndefined();
    expect(flag('--manifests')).toBeUndefined();
    expect(flag('--node-name')).toBe('$(NODE_NAME)');
    expect(flag('--node-ip')).toBe('$(NODE_IP)');
    expect(flag('--devices')).toBe('$(XLB_DEVICES)');
    const env = Object.fromEntries((agent.env ?? []).map((e) => [e.name, e]));
    expect(env.NODE_NAME?.valueFrom?.fieldRef?.fieldPath).toBe('spec.nodeName');
    expect(env.NODE_IP?.valueFrom?.fieldRef?.fieldPath).toBe('status.hostIP');
    expect(env.XLB_DEVICES?.value).toMatch(/^[\w.-]+(,[\w.-]+)*$/);
    // Every $(VAR) the arguments use is defined, or kubelet would pass it literally.
    for (const [, v] of args.join(' ').matchAll(/\$\((\w+)\)/g)) expect(env, v).toHaveProperty(v!);
  });

  it('probes /healthz and /readyz where --metrics-addr serves them', () => {
    const [host, port] = flag('--metrics-addr')!.split(':');
    expect(agent.livenessProbe?.httpGet).toEqual({ host, port: Number(port), path: '/healthz' });
    expect(agent.readinessProbe?.httpGet).toEqual({ host, port: Number(port), path: '/readyz' });
  });

  it('mounts the host bpffs (Bidirectional) under --bpffs and the host cgroup2 at --cgroup', () => {
    const mount = (hostPath: string) => {
      const volume = pod.volumes!.find((v) => v.hostPath?.path === hostPath);
      expect(volume, hostPath).toBeDefined();
      return agent.volumeMounts!.find((m) => m.name === volume!.name)!;
    };
    const bpffs = mount('/sys/fs/bpf');
    expect(bpffs.mountPropagation).toBe('Bidirectional');
    expect(`${flag('--bpffs')}/`.startsWith(`${bpffs.mountPath}/`)).toBe(true);
    expect(mount('/sys/fs/cgroup').mountPath).toBe(flag('--cgroup'));
  });
});
