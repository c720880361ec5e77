// mongoshift.js: write a mongoshift transform in JavaScript, one function
// from document to outcome, compiled to a WebAssembly component by
// componentize-js (npm @bytecodealliance/componentize-js).
//
//     import { Writer, defineTransform, keep, replace } from "./mongoshift.js";
//
//     function addStatus(doc) {
//       if (doc.get("status")) return keep();
//       const w = new Writer();
//       w.appendAll(doc);
//       w.appendString("status", "active");
//       return replace(w.finish());
//     }
//
//     export const { describe, transform } = defineTransform("add_status", addStatus);
//
// `mongoshift build` bundles the guest's index.js with this file (esbuild) and
// runs componentize-js against guest-sdk/wit/transform.wit (or, for a guest
// that calls defineTransformV2, world transform-v2 of transform-v2.wit). Documents are read
// and written here as raw BSON: fields a transform does not touch are copied
// as bytes, so documents stay byte for byte what they were (a general BSON
// library decodes int32-valued doubles as numbers that re-encode as int32,
// and reorders integer-like keys, so it is not used on this path).

export const DOUBLE = 0x01, STRING = 0x02, DOCUMENT = 0x03, ARRAY = 0x04, BINARY = 0x05;
export const UNDEFINED = 0x06, OBJECT_ID = 0x07, BOOL = 0x08, DATETIME = 0x09, NULL = 0x0a;
export const REGEX = 0x0b, DBPOINTER = 0x0c, CODE = 0x0d, SYMBOL = 0x0e, CODE_W_SCOPE = 0x0f;
export const INT32 = 0x10, TIMESTAMP = 0x11, INT64 = 0x12, DECIMAL128 = 0x13, MIN_KEY = 0xff, MAX_KEY = 0x7f;

const FIXED = { 1: 8, 9: 8, 17: 8, 18: 8, 7: 12, 8: 1, 16: 4, 19: 16, 6: 0, 10: 0, 255: 0, 127: 0 };
const utf8 = new TextDecoder();
const enc = new TextEncoder();

function i32(b, at) {
  return b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24);
}

/** One element: `key`, `type` (a BSON tag) and `raw` (its value bytes). */
export class Elem {
  constructor(key, type, raw) {
    this.key = key;
    this.type = type;
    this.raw = raw;
  }
  /** The string value, or undefined when not a string. */
  asString() {
    return this.type === STRING ? utf8.decode(this.raw.subarray(4, this.raw.length - 1)) : undefined;
  }
  /** Milliseconds since the epoch as a BigInt, or undefined when not a datetime. */
  asDatetime() {
    if (this.type !== DATETIME) return undefined;
    return new DataView(this.raw.buffer, this.raw.byteOffset, 8).getBigInt64(0, true);
  }
  /** An int32 (number) or int64 (BigInt), or undefined. */
  asInt() {
    const v = new DataView(this.raw.buffer, this.raw.byteOffset, this.raw.length);
    if (this.type === INT32) return v.getInt32(0, true);
    if (this.type === INT64) return v.getBigInt64(0, true);
    return undefined;
  }
}

/** A BSON document as bytes; iterating gives its elements in order. */
export class Doc {
  constructor(bytes) {
    this.bytes = bytes;
  }
  *[Symbol.iterator]() {
    const d = this.bytes;
    let at = 4;
    const end = d.length - 1;
    while (at < end) {
      const t = d[at];
      const k = at + 1;
      let z = k;
      while (d[z] !== 0) z++;
      const key = utf8.decode(d.subarray(k, z));
      const v = z + 1;
      let n = FIXED[t];
      if (n === undefined) {
        if (t === STRING || t === CODE || t === SYMBOL) n = 4 + i32(d, v);
        else if (t === DOCUMENT || t === ARRAY || t === CODE_W_SCOPE) n = i32(d, v);
        else if (t === BINARY) n = 5 + i32(d, v);
        else if (t === DBPOINTER) n = 16 + i32(d, v);
        else if (t === REGEX) {
          let e = v;
          while (d[e] !== 0) e++;
          e++;
          while (d[e] !== 0) e++;
          n = e + 1 - v;
        } else throw new Error(`unknown BSON type ${t} at field ${key}`);
      }
      yield new Elem(key, t, d.subarray(v, v + n));
      at = v + n;
    }
  }
  /** The first element named `key`, or undefined. */
  get(key) {
    for (const e of this) if (e.key === key) return e;
    return undefined;
  }
}

