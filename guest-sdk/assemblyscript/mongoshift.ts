// mongoshift.ts: write a mongoshift transform in AssemblyScript, one function
// from document to outcome. The module follows the core-module contract of
// guest-sdk/ABI.md (contract version 1, or 2 through mongoshift_v2.ts); its
// only imports are `env.abort` and, once `log` is used, `env.log`.
//
//     import { Doc, Outcome, Writer, keep, replace, setTransform } from "./mongoshift";
//     export { mongoshift_contract_version, mongoshift_alloc, mongoshift_describe,
//              mongoshift_transform } from "./mongoshift";
//
//     function addStatus(doc: Doc): Outcome {
//       if (doc.find("status") !== null) return keep();
//       const w = new Writer(doc.len + 32);
//       w.appendAll(doc);
//       w.appendString("status", "active");
//       return replace(w);
//     }
//     setTransform("add_status", addStatus);
//
// `mongoshift build` puts this file beside the guest's index.ts and runs `asc`.
// Fields a transform does not touch are copied as bytes.

export const DOUBLE: u8 = 0x01, STRING: u8 = 0x02, DOCUMENT: u8 = 0x03, ARRAY: u8 = 0x04;
export const BINARY: u8 = 0x05, UNDEFINED: u8 = 0x06, OBJECT_ID: u8 = 0x07, BOOL: u8 = 0x08;
export const DATETIME: u8 = 0x09, NULL: u8 = 0x0a, REGEX: u8 = 0x0b, DBPOINTER: u8 = 0x0c;
export const CODE: u8 = 0x0d, SYMBOL: u8 = 0x0e, CODE_W_SCOPE: u8 = 0x0f, INT32: u8 = 0x10;
export const TIMESTAMP: u8 = 0x11, INT64: u8 = 0x12, DECIMAL128: u8 = 0x13, MIN_KEY: u8 = 0xff, MAX_KEY: u8 = 0x7f;

function cstrLen(p: usize): u32 {
  let e = p;
  while (load<u8>(e) != 0) e++;
  return <u32>(e - p);
}

/** One element of a document: key, type (a BSON tag) and value bytes, all
 * pointing into the document (valid during the call). */
export class Elem {
  keyPtr: usize = 0;
  keyLen: u32 = 0;
  type: u8 = 0;
  value: usize = 0;
  valueLen: u32 = 0;

  /** Whether the key is `k`. */
  keyIs(k: string): bool {
    const n = <u32>k.length;
    if (n != this.keyLen) {
      // Only ASCII compares byte for char; anything else by its UTF-8 bytes.
      return n < this.keyLen && String.UTF8.byteLength(k) == <i32>this.keyLen && this.key() == k;
    }
    for (let i: u32 = 0; i < n; i++) {
      const c = k.charCodeAt(i);
      if (c >= 0x80) return this.key() == k;
      if (<u8>c != load<u8>(this.keyPtr + i)) return false;
    }
    return true;
  }

  key(): string {
    return String.UTF8.decodeUnsafe(this.keyPtr, this.keyLen);
  }

  isString(): bool {
    return this.type == STRING;
  }

  /** The string value (check isString first). */
  asString(): string {
    return String.UTF8.decodeUnsafe(this.value + 4, load<u32>(this.value) - 1);
  }

  /** Milliseconds since the epoch of a datetime (check type == DATETIME). */
  asDatetime(): i64 {
    return load<i64>(this.value);
  }

  asInt32(): i32 {
    return load<i32>(this.value);
  }

  asInt64(): i64 {
    return load<i64>(this.value);
  }
}

/** A BSON document at `ptr` (its int32 length first). */
export class Doc {
  constructor(public ptr: usize, public len: u32) {}

