// Where the API server is and which credentials go with each request, read from a
// kubeconfig as kubectl reads it (paths relative to the file, data inline or in files),
// with exec plugins run through client-node.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadApiAccess } from '../../src/sources/kube/access.js';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xlb-access-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

function kubeconfig(user: string, cluster = 'server: https://198.18.0.1:6443/'): string {
  const file = path.join(dir, 'config');
  fs.writeFileSync(
    file,
    `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {${cluster}}}]
users: [{name: u, user: {${user}}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`,
  );
  return file;
}
const b64 = (s: string) => Buffer.from(s).toString('base64');

describe('loadApiAccess from a kubeconfig', () => {
  it('reads inline data and files relative to the kubeconfig, and a token file afresh at each request', async () => {
    fs.mkdirSync(path.join(dir, 'certs'));
    fs.writeFileSync(path.join(dir, 'certs/ca.crt'), 'CA');
    fs.writeFileSync(path.join(dir, 'token'), 'first\n');
    const file = kubeconfig(
      `client-certificate-data: ${b64('CERT')}, client-key-data: ${b64('KEY')}, tokenFile: token`,
      'server: https://198.18.0.1:6443/, certificate-authority: certs/ca.crt, tls-server-name: api.example',
    );
    const access = loadApiAccess(file);
    expect(access.server).toBe('https://198.18.0.1:6443');
    const opts = await access.options();
    expect({ ca: String(opts.ca), cert: String(opts.cert), key: String(opts.key), servername: opts.servername, headers: opts.headers }).toEqual({
      ca: 'CA',
      cert: 'CERT',
      key: 'KEY',
      servername: 'api.example',
      headers: { authorization: 'Bearer first' },
    });
    expect(opts.rejectUnauthorized).toBeUndefined();
    fs.writeFileSync(path.join(dir, 'token'), 'rotated');
    expect((await access.options()).headers).toEqual({ authorization: 'Bearer rotated' });
  });

  it('takes a token, basic credentials and insecure-skip-tls-verify as given', async () => {
    const opts = await loadApiAccess(kubeconfig('token: abc, username: admin, password: pw', 'server: https://198.18.0.1:6443, insecure-skip-tls-verify: true')).options();
    expect(opts).toMatchObject({ rejectUnauthorized: false, auth: 'admin:pw', headers: { authorization: 'Bearer abc' } });
  });

  it('runs an exec plugin through client-node, as kubectl would', async () => {
    const credential = JSON.stringify({ apiVersion: 'client.authentication.k8s.io/v1', kind: 'ExecCredential', status: { token: 'from-plugin' } });
    const plugin = path.join(dir, 'plugin.sh');
    fs.writeFileSync(plugin, `#!/bin/sh\necho '${credential}'\n`, { mode: 0o755 });
    const file = kubeconfig(`exec: {apiVersion: client.authentication.k8s.io/v1, command: ${plugin}, interactiveMode: Never}`);
    expect((await loadApiAccess(file).options()).headers).toMatchObject({ Authorization: 'Bearer from-plugin' });
  });

  it('says what is wrong with a kubeconfig it cannot use', () => {
    const file = path.join(dir, 'config');
    fs.writeFileSync(file, 'clusters: [unclosed');
    expect(() => loadApiAccess(file)).toThrow(`cannot load kubeconfig ${file}:`);
    fs.writeFileSync(file, 'apiVersion: v1\nkind: Config\nclusters: []\n');
    expect(() => loadApiAccess(file)).toThrow(`kubeconfig ${file} has no current cluster: set current-context`);
    expect(() => loadApiAccess(kubeconfig('token: t', 'server: https://198.18.0.1, certificate-authority: missing.crt'))).toThrow(/cannot load kubeconfig .*: ENOENT.*missing\.crt/);
    expect(() => loadApiAccess(path.join(dir, 'nowhere'))).toThrow(`cannot load kubeconfig ${path.join(dir, 'nowhere')}: ENOENT`);
  });
});
