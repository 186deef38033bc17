// Where every source's objects pass before the model sees them: each object is checked
// (a valid one once: sources keep the identity of unchanged ones), an invalid one is
// replaced by its last good version or left out, and each problem is logged once, with
// a line when it is gone. An operator's typo never takes down a Service that worked.
import type { Logger } from 'pino';
import { objectName, type EndpointSlice, type ObjectChanges, type Service } from '../model/k8s.js';
import { validateEndpointSlice, validateService, ValidationError } from './validate.js';

type Obj = Record<string, unknown>;

/** An object's check. */
interface Verdict<T> {
  uid?: unknown;
  valid?: T;
  problem?: ValidationError;
}

/** What is known of one named object across snapshots. */
interface Entry<T> {
  good?: T;
  uid?: unknown;
  /** the problem logged for it, while it lasts */
  reported?: string;
  /** the note logged for it, while it lasts */
  noted?: string;
  /** the last admit() that saw it */
  seen: number;
}

export class ObjectGate<T extends object> {
  private readonly entries = new Map<string, Entry<T>>();
  private round = 0;

  /**
   * `note`: why a valid object will not be served (logged once at debug: the API holds
   * such objects legitimately, e.g. IPv6 EndpointSlices).
   */
  constructor(
    private readonly kind: string,
    private readonly check: (o: Obj) => T,
    private readonly log: Logger,
    private readonly note?: (o: T) => string | undefined,
  ) {}

  /**
   * The objects to hand the model, in their order: valid ones as they are, an invalid
   * one as its last good version (same uid) or not at all. `where` says where an object
   * came from (a manifest file and document), for the log.
   */
  admit(objects: readonly object[], where?: (o: object) => string | undefined): T[] {
    const round = ++this.round;
    const out: T[] = [];
    for (const o of objects) {
      const passed = this.pass(o, where);
      if (passed.admitted) out.push(passed.admitted);
    }
    // Forget the objects that are gone: a new one of the same name starts afresh.
    for (const [name, e] of this.entries) if (e.seen !== round) this.entries.delete(name);
    return out;
  }

  /**
   * What changed since the last admit() or change(), for the model: a valid object as it
   * is; an invalid one's last good version (same uid), else its name as gone.
   */
  change(upserted: readonly object[], deleted: readonly string[]): ObjectChanges<T> {
    const out: ObjectChanges<T> = { upserted: [], deleted: [] };
    for (const name of deleted) {
      this.entries.delete(name);
      out.deleted.push(name);
    }
    for (const o of upserted) {
      const { name, admitted } = this.pass(o);
      if (admitted) out.upserted.push(admitted);
      else out.deleted.push(name);
    }
    return out;
  }

  /**
   * Checks an object as it arrives, before it is admitted: a source calls this while it
   * waits for the rest (a list's next page), and admit() or change() then recognise the
   * object as checked. A valid one becomes its name's good version at once; an invalid
   * one, or any of a name whose problem is reported, is left to admission, which logs it
   * (and says when it is valid again).
   */
  vet(o: object): void {
    const name = nameOf(o as Obj);
    const e = this.entry(name);
    if (e.reported !== undefined) return;
    const v = this.verdict(o as Obj);
    if (v.valid) this.keep(e, name, v.valid, v.uid);
  }

  private entry(name: string): Entry<T> {
    let e = this.entries.get(name);
    // Every field from the start: fields added later would cost each entry a second object.
    if (!e) this.entries.set(name, (e = { good: undefined, uid: undefined, reported: undefined, noted: undefined, seen: this.round }));
    return e;
  }