  /** Reads the element at `at` into `e` and returns where the next one starts
   * (0 at the end). Start with `doc.first()`. */
  next(at: usize, e: Elem): usize {
    if (at >= this.ptr + this.len - 1) return 0;
    const t = load<u8>(at);
    e.type = t;
    e.keyPtr = at + 1;
    e.keyLen = cstrLen(at + 1);
    const v = at + 1 + e.keyLen + 1;
    e.value = v;
    let n: u32 = 0;
    switch (t) {
      case DOUBLE: case DATETIME: case TIMESTAMP: case INT64: n = 8; break;
      case STRING: case CODE: case SYMBOL: n = 4 + load<u32>(v); break;
      case DOCUMENT: case ARRAY: case CODE_W_SCOPE: n = load<u32>(v); break;
      case BINARY: n = 5 + load<u32>(v); break;
      case OBJECT_ID: n = 12; break;
      case BOOL: n = 1; break;
      case INT32: n = 4; break;
      case DECIMAL128: n = 16; break;
      case DBPOINTER: n = 16 + load<u32>(v); break;
      case REGEX: {
        const a = cstrLen(v) + 1;
        n = a + cstrLen(v + a) + 1;
        break;
      }
      default: n = 0;
    }
    e.valueLen = n;
    return v + n;
  }

  first(): usize {
    return this.ptr + 4;
  }

  /** The first element named `key`, or null. */
  find(key: string): Elem | null {
    const e = new Elem();
    let at = this.first();
    while ((at = this.next(at, e)) != 0) {
      if (e.keyIs(key)) return e;
    }
    return null;
  }
}

/** Builds a BSON document; untouched values are appended as bytes. */
export class Writer {
  buf: StaticArray<u8>;
  len: i32 = 4;

  constructor(capacity: i32 = 256) {
    this.buf = new StaticArray<u8>(max(capacity, 16));
  }

  @inline private reserve(n: i32): void {
    if (this.len + n > this.buf.length) this.grow(n);
  }

  private grow(n: i32): void {
    const b = new StaticArray<u8>(max(this.buf.length * 2, this.len + n));
    memory.copy(changetype<usize>(b), changetype<usize>(this.buf), this.len);
    this.buf = b;
  }

  @inline private at(): usize {
    return changetype<usize>(this.buf) + this.len;
  }

  bytes(p: usize, n: u32): void {
    this.reserve(<i32>n);
    memory.copy(this.at(), p, n);
    this.len += <i32>n;
  }

  u8(v: u8): void {
    this.reserve(1);
    store<u8>(this.at(), v);
    this.len += 1;
  }

  key(type: u8, key: string): void {
    const b = String.UTF8.encode(key);
    this.u8(type);
    this.bytes(changetype<usize>(b), b.byteLength);
    this.u8(0);
  }

  /** Copies element `e` under its own key. */
  append(e: Elem): void {
    this.reserve(<i32>(e.keyLen + e.valueLen + 2));
    this.u8(e.type);
    this.bytes(e.keyPtr, e.keyLen + 1);
    this.bytes(e.value, e.valueLen);
  }

  /** Copies element `e`'s value under another key (a rename in place). */
  appendAs(key: string, e: Elem): void {
    this.key(e.type, key);
    this.bytes(e.value, e.valueLen);
  }

  appendAll(doc: Doc): void {
    const e = new Elem();
    let at = doc.first();
    while ((at = doc.next(at, e)) != 0) this.append(e);
  }

  appendString(key: string, value: string): void {
    const b = String.UTF8.encode(value);
    this.key(STRING, key);
    this.reserve(4);
    store<u32>(this.at(), b.byteLength + 1);
    this.len += 4;
    this.bytes(changetype<usize>(b), b.byteLength);
    this.u8(0);
  }

  appendInt32(key: string, v: i32): void {
    this.key(INT32, key);
    this.reserve(4);
    store<i32>(this.at(), v);
    this.len += 4;
  }

  appendInt64(key: string, v: i64): void {
    this.key(INT64, key);
    this.reserve(8);
    store<i64>(this.at(), v);
    this.len += 8;
  }

  appendDatetime(key: string, millis: i64): void {
    this.key(DATETIME, key);
    this.reserve(8);
    store<i64>(this.at(), millis);
    this.len += 8;
  }

  appendBool(key: string, v: bool): void {
    this.key(BOOL, key);
    this.u8(v ? 1 : 0);
  }

