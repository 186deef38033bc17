// Where the API server is and how to prove who we are: from a kubeconfig file or, in a
// Pod, from its service account. Read here rather than through client-node's KubeConfig,
// whose module pulls in every generated API client (70 MB of resident memory and half a
// second of every start); a kubeconfig whose user runs an exec plugin or an auth
// provider (cloud logins) is handed to client-node, loaded only then.
import fs from 'node:fs';
import type https from 'node:https';
import { isIPv6 } from 'node:net';
import path from 'node:path';
import yaml from 'js-yaml';

/** Where a Pod's service account token and CA certificate are mounted. */
export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export interface ApiAccess {
  /** the API server's URL, without a trailing slash */
  server: string;
  /** TLS and credentials for one request, read afresh each time (service account tokens rotate) */
  options(): Promise<https.RequestOptions>;
}

export interface AccessOptions {
  /** The directory SERVICE_ACCOUNT_DIR is read under instead of / (tests keep a service account in a temp dir). */
  root?: string;
}

/**
 * The API server and credentials: from `file`, else in-cluster (the Pod's service
 * account and KUBERNETES_SERVICE_HOST/PORT), saying what is missing.
 */
export function loadApiAccess(file: string | undefined, { root = '' }: AccessOptions = {}): ApiAccess {
  return file ? fromKubeconfig(file) : inCluster(root);
}

function inCluster(root: string): ApiAccess {
  const dir = path.join(root, SERVICE_ACCOUNT_DIR);
  const tokenFile = path.join(dir, 'token');
  const caFile = path.join(dir, 'ca.crt');
  const { KUBERNETES_SERVICE_HOST: host, KUBERNETES_SERVICE_PORT: port } = process.env;
  const missing = [
    ...(host ? [] : ['KUBERNETES_SERVICE_HOST unset']),
    ...(port ? [] : ['KUBERNETES_SERVICE_PORT unset']),
    ...(fs.existsSync(tokenFile) ? [] : [`no service account token at ${tokenFile}`]),
    ...(fs.existsSync(caFile) ? [] : [`no CA certificate at ${caFile}`]),
  ];
  if (missing.length > 0) throw new Error(`no in-cluster config (${missing.join(', ')}): pass --kubeconfig or --manifests`);
  const ca = fs.readFileSync(caFile);
  return {
    server: `https://${isIPv6(host!) ? `[${host}]` : host}:${port}`,
    options: async () => ({ ca, headers: { authorization: `Bearer ${fs.readFileSync(tokenFile, 'utf8').trim()}` } }),
  };
}

type Entry<T> = { name: string } & Record<string, T | undefined>;
interface Kubeconfig {
  'current-context'?: string;
  contexts?: Array<Entry<{ cluster?: string; user?: string }>>;
  clusters?: Array<Entry<Record<string, unknown>>>;
  users?: Array<Entry<Record<string, unknown>>>;
}

function fromKubeconfig(file: string): ApiAccess {
  const fail = (why: string): never => {
    throw new Error(`cannot load kubeconfig ${file}: ${why}`);
  };
  let doc: Kubeconfig;
  try {
    doc = (yaml.load(fs.readFileSync(file, 'utf8')) ?? {}) as Kubeconfig;
  } catch (err) {
    return fail((err as Error).message);
  }
  if (typeof doc !== 'object') return fail('not a kubeconfig');
  const context = doc.contexts?.find((c) => c.name === doc['current-context'])?.context;
  const cluster = doc.clusters?.find((c) => c.name === context?.cluster)?.cluster;
  if (!context || !cluster) throw new Error(`kubeconfig ${file} has no current cluster: set current-context`);
  const user = doc.users?.find((u) => u.name === context.user)?.user ?? {};
  const server = typeof cluster.server === 'string' ? cluster.server.replace(/\/$/, '') : fail(`cluster ${context.cluster} has no server`);
  if (user.exec || user['auth-provider']) return viaClientNode(file, server);

  // Relative paths in a kubeconfig are relative to its own directory.
  const dir = path.dirname(path.resolve(file));
  const read = (data: unknown, at: unknown): Buffer | undefined =>
    typeof data === 'string' ? Buffer.from(data, 'base64') : typeof at === 'string' ? fs.readFileSync(path.resolve(dir, at)) : undefined;
  let tls: https.RequestOptions;
  try {
    tls = {
      ca: read(cluster['certificate-authority-data'], cluster['certificate-authority']),
      cert: read(user['client-certificate-data'], user['client-certificate']),
      key: read(user['client-key-data'], user['client-key']),
      ...(cluster['insecure-skip-tls-verify'] === true ? { rejectUnauthorized: false } : {}),
      ...(typeof cluster['tls-server-name'] === 'string' ? { servername: cluster['tls-server-name'] } : {}),
    };
  } catch (err) {
    return fail((err as Error).message);
  }
  const tokenFile = typeof user.tokenFile === 'string' ? path.resolve(dir, user.tokenFile) : undefined;
  const basic = typeof user.username === 'string' ? `${user.username}:${String(user.password ?? '')}` : undefined;
  return {
    server,
    options: async () => {
      const token = typeof user.token === 'string' ? user.token : tokenFile ? fs.readFileSync(tokenFile, 'utf8').trim() : undefined;
      return { ...tls, ...(basic ? { auth: basic } : {}), headers: token ? { authorization: `Bearer ${token}` } : {} };
    },
  };
}

/** Credentials from a plugin or provider: client-node runs them, as kubectl would. */
function viaClientNode(file: string, server: string): ApiAccess {
  let kc: Promise<{ applyToHTTPSOptions(o: https.RequestOptions): Promise<void> }> | undefined;
  return {
    server,
    options: async () => {
      kc ??= import('@kubernetes/client-node')
        .then(({ KubeConfig }) => {
          const c = new KubeConfig();
          c.loadFromFile(file);
          return c;
        })
        .catch((err: unknown) => {
          kc = undefined; // tried again at the next request
          throw err;
        });
      const opts: https.RequestOptions = {};
      await (await kc).applyToHTTPSOptions(opts);
      return opts;
    },
  };
}
