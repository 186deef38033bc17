// An in-memory map that counts writes and deletes, standing in for a BPF map in unit tests.
import type { MapBatch, MapLike } from '../../src/dataplane/bpf/maps.js';

export class MemMap<K, V> implements MapLike<K, V> {
  readonly data = new Map<string, [K, V]>();
  writes = 0;
  deletes = 0;
  get(k: K) {
    return this.data.get(JSON.stringify(k))?.[1];
  }
  set(k: K, v: V) {
    this.writes++;
    this.data.set(JSON.stringify(k), [k, v]);
  }
  setMany(entries: Array<[K, V]>) {
    for (const [k, v] of entries) this.set(k, v);
  }
  batch(): MapBatch<K, V> {
    const entries: Array<[K, V]> = [];
    return { add: (k, v) => void entries.push([k, v]), get length() { return entries.length; }, write: () => this.setMany(entries.splice(0)) };
  }
  delete(k: K) {
    this.deletes++;
    return this.data.delete(JSON.stringify(k));
  }
  entries() {
    return [...this.data.values()];
  }
}