  appendNull(key: string): void {
    this.key(NULL, key);
  }

  /** Appends the document `w` built (finished) as a sub-document. */
  appendDocument(key: string, w: Writer): void {
    this.key(DOCUMENT, key);
    this.bytes(changetype<usize>(w.buf), <u32>w.len);
  }

  /** Appends the document `w` built (finished; keys "0", "1", ...) as an array. */
  appendArray(key: string, w: Writer): void {
    this.key(ARRAY, key);
    this.bytes(changetype<usize>(w.buf), <u32>w.len);
  }

  /** Closes the document (the writer is done). */
  finish(): void {
    this.u8(0);
    store<i32>(changetype<usize>(this.buf), this.len);
  }
}

// ---- messages --------------------------------------------------------------

/** `s` quoted as Rust's `{:?}` quotes strings, so messages match the Rust
 * guests': \" \\ \n \r \t \0, other control characters as \u{..}. */
export function quote(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c == 0x22) out += '\\"';
    else if (c == 0x5c) out += "\\\\";
    else if (c == 0x0a) out += "\\n";
    else if (c == 0x0d) out += "\\r";
    else if (c == 0x09) out += "\\t";
    else if (c == 0) out += "\\0";
    else if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) out += "\\u{" + c.toString(16) + "}";
    else out += String.fromCharCode(c);
  }
  return out + '"';
}

/** A BSON type's name as the Rust SDK's messages show it (bson's
 * `ElementType` debug form: "String", "Int32", "EmbeddedDocument", ...). */
export function typeName(type: u8): string {
  switch (type) {
    case DOUBLE: return "Double";
    case STRING: return "String";
    case DOCUMENT: return "EmbeddedDocument";
    case ARRAY: return "Array";
    case BINARY: return "Binary";
    case UNDEFINED: return "Undefined";
    case OBJECT_ID: return "ObjectId";
    case BOOL: return "Boolean";
    case DATETIME: return "DateTime";
    case NULL: return "Null";
    case REGEX: return "RegularExpression";
    case DBPOINTER: return "DbPointer";
    case CODE: return "JavaScriptCode";
    case SYMBOL: return "Symbol";
    case CODE_W_SCOPE: return "JavaScriptCodeWithScope";
    case INT32: return "Int32";
    case TIMESTAMP: return "Timestamp";
    case INT64: return "Int64";
    case DECIMAL128: return "Decimal128";
    case MAX_KEY: return "MaxKey";
    case MIN_KEY: return "MinKey";
    default: return "Unknown";
  }
}

// ---- dates -------------------------------------------------------------------

// Floor division (b > 0), without overflow at i64.MIN_VALUE.
@inline function floorDiv(a: i64, b: i64): i64 {
  const q = a / b;
  return a % b != 0 && a < 0 ? q - 1 : q;
}

