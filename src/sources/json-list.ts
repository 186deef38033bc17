// A JSON list (a manifest file's `kind: List`) read item by item: a scan of its bytes
// finds the top-level `items` array and each item's bounds, so that each item is decoded
// and parsed alone, kept as the model reads it, and dies young. Parsed whole, 10,000
// Services (15 MB of JSON) are one string and objects that outlive many scavenges, all
// kept until a full collection. The scan works on UTF-8 bytes: no byte of a multi-byte
// character is a quote, bracket or brace.

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const [OBJ_OPEN, OBJ_CLOSE, ARR_OPEN, ARR_CLOSE] = [0x7b, 0x7d, 0x5b, 0x5d];
const isSpace = (c: number | undefined) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
const BOM = [0xef, 0xbb, 0xbf];

export interface JsonList {
  /** the object without its items (`items: []`) */
  head: Record<string, unknown>;
  /** each item's bytes, [start, end) */
  items: Array<[number, number]>;
}

/**
 * A JSON object whose top-level `items` is an array of objects, as the object without
 * its items and each item's place in the bytes. Undefined for anything else, or for
 * bytes that are not well formed here: JSON.parse then reads the whole and names what
 * is wrong.
 */
export function listItems(bytes: Buffer): JsonList | undefined {
  let first = BOM.every((b, i) => bytes[i] === b) ? BOM.length : 0;
  while (isSpace(bytes[first])) first++;
  if (bytes[first] !== OBJ_OPEN) return undefined;
  const items: Array<[number, number]> = [];
  let depth = 0;
  /** the last string at depth 1: a member's key when an array follows it */
  let key: string | undefined;
  /** where the items array opens and closes, and where the current item starts */
  let open = -1;
  let close = -1;
  let item = -1;
  for (let i = first; i < bytes.length; i++) {
    const c = bytes[i]!;
    const inItems = open >= 0 && close < 0 && depth === 2;
    if (inItems && c !== OBJ_OPEN && c !== ARR_CLOSE && c !== COMMA && !isSpace(c)) return undefined; // an item that is not an object
    if (c === QUOTE) {
      // To the closing quote: one not escaped by an odd run of backslashes.
      let end = i;
      do {
        end = bytes.indexOf(QUOTE, end + 1);
        if (end < 0) return undefined;
      } while (backslashesBefore(bytes, end) % 2 === 1);
      if (depth === 1) key = bytes.toString('utf8', i + 1, end);
      i = end;
    } else if (c === OBJ_OPEN || c === ARR_OPEN) {
      if (inItems) item = i;
      else if (depth === 1 && c === ARR_OPEN && key === 'items' && open < 0) open = i;
      depth++;
    } else if (c === OBJ_CLOSE || c === ARR_CLOSE) {
      depth--;
      if (depth === 2 && open >= 0 && close < 0 && item >= 0) {
        items.push([item, i + 1]);
        item = -1;
      } else if (depth === 1 && open >= 0 && close < 0) close = i;
      if (depth === 0) return head(bytes, first, i, open, close, items);
    }
  }
  return undefined;
}

/** Item `at` of a list, parsed. */
export function parseItem(bytes: Buffer, at: [number, number]): unknown {
  return JSON.parse(bytes.toString('utf8', at[0], at[1]));
}

function backslashesBefore(bytes: Buffer, at: number): number {
  let n = 0;
  while (bytes[at - 1 - n] === BACKSLASH) n++;
  return n;
}

/** The list without its items; undefined when it has none, another `items`, or is no JSON. */
function head(bytes: Buffer, first: number, last: number, open: number, close: number, items: Array<[number, number]>): JsonList | undefined {
  if (open < 0 || close < 0) return undefined;
  for (let i = last + 1; i < bytes.length; i++) if (!isSpace(bytes[i])) return undefined;
  try {
    const h = JSON.parse(`${bytes.toString('utf8', first, open)}[]${bytes.toString('utf8', close + 1, last + 1)}`) as Record<string, unknown>;
    return Array.isArray(h.items) && h.items.length === 0 ? { head: h, items } : undefined;
  } catch {
    return undefined;
  }
}
