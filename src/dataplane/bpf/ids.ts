// Small integer ids (service and backend slots in the maps), lowest free first.
export class IdPool {
  private readonly used = new Set<number>();
  private hint: number;

  constructor(
    private readonly first: number,
    private readonly last: number,
    private readonly what: string,
  ) {
    this.hint = first;
  }

  reserve(id: number): void {
    this.used.add(id);
  }

  allocate(): number {
    for (let n = 0, id = this.hint; n <= this.last - this.first; n++, id = id >= this.last ? this.first : id + 1) {
      if (!this.used.has(id)) {
        this.used.add(id);
        this.hint = id >= this.last ? this.first : id + 1;
        return id;
      }
    }
    throw new Error(`out of ${this.what} ids (${this.last - this.first + 1} in use): too many ${this.what}s for the BPF maps`);
  }

  clear(): void {
    this.used.clear();
    this.hint = this.first;
  }

  release(id: number): void {
    this.used.delete(id);
    if (id < this.hint) this.hint = id;
  }
}