  /** One object through the gate: what to hand the model for it, if anything. */
  private pass(o: object, where?: (o: object) => string | undefined): { name: string; admitted?: T } {
    const name = nameOf(o as Obj, where);
    const e = this.entry(name);
    e.seen = this.round;
    // Checked when it came first: a valid object is recognised as its name's good version
    // (a cache of verdicts by object cost 1.5 MB at 10,000 Services). Invalid ones are
    // checked again each time; they are few.
    if (e.good === o && e.reported === undefined) return { name, admitted: e.good };
    const v = this.verdict(o as Obj);
    if (v.valid) {
      if (e.reported) this.log.info({ kind: this.kind, object: name, from: where?.(o) }, `${this.kind} ${name} is valid again`);
      e.reported = undefined;
      this.keep(e, name, v.valid, v.uid);
      return { name, admitted: v.valid };
    }
    const kept = e.good !== undefined && e.uid === v.uid ? e.good : undefined;
    const problem = v.problem!.message;
    if (e.reported !== problem) {
      e.reported = problem;
      this.log.error(
        { kind: this.kind, object: name, field: v.problem!.field, from: where?.(o), lastGoodKept: kept !== undefined },
        `invalid ${this.kind} ${name}: ${problem}; ${kept ? 'its last good version is kept' : 'skipped'}`,
      );
    }
    return { name, admitted: kept };
  }

  private verdict(o: Obj): Verdict<T> {
    const { uid } = metadataOf(o);
    try {
      return { uid, valid: this.check(o) };
    } catch (err) {
      // Whatever the check trips over is this object's problem, never the agent's end.
      return { uid, problem: err instanceof ValidationError ? err : new ValidationError('(object)', (err as Error).message) };
    }
  }

  /** A valid object becomes its name's good version. */
  private keep(e: Entry<T>, name: string, valid: T, uid: unknown): void {
    e.good = valid;
    e.uid = uid;
    this.noteOnce(e, name, valid);
  }

  private noteOnce(e: Entry<T>, name: string, valid: T): void {
    const why = this.note?.(valid);
    if (why !== undefined && why !== e.noted) this.log.debug({ kind: this.kind, object: name }, `${this.kind} ${name} not served: ${why}`);
    e.noted = why;
  }
}

/** An unchecked object's metadata, read defensively (none: empty). */
const metadataOf = (o: Obj): Obj => ((typeof o.metadata === 'object' && o.metadata) || {}) as Obj;

/**
 * "namespace/name" as the model names it (its changes go by that name), or where the
 * object came from when it has no name.
 */
function nameOf(o: Obj, where?: (o: object) => string | undefined): string {
  const { name, namespace } = metadataOf(o);
  return typeof name === 'string' && name ? objectName({ metadata: { name, namespace: typeof namespace === 'string' ? namespace : undefined } }) : (where?.(o) ?? '(unnamed)');
}

/** IPv4 is served; the API holds IPv6 and FQDN slices of dual-stack and other Services too. */
const unservedSlice = (s: EndpointSlice) => (s.addressType === 'IPv4' ? undefined : `addressType ${s.addressType} (only IPv4 is served)`);

/** The gates of what a source delivers. */
export class SnapshotGate {
  private readonly services: ObjectGate<Service>;
  private readonly slices: ObjectGate<EndpointSlice>;

  constructor(log: Logger) {
    this.services = new ObjectGate('Service', validateService, log);
    this.slices = new ObjectGate('EndpointSlice', validateEndpointSlice, log, unservedSlice);
  }

  admit(services: readonly object[], slices: readonly object[], where?: (o: object) => string | undefined): { services: Service[]; slices: EndpointSlice[] } {
    return { services: this.services.admit(services, where), slices: this.slices.admit(slices, where) };
  }

  change(services: ObjectChanges<object>, slices: ObjectChanges<object>): { services: ObjectChanges<Service>; slices: ObjectChanges<EndpointSlice> } {
    return { services: this.services.change(services.upserted, services.deleted), slices: this.slices.change(slices.upserted, slices.deleted) };
  }

  /** See ObjectGate.vet. */
  vetService(o: object): void {
    this.services.vet(o);
  }

  vetSlice(o: object): void {
    this.slices.vet(o);
  }
}