/** Builds a BSON document; untouched values are appended as bytes. */
export class Writer {
  constructor(capacity = 256) {
    this.buf = new Uint8Array(capacity);
    this.len = 4;
  }
  reserve(n) {
    if (this.len + n <= this.buf.length) return;
    const b = new Uint8Array(Math.max(this.buf.length * 2, this.len + n));
    b.set(this.buf.subarray(0, this.len));
    this.buf = b;
  }
  bytes(b) {
    this.reserve(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }
  u8(v) {
    this.reserve(1);
    this.buf[this.len++] = v;
  }
  u32(v) {
    this.reserve(4);
    const b = this.buf;
    b[this.len] = v;
    b[this.len + 1] = v >>> 8;
    b[this.len + 2] = v >>> 16;
    b[this.len + 3] = v >>> 24;
    this.len += 4;
  }
  i64(v) {
    this.reserve(8);
    new DataView(this.buf.buffer).setBigInt64(this.len, BigInt(v), true);
    this.len += 8;
  }
  key(type, key) {
    this.u8(type);
    this.bytes(enc.encode(key));
    this.u8(0);
  }
  /** Copies element `e` (under `key` when given: a rename in place). */
  append(e, key) {
    this.key(e.type, key === undefined ? e.key : key);
    this.bytes(e.raw);
  }
  appendAll(doc) {
    for (const e of doc) this.append(e);
  }
  appendString(key, value) {
    const b = enc.encode(value);
    this.key(STRING, key);
    this.u32(b.length + 1);
    this.bytes(b);
    this.u8(0);
  }
  appendInt32(key, value) {
    this.key(INT32, key);
    this.u32(value);
  }
  appendInt64(key, value) {
    this.key(INT64, key);
    this.i64(value);
  }
  /** A datetime from milliseconds since the epoch (number or BigInt). */
  appendDatetime(key, millis) {
    this.key(DATETIME, key);
    this.i64(millis);
  }
  appendBool(key, value) {
    this.key(BOOL, key);
    this.u8(value ? 1 : 0);
  }
  appendNull(key) {
    this.key(NULL, key);
  }
  /** A sub-document from its BSON bytes. */
  appendDocument(key, bytes) {
    this.key(DOCUMENT, key);
    this.bytes(bytes);
  }
  /** An array from the BSON bytes of a document keyed "0", "1", .... */
  appendArray(key, bytes) {
    this.key(ARRAY, key);
    this.bytes(bytes);
  }
  /** The document's bytes. */
  finish() {
    this.u8(0);
    const n = this.len;
    this.buf[0] = n;
    this.buf[1] = n >>> 8;
    this.buf[2] = n >>> 16;
    this.buf[3] = n >>> 24;
    return this.buf.subarray(0, n);
  }
}

// ---- messages --------------------------------------------------------------

const ESC = { '"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\0": "\\0" };

const TYPE_NAMES = {
  1: "Double", 2: "String", 3: "EmbeddedDocument", 4: "Array", 5: "Binary", 6: "Undefined",
  7: "ObjectId", 8: "Boolean", 9: "DateTime", 10: "Null", 11: "RegularExpression", 12: "DbPointer",
  13: "JavaScriptCode", 14: "Symbol", 15: "JavaScriptCodeWithScope", 16: "Int32", 17: "Timestamp",
  18: "Int64", 19: "Decimal128", 127: "MaxKey", 255: "MinKey",
};

/** A BSON type's name as the Rust SDK's messages show it (bson's
 * `ElementType` debug form: "String", "Int32", "EmbeddedDocument", ...). */
export const typeName = (type) => TYPE_NAMES[type] ?? "Unknown";

/** `s` quoted as Rust's `{:?}` quotes strings, so messages match the Rust
 * guests': \" \\ \n \r \t \0, other control characters as \u{..}. */
export function quote(s) {
  let out = '"';
  for (const c of s) {
    const e = ESC[c];
    const cp = c.codePointAt(0);
    if (e !== undefined) out += e;
    else if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f)) out += `\\u{${cp.toString(16)}}`;
    else out += c;
  }
  return out + '"';
}

