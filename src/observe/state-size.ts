// The programmed state's size (service ports, frontends, distinct backends) for the
// status and the metrics, kept from each sync's delta: counting 100,000 Services from
// scratch whenever the status is read stalled the agent for 100 ms under churn.
import { NumberMap } from '../model/number-map.js';
import { backendNumber, backendRefs, type LbService, type StateUpdate } from '../model/state.js';

export interface StateSize {
  services: number;
  frontends: number;
  /** distinct address:port pairs */
  backends: number;
}


export class StateSizer {
  /** each service port as last counted (the model replaces a changed one, never edits it) */
  private readonly counted = new Map<string, LbService>();
  /** backend -> how many counted service ports have it */
  private readonly refs = new NumberMap();
  private frontends = 0;

  /** Takes in one sync's result, before the model's next build updates its state. */
  add({ state, delta }: StateUpdate): StateSize {
    if (delta.full) {
      this.refs.reserve(backendRefs(state));
      for (const key of [...this.counted.keys()]) if (!state.services.has(key)) this.set(key, undefined);
      for (const [key, lb] of state.services) this.set(key, lb);
    } else {
      for (const key of delta.removed) this.set(key, undefined);
      for (const key of delta.upserted) this.set(key, state.services.get(key));
    }
    return { services: this.counted.size, frontends: this.frontends, backends: this.refs.size };
  }

  private set(key: string, lb: LbService | undefined): void {
    const was = this.counted.get(key);
    if (was === lb) return;
    if (was) {
      this.frontends -= was.frontends.length;
      for (const b of was.backends) this.refs.addCount(backendNumber(b), -1);
    }
    if (!lb) {
      this.counted.delete(key);
      return;
    }
    this.counted.set(key, lb);
    this.frontends += lb.frontends.length;
    for (const b of lb.backends) this.refs.addCount(backendNumber(b), 1);
  }
}
