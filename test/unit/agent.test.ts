// The agent between a source and a dataplane: a failed sync keeps what was programmed
// and is tried again with backoff, even when the source has nothing more to say.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { pino } from 'pino';
import { Agent, RETRY_INITIAL_MS } from '../../src/agent.js';
import { NO_CHANGE, type Dataplane } from '../../src/dataplane/types.js';
import type { StateUpdate } from '../../src/model/state.js';
import type { Source, SourceUpdate } from '../../src/sources/snapshot.js';
import { HealthServer } from '../../src/health/health-server.js';
import { AgentStatus } from '../../src/observe/status.js';
import { AgentMetrics } from '../../src/observe/metrics.js';
import { makeEndpoint, makeService, makeSlice } from '../fixtures/k8s.js';

afterEach(() => vi.useRealTimers());

describe('Agent', () => {
  it('tries a failed sync again with backoff, with nothing new from the source, until it succeeds', async () => {
    vi.useFakeTimers();
    const log = pino({ level: 'silent' });
    let deliver!: (u: SourceUpdate) => void;
    const source: Source = { start: async (on) => void (deliver = on), stop: () => undefined };
    const applied: string[][] = [];
    let failures = 2;
    const dataplane: Dataplane = {
      mode: 'bpf',
      apply(u: StateUpdate) {
        applied.push([...u.state.services.keys()]);
        if (failures-- > 0) throw new Error('map full');
        return NO_CHANGE;
      },
      // Figures the state does not give (one frontend, one endpoint): only the dataplane knows them.
      size: () => ({ services: applied.at(-1)!.length, frontends: 7, backends: 5 }),
    };
    const status = new AgentStatus({ bpffs: '/x', node: { name: 'n', ips: [] }, graceMs: 1000 }, log);
    const agent = new Agent(source, Promise.resolve(dataplane), new HealthServer(log), { name: 'n', ips: ['198.18.0.1'] }, true, { status, metrics: new AgentMetrics(status, () => undefined) }, log);
    await agent.start();
    const web = makeService('it', 'web', { clusterIP: '198.19.0.10', ports: [{ port: 80 }] });
    deliver({ full: true, services: [web], slices: [makeSlice('it', 'web-a', 'web', { ports: [{ port: 8080 }], endpoints: [makeEndpoint('198.18.1.10')] })] });
    expect(applied).toHaveLength(1);
    expect(status.current.lastError?.message).toBe('map full');
    // Tried again after the first delay, then after twice that.
    await vi.advanceTimersByTimeAsync(RETRY_INITIAL_MS - 1);
    expect(applied).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(applied).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(2 * RETRY_INITIAL_MS);
    expect(applied).toHaveLength(3);
    expect(applied).toEqual([['it/web:80/TCP'], ['it/web:80/TCP'], ['it/web:80/TCP']]);
    expect(status.current.ready).toBe(true);
    // The status says what the dataplane says it holds.
    expect(status.current.lastSync).toMatchObject({ services: 1, frontends: 7, backends: 5 });
    // Succeeded: no more retries.
    await vi.advanceTimersByTimeAsync(60_000);
    expect(applied).toHaveLength(3);
    agent.stop();
  });

  it('collects garbage before and after the first sync builds the model, and at no later sync', async () => {
    const log = pino({ level: 'silent' });
    let deliver!: (u: SourceUpdate) => void;
    const source: Source = { start: async (on) => void (deliver = on), stop: () => undefined };
    const events: string[] = [];
    const dataplane: Dataplane = { mode: 'bpf', apply: () => (events.push('apply'), NO_CHANGE), size: () => ({ services: 1, frontends: 1, backends: 1 }) };
    const status = new AgentStatus({ bpffs: '/x', node: { name: 'n', ips: [] }, graceMs: 1000 }, log);
    const agent = new Agent(source, Promise.resolve(dataplane), new HealthServer(log), { name: 'n', ips: ['198.18.0.1'] }, true, { status, metrics: new AgentMetrics(status, () => undefined) }, log);
    const g = globalThis as { gc?: () => void };
    const had = g.gc;
    g.gc = () => void events.push('gc');
    try {
      await agent.start();
      const web = makeService('it', 'web', { clusterIP: '198.19.0.10', ports: [{ port: 80 }] });
      const slice = (ip: string) => makeSlice('it', 'web-a', 'web', { ports: [{ port: 8080 }], endpoints: [makeEndpoint(ip)] });
      deliver({ full: true, services: [web], slices: [slice('198.18.1.10')] });
      deliver({ full: false, services: { upserted: [], deleted: [] }, slices: { upserted: [slice('198.18.1.11')], deleted: [] } });
      expect(events).toEqual(['gc', 'gc', 'apply', 'apply']);
    } finally {
      g.gc = had;
      agent.stop();
    }
  });

  it('lists while the dataplane loads, then applies what came meanwhile in order; a dataplane that fails to load fails the start', async () => {
    const log = pino({ level: 'silent' });
    let deliver!: (u: SourceUpdate) => void;
    let stopped = 0;
    const source: Source = { start: async (on) => void (deliver = on), stop: () => void stopped++ };
    const applied: Array<{ full: boolean; keys: string[] }> = [];
    const dataplane: Dataplane = { mode: 'bpf', apply: (u: StateUpdate) => (applied.push({ full: u.delta.full, keys: [...u.state.services.keys()] }), NO_CHANGE), size: () => ({ services: 0, frontends: 0, backends: 0 }) };
    let loaded!: (d: Dataplane) => void;
    const status = new AgentStatus({ bpffs: '/x', node: { name: 'n', ips: [] }, graceMs: 1000 }, log);
    const observers = { status, metrics: new AgentMetrics(status, () => undefined) };
    const agent = new Agent(source, new Promise<Dataplane>((r) => (loaded = r)), new HealthServer(log), { name: 'n', ips: ['198.18.0.1'] }, true, observers, log);
    const started = agent.start();
    // The source runs before the dataplane is in: its first list and a change wait.
    expect(deliver).toBeDefined();
    const web = makeService('it', 'web', { clusterIP: '198.19.0.10', ports: [{ port: 80 }] });
    const api = makeService('it', 'api', { clusterIP: '198.19.0.11', ports: [{ port: 80 }] });
    deliver({ full: true, services: [web], slices: [] });
    deliver({ full: false, services: { upserted: [api], deleted: [] }, slices: { upserted: [], deleted: [] } });
    await Promise.resolve();
    expect(applied).toEqual([]);
    expect(status.current.ready).toBe(false);
    loaded(dataplane);
    await started;
    expect(applied).toEqual([
      { full: true, keys: ['it/web:80/TCP'] },
      { full: false, keys: ['it/web:80/TCP', 'it/api:80/TCP'] },
    ]);
    expect(status.current.ready).toBe(true);
    agent.stop();
    expect(stopped).toBe(1);

    const failing = new Agent(source, Promise.reject(new Error('loading BPF object: EPERM')), new HealthServer(log), { name: 'n', ips: [] }, true, observers, log);
    await expect(failing.start()).rejects.toThrow('EPERM');
    failing.stop();
  });
});