// ---- dates -------------------------------------------------------------------

const floorDiv = (a, b) => Math.floor(a / b);
const leap = (y) => (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
const daysInMonth = (y, m) => (m === 2 ? (leap(y) ? 29 : 28) : [4, 6, 9, 11].includes(m) ? 30 : 31);

function daysFromCivil(y, m, d) {
  if (m <= 2) y -= 1;
  const era = floorDiv(y, 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * ((m + 9) % 12) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/** Parses `value` with a strftime-like format (%Y %m %d %H %M %S %%; other
 * characters match exactly) into milliseconds since the epoch (UTC), or
 * undefined when it does not match or is not a real date. */
export function parseDate(value, format) {
  const f = { Y: 1970, m: 1, d: 1, H: 0, M: 0, S: 0 };
  let at = 0;
  for (let i = 0; i < format.length; i++) {
    let c = format[i];
    if (c !== "%") {
      if (value[at] !== c) return undefined;
      at++;
      continue;
    }
    c = format[++i];
    if (c === "%") {
      if (value[at] !== "%") return undefined;
      at++;
      continue;
    }
    if (!(c in f)) return undefined;
    const width = c === "Y" ? 4 : 2;
    const digits = value.slice(at, at + width);
    if (digits.length !== width || !/^[0-9]+$/.test(digits)) return undefined;
    f[c] = Number(digits);
    at += width;
  }
  if (at !== value.length || f.m < 1 || f.m > 12 || f.d < 1 || f.d > daysInMonth(f.Y, f.m) || f.H > 23 || f.M > 59 || f.S > 59)
    return undefined;
  return ((daysFromCivil(f.Y, f.m, f.d) * 24 + f.H) * 60 + f.M) * 60000 + f.S * 1000;
}

/** A strict "YYYY-MM-DD" to midnight UTC in milliseconds, or undefined. */
export function parseYmd(value) {
  return parseDate(value, "%Y-%m-%d");
}

/** The UTC date of `millis` (number or BigInt) as YYYY-MM-DD. */
export function formatYmd(millis) {
  const b = BigInt(millis);
  let days = b / 86400000n;
  if (b % 86400000n < 0n) days -= 1n;
  const z = Number(days) + 719468;
  const era = floorDiv(z, 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  let y = yoe + era * 400;
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  if (m <= 2) y += 1;
  const year = y < 0 ? "-" + String(-y).padStart(3, "0") : String(y).padStart(4, "0");
  return `${year}-${String(m).padStart(2, "0")}-${String(d).padStart(2, "0")}`;
}

// ---- outcomes and the export -----------------------------------------------------

const KEEP = { tag: "keep" };
const DELETE = { tag: "delete" };

/** Leave the document as it is. */
export const keep = () => KEEP;
/** Delete the document. */
export const del = () => DELETE;
/** Replace the document with these BSON bytes (same _id). */
export const replace = (bytes) => ({ tag: "replace", val: bytes });
/** The document cannot be transformed; the message says why. */
export const fail = (message) => ({ tag: "fail", val: String(message) });

/** The two exports of a world, `describe` and `transform`; `run(f, batch)`
 * transforms a batch with the direction's function. */
function exportsOf(name, version, forward, backward, run) {
  return {
    describe() {
      return { name, contractVersion: version, backward: backward !== undefined, reads: [], writes: [] };
    },
    transform(dir, batch) {
      const f = dir === "forward" ? forward : backward;
      if (f === undefined) throw new Error(`${name} has no backward transform`);
      try {
        return run(f, batch);
      } catch (e) {
        // The trap that follows says only that the component failed: the
        // exception is logged, so the batch's error shows it.
        log(ERROR, String(e));
        if (e && e.stack) log(DEBUG, e.stack);
        throw e;
      }
    },
  };
}

// ---- logs (guest-sdk/ABI.md "Logs") ------------------------------------------------

export const DEBUG = 0, INFO = 1, NOTICE = 2, WARN = 3, ERROR = 4;

// The document being transformed, and the one the host was last told of: the
// host learns of a document only when it logs.
let currentDoc = -1;
let markedDoc = -1;

function atDocument(i) {
  if (i < 0) markedDoc = -1;
  currentDoc = i;
}

/** Logs `message` at `level` (DEBUG ... ERROR): the host gathers the lines of
 * each batch and shows them with a failure, in a quarantined document's entry
 * and under `mongoshift up -v`. `console.log` lines are logged at INFO,
 * `console.error` lines at WARN. */
export function log(level, message) {
  if (currentDoc >= 0 && markedDoc !== currentDoc) {
    console.error(`\x1e@${currentDoc}`);
    markedDoc = currentDoc;
  }
  for (const line of String(message).split("\n")) console.error(`\x1e${level}${line}`);
}

/** The two exports of the WIT world: `export const { describe, transform } =
 * defineTransform(...)`. `forward(doc)` (and `backward(doc)`) take a Doc and
 * return an outcome. */
export function defineTransform(name, forward, backward) {
  return exportsOf(name, 1, forward, backward, (f, batch) => {
    const out = [];
    let at = 0;
    atDocument(-1);
    while (at < batch.length) {
      const n = i32(batch, at);
      atDocument(out.length);
      out.push(f(new Doc(batch.subarray(at, at + n))));
      at += n;
    }
    return out;
  });
}

// ---- contract version 2: lookups and outputs -------------------------------------

/** What a version-2 transform sees of one input document besides the
 * document (its lookups) and what it writes besides its outcome (its outputs,
 * in the order emitted; dropped if the outcome is a fail, since a document
 * that fails writes nothing). */
export class Context {
  constructor(lookups) {
    this.lookups = lookups;
    this.outputs = [];
  }
  /** The documents (Docs) the lookup named `as` matched, in the order the host
   * gave them; none if it matched nothing or the manifest declares no such lookup. */
  lookup(as) {
    const e = this.lookups.get(as);
    if (e === undefined) return [];
    if (e.type !== ARRAY) throw new Error(`lookup \`${as}\` is not an array of documents`);
    return Array.from(new Doc(e.raw), (m) => {
      if (m.type !== DOCUMENT) throw new Error(`lookup \`${as}\` holds something other than documents`);
      return new Doc(m.raw);
    });
  }
  /** Inserts `doc` (BSON bytes with an `_id`) into `collection` (`name` or
   * `database.name`, one of the manifest's `outputs`). */
  insert(collection, doc) {
    this.outputs.push({ op: "insert", collection, document: doc });
  }
  /** Replaces the document of `collection` with `doc`'s `_id`, or inserts it. */
  upsert(collection, doc) {
    this.outputs.push({ op: "upsert", collection, document: doc });
  }
  /** Deletes the document of `collection` whose `_id` is the value of `id`
   * (an Elem: its key does not matter). */
  delete(collection, id) {
    const w = new Writer(id.raw.length + 16);
    w.append(id, "_id");
    this.outputs.push({ op: "delete", collection, document: w.finish() });
  }
}

/** The two exports of world transform-v2: `export const { describe, transform }
 * = defineTransformV2(...)`. `forward(doc, cx)` (and `backward(doc, cx)`) take
 * a Doc and a Context and return an outcome. `mongoshift build` builds a guest
 * that calls it against transform-v2.wit. */
export function defineTransformV2(name, forward, backward) {
  return exportsOf(name, 2, forward, backward, (f, batch) => {
    const out = [];
    let at = 0;
    atDocument(-1);
    while (at < batch.length) {
      const n = i32(batch, at);
      const l = i32(batch, at + n);
      atDocument(out.length);
      const cx = new Context(new Doc(batch.subarray(at + n, at + n + l)));
      const outcome = f(new Doc(batch.subarray(at, at + n)), cx);
      out.push({ outcome, outputs: outcome.tag === "fail" ? [] : cx.outputs });
      at += n + l;
    }
    return out;
  });
}
