// A full collection at a point where the agent knows most of the heap just died. V8
// collects when its heuristics say; at a start of 10,000 Services they fell anywhere in
// the first sync, whose peak was then 4-18 MB higher. bin/lbctl runs node with
// --expose-gc; anywhere else (`node dist/lbctl.js`) this does nothing.
export function collectGarbage(): void {
  (globalThis as { gc?: () => void }).gc?.();
}
