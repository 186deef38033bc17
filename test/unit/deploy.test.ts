// The DaemonSet's RBAC must allow exactly what the Kubernetes API source lists and watches.
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';

interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}

describe('deploy/xlb.yaml', () => {
  const docs = parseAllDocuments(fs.readFileSync(new URL('../../deploy/xlb.yaml', import.meta.url), 'utf8')).map(
    (d) => d.toJS() as { kind: string; rules?: Rule[]; spec?: { template: { spec: { serviceAccountName: string; hostNetwork: boolean } } } },
  );

  it('grants list and watch on services, nodes and endpointslices to the agent', () => {
    const rules = docs.find((d) => d.kind === 'ClusterRole')!.rules!;
    const allowed = (group: string, resource: string) =>
      rules.some((r) => r.apiGroups.includes(group) && r.resources.includes(resource) && ['list', 'watch'].every((v) => r.verbs.includes(v)));
    expect(allowed('', 'services')).toBe(true);
    expect(allowed('', 'nodes')).toBe(true);
    expect(allowed('discovery.k8s.io', 'endpointslices')).toBe(true);
  });

  it('runs the agent in the host network namespace under its service account', () => {
    const ds = docs.find((d) => d.kind === 'DaemonSet')!.spec!.template.spec;
    expect(ds).toMatchObject({ serviceAccountName: 'xlb', hostNetwork: true });
  });
});
