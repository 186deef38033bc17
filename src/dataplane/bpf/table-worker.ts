// A Maglev worker thread (table-builder.ts): builds each unit it is sent unless the main
// thread took it first, writing into the unit's pool chunk through a window of its own
// (see ChunkWindow), unmapped after the unit, and says so through the unit's cell.
import { parentPort } from 'node:worker_threads';
import { native } from './native.js';
import { ChunkWindow } from './chunk-window.js';
import { chunkOffset } from './maglev-pool.js';
import { fillTable, takeUnit, unitDone, unpackJobs, warmUp, type WorkerUnit } from './table-builder.js';

// Before the first unit arrives (units queue meanwhile).
warmUp();

parentPort!.on('message', (unit: WorkerUnit) => {
  if (!takeUnit(unit.cell, 'worker')) return;
  let window: ChunkWindow | undefined;
  let ok = true;
  try {
    window = new ChunkWindow(unit.fd, native().mapInfo(unit.fd).maxEntries);
    for (const job of unpackJobs(unit.jobs)) fillTable(job, window.region(chunkOffset(job.start), job.size));
  } catch {
    ok = false;
  } finally {
    // Unmapped before the unit is done: the sync's memory is back when it ends.
    window?.close();
  }
  unitDone(unit.cell, ok);
});
