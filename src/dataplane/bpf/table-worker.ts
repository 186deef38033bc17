// A Maglev worker thread (table-builder.ts): builds each unit it is sent unless the main
// thread took it first, writing into the pool's chunks through windows of its own (see
// ChunkWindow), unmapped after each unit, and says so through the unit's cell.
import { parentPort } from 'node:worker_threads';
import { native } from './native.js';
import { ChunkWindow } from './chunk-window.js';
import { chunkKey, chunkOffset } from './maglev-pool.js';
import { fillTable, takeUnit, unitDone, unpackJobs, warmUp, type WorkerUnit } from './table-builder.js';

// Before the first unit arrives (units queue meanwhile).
warmUp();

parentPort!.on('message', (unit: WorkerUnit) => {
  if (!takeUnit(unit.cell, 'worker')) return;
  const fds = new Map(unit.fds);
  const windows = new Map<number, ChunkWindow>();
  let ok = true;
  try {
    for (const job of unpackJobs(unit.jobs)) {
      const key = chunkKey(job.start);
      let w = windows.get(key);
      if (!w) windows.set(key, (w = new ChunkWindow(fds.get(key)!, native().mapInfo(fds.get(key)!).maxEntries)));
      fillTable(job, w.region(chunkOffset(job.start), job.size));
    }
  } catch {
    ok = false;
  } finally {
    // Unmapped before the unit is done: the sync's memory is back when it ends.
    for (const w of windows.values()) w.close();
  }
  unitDone(unit.cell, ok);
});
