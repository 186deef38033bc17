// Writing tables into a Maglev pool chunk through a window of its rows. A mapping counts
// in the agent's resident memory in full (the kernel maps every page at once), and a
// chunk is up to 16 MiB: an agent start writing 10,000 tables through whole chunks
// held 40 MB more at its peak than a few windows do. Regions taken in increasing order
// move the window forward only.
import { native } from './native.js';
import { xlb_limits } from './contract.js';

const { XLB_MAGLEV_ROW_SLOTS: ROW } = xlb_limits;
/** Rows mapped at a time (1 MiB): few enough mappings, little memory. */
const WINDOW_ROWS = 256;

export class ChunkWindow {
  private view?: Uint32Array;
  /** the window's first slot, counted from the chunk's start */
  private from = 0;

  /** `rows`: the chunk's size in rows (its map's max_entries). */
  constructor(
    private readonly fd: number,
    private readonly rows: number,
  ) {}

  /** The `size` slots from slot `at` of the chunk, writable until the window moves or closes. */
  region(at: number, size: number): Uint32Array {
    if (!this.view || at < this.from || at + size > this.from + this.view.length) {
      this.close();
      const first = Math.floor(at / ROW);
      const count = Math.min(Math.max(WINDOW_ROWS, Math.ceil((at + size) / ROW) - first), this.rows - first);
      this.view = new Uint32Array(native().mapMmap(this.fd, first, count));
      this.from = first * ROW;
    }
    return this.view.subarray(at - this.from, at - this.from + size);
  }

  /** Unmaps the window. */
  close(): void {
    if (this.view) native().mapUnmap(this.view.buffer as ArrayBuffer);
    this.view = undefined;
  }
}
