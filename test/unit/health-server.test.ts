import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { HealthServer } from '../../src/health/health-server.js';

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

async function get(port: number): Promise<{ status: number; body: unknown; weight: string | null }> {
  const res = await fetch(`http://127.0.0.1:${port}/healthz`);
  return { status: res.status, body: await res.json(), weight: res.headers.get('x-load-balancing-endpoint-weight') };
}

describe('HealthServer', () => {
  const server = new HealthServer(pino({ level: 'silent' }));
  afterEach(() => server.close());

  it('answers 200 with the local endpoint count, 503 without, and follows updates', async () => {
    const port = await freePort();
    server.sync(new Map([[port, { namespace: 'shop', name: 'lb', localEndpoints: 2 }]]));
    await expect.poll(() => get(port).then((r) => r.status), { timeout: 2000 }).toBe(200);
    expect(await get(port)).toEqual({ status: 200, body: { service: { namespace: 'shop', name: 'lb' }, localEndpoints: 2, serviceProxyHealthy: true }, weight: '2' });
    server.sync(new Map([[port, { namespace: 'shop', name: 'lb', localEndpoints: 0 }]]));
    expect((await get(port)).status).toBe(503);
  });

  it('closes the listener of a check that is gone', async () => {
    const port = await freePort();
    server.sync(new Map([[port, { namespace: 'shop', name: 'lb', localEndpoints: 1 }]]));
    await expect.poll(() => get(port).then((r) => r.status), { timeout: 2000 }).toBe(200);
    server.sync(new Map());
    await expect.poll(() => get(port).then(() => 'open', () => 'closed'), { timeout: 2000 }).toBe('closed');
  });
});