function isLeap(y: i64): bool {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

function daysInMonth(y: i64, m: i64): i64 {
  if (m == 2) return isLeap(y) ? 29 : 28;
  return m == 4 || m == 6 || m == 9 || m == 11 ? 30 : 31;
}

function daysFromCivil(y: i64, m: i64, d: i64): i64 {
  if (m <= 2) y -= 1;
  const era = floorDiv(y, 400);
  const yoe = y - era * 400;
  const doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
  const doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

/** Whether the last parseDate/parseYmd succeeded. */
export let parsedOk: bool = false;

/** Parses `value` with a strftime-like format (%Y %m %d %H %M %S %%; other
 * characters match exactly) into milliseconds since the epoch (UTC). Sets
 * `parsedOk` to false (and returns 0) when it does not match or is not a real
 * date. */
export function parseDate(value: string, format: string): i64 {
  parsedOk = false;
  let Y: i64 = 1970, mo: i64 = 1, d: i64 = 1, H: i64 = 0, Mi: i64 = 0, S: i64 = 0;
  let at = 0;
  const n = value.length;
  for (let i = 0; i < format.length; i++) {
    let c = format.charCodeAt(i);
    if (c != 0x25) {
      if (at >= n || value.charCodeAt(at) != c) return 0;
      at++;
      continue;
    }
    i++;
    if (i >= format.length) return 0;
    c = format.charCodeAt(i);
    if (c == 0x25) {
      if (at >= n || value.charCodeAt(at) != 0x25) return 0;
      at++;
      continue;
    }
    const width = c == 0x59 ? 4 : 2;
    if (at + width > n) return 0;
    let v: i64 = 0;
    for (let k = 0; k < width; k++) {
      const ch = value.charCodeAt(at + k);
      if (ch < 0x30 || ch > 0x39) return 0;
      v = v * 10 + (ch - 0x30);
    }
    at += width;
    if (c == 0x59) Y = v;
    else if (c == 0x6d) mo = v;
    else if (c == 0x64) d = v;
    else if (c == 0x48) H = v;
    else if (c == 0x4d) Mi = v;
    else if (c == 0x53) S = v;
    else return 0;
  }
  if (at != n || mo < 1 || mo > 12 || d < 1 || d > daysInMonth(Y, mo) || H > 23 || Mi > 59 || S > 59) return 0;
  parsedOk = true;
  return ((daysFromCivil(Y, mo, d) * 24 + H) * 60 + Mi) * 60000 + S * 1000;
}

/** A strict "YYYY-MM-DD" to midnight UTC (see parseDate for `parsedOk`). */
export function parseYmd(value: string): i64 {
  return parseDate(value, "%Y-%m-%d");
}

function pad(v: i64, width: i32): string {
  let s = v.toString();
  while (s.length < width) s = "0" + s;
  return s;
}

/** The UTC date of `millis` as YYYY-MM-DD (years padded to four digits). */
export function formatYmd(millis: i64): string {
  const z = floorDiv(millis, 86400000) + 719468;
  const era = floorDiv(z, 146097);
  const doe = z - era * 146097;
  const yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  let y = yoe + era * 400;
  const doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const mp = (5 * doy + 2) / 153;
  const d = doy - (153 * mp + 2) / 5 + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  if (m <= 2) y += 1;
  const year = y < 0 ? "-" + pad(-y, 3) : pad(y, 4);
  return year + "-" + pad(m, 2) + "-" + pad(d, 2);
}

// ---- outcomes and the exports ------------------------------------------------

export class Outcome {
  constructor(public tag: u8, public doc: Writer | null, public message: ArrayBuffer | null) {}
}

const KEEP = new Outcome(0, null, null);
const DELETE = new Outcome(2, null, null);

/** Leave the document as it is. */
export function keep(): Outcome {
  return KEEP;
}
/** Delete the document. */
export function del(): Outcome {
  return DELETE;
}
/** Replace the document with the one `w` built (same _id). */
export function replace(w: Writer): Outcome {
  w.finish();
  return new Outcome(1, w, null);
}
/** The document cannot be transformed; the message says why. */
export function fail(message: string): Outcome {
  return new Outcome(3, null, String.UTF8.encode(message));
}

function noBackward(doc: Doc): Outcome {
  return fail("this module has no backward transform");
}

// What the host handed over or got back last time: dead once it calls alloc again.
// ---- logs (the contract's `log`, guest-sdk/ABI.md "Logs") ----

export const DEBUG: i32 = 0;
export const INFO: i32 = 1;
export const NOTICE: i32 = 2;
export const WARN: i32 = 3;
export const ERROR: i32 = 4;

@external("env", "log")
declare function hostLog(level: i32, ptr: usize, len: u32): void;

// The document being transformed, and the one the host was last told of
// (-1: none): the host learns of a document only when it logs.
let currentDoc: i32 = -1;
let markedDoc: i32 = -1;

/** Logs `message` at `level` (DEBUG ... ERROR): the host gathers the lines of
 * each batch and shows them with a failure, in a quarantined document's
 * entry and under `mongoshift up -v`. An abort's message is logged too. */
export function log(level: i32, message: string): void {
  if (currentDoc >= 0 && markedDoc != currentDoc) {
    hostLog(-1, <usize>currentDoc, 0);
    markedDoc = currentDoc;
  }
  const bytes = String.UTF8.encode(message);
  hostLog(level, changetype<usize>(bytes), <u32>bytes.byteLength);
}

/** The batch loop is at document `i` (-1: a new batch starts). */
export function atDocument(i: i32): void {
  if (i < 0) markedDoc = -1;
  currentDoc = i;
}

let input: usize = 0;
let result: usize = 0;
let outcomes = new Array<Outcome>();

let moduleName = "transform";
let forwardFn: (doc: Doc) => Outcome = noBackward;
let backwardFn: (doc: Doc) => Outcome = noBackward;
let hasBackward = false;
let contractVersion: i32 = 1;
let runner: (direction: i32, ptr: usize, len: u32) => usize = runV1;

/** Registers the transform (call once, at the top level of index.ts). */
export function setTransform(name: string, forward: (doc: Doc) => Outcome, backward: ((doc: Doc) => Outcome) | null = null): void {
  moduleName = name;
  forwardFn = forward;
  if (backward !== null) {
    backwardFn = backward;
    hasBackward = true;
  }
}

/** Lets another contract version run the batches (mongoshift_v2.ts uses it;
 * a transform calls setTransform or setTransformV2 instead). */
export function setContract(version: i32, name: string, backward: bool, run: (direction: i32, ptr: usize, len: u32) => usize): void {
  contractVersion = version;
  moduleName = name;
  hasBackward = backward;
  runner = run;
}

/** A fresh result buffer of `size` bytes (the previous one is dead). */
export function newResult(size: usize): usize {
  if (result != 0) heap.free(result);
  result = heap.alloc(size);
  return result;
}

/** The size of `o`'s record in the outcomes payload. */
export function outcomeSize(o: Outcome): usize {
  return 5 + (o.doc !== null ? <usize>o.doc!.len : o.message !== null ? <usize>o.message!.byteLength : 0);
}

/** Writes `o`'s record at `p` and returns where the next byte goes. */
export function writeOutcome(p: usize, o: Outcome): usize {
  store<u8>(p, o.tag);
  let n: u32 = 0;
  if (o.doc !== null) {
    n = <u32>o.doc!.len;
    memory.copy(p + 5, changetype<usize>(o.doc!.buf), n);
  } else if (o.message !== null) {
    n = <u32>o.message!.byteLength;
    memory.copy(p + 5, changetype<usize>(o.message!), n);
  }
  store<u32>(p + 1, n);
  return p + 5 + n;
}

export function mongoshift_contract_version(): i32 {
  return contractVersion;
}

export function mongoshift_alloc(size: i32): usize {
  if (input != 0) heap.free(input);
  if (result != 0) heap.free(result);
  input = 0;
  result = 0;
  outcomes = new Array<Outcome>();
  input = heap.alloc(<usize>max(size, 8));
  return input;
}

export function mongoshift_describe(): usize {
  const w = new Writer(64);
  w.appendString("name", moduleName);
  w.appendInt32("contract_version", contractVersion);
  w.appendBool("backward", hasBackward);
  w.finish();
  const res = newResult(<usize>(4 + w.len));
  store<u32>(res, w.len);
  memory.copy(res + 4, changetype<usize>(w.buf), w.len);
  return res;
}

export function mongoshift_transform(direction: i32, ptr: usize, len: u32): usize {
  return runner(direction, ptr, len);
}

function runV1(direction: i32, ptr: usize, len: u32): usize {
  const f = direction == 0 ? forwardFn : backwardFn;
  const end = ptr + len;
  let size: usize = 8;
  let at = ptr;
  atDocument(-1);
  while (at < end) {
    const n = load<u32>(at);
    atDocument(outcomes.length);
    const o = f(new Doc(at, n));
    outcomes.push(o);
    size += outcomeSize(o);
    at += n;
  }
  const res = newResult(size);
  store<u32>(res, <u32>(size - 4));
  store<u32>(res + 4, outcomes.length);
  let p = res + 8;
  for (let i = 0; i < outcomes.length; i++) p = writeOutcome(p, outcomes[i]);
  outcomes = new Array<Outcome>();
  return res;
}
