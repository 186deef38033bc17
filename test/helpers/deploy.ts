// deploy/'s manifests as parsed documents, for the tests that check them against the
// Kubernetes schemas (unit) and against the shipped lbctl (integration).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

const DEPLOY = fileURLToPath(new URL('../../deploy', import.meta.url));

export interface Doc {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  [k: string]: unknown;
}

/** Every document of every *.yaml/*.yml/*.json file in deploy/, with its file's name. */
export function deployDocs(): Array<Doc & { file: string }> {
  return fs
    .readdirSync(DEPLOY)
    .filter((f) => /\.(ya?ml|json)$/.test(f))
    .flatMap((file) =>
      parseAllDocuments(fs.readFileSync(path.join(DEPLOY, file), 'utf8'))
        .map((d) => d.toJS() as Doc | null)
        .filter((d): d is Doc => d !== null)
        .map((d) => ({ ...d, file })),
    );
}

/** The --flags the DaemonSet passes the agent (its first container's), without values. */
export function daemonSetFlags(): string[] {
  const ds = deployDocs().find((d) => d.kind === 'DaemonSet') as { spec?: { template?: { spec?: { containers?: Array<{ args?: string[] }> } } } } | undefined;
  const args = ds?.spec?.template?.spec?.containers?.[0]?.args ?? [];
  return args.filter((a) => a.startsWith('--')).map((a) => a.split('=')[0]!);
}
