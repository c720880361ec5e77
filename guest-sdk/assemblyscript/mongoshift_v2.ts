// mongoshift_v2.ts: contract version 2 (guest-sdk/ABI.md) in AssemblyScript.
// A transform reads the documents the host looked up for each input document
// and writes documents to other collections besides its outcome:
//
//     import { Doc, Outcome, Writer, keep } from "./mongoshift";
//     import { Context, setTransformV2 } from "./mongoshift_v2";
//     export { mongoshift_contract_version, mongoshift_alloc, mongoshift_describe,
//              mongoshift_transform } from "./mongoshift";
//
//     function copyOut(doc: Doc, cx: Context): Outcome {
//       const orgs = cx.lookup("org");        // the manifest's [[lookup]] `as`
//       const w = new Writer(doc.len);
//       w.appendAll(doc);
//       cx.upsert("copies", w);                // one of the manifest's `outputs`
//       return keep();
//     }
//     setTransformV2("copy_out", copyOut);
//
// `mongoshift build` puts this file beside mongoshift.ts.
import { ARRAY, DOCUMENT, Doc, Elem, Outcome, Writer, atDocument, newResult, outcomeSize, setContract, writeOutcome } from "./mongoshift";

/** One write to another collection. */
export class Output {
  constructor(public op: u8, public collection: ArrayBuffer, public doc: Writer) {}
}

/** What a version-2 transform sees of one input document besides the
 * document (its lookups) and what it writes besides its outcome (its outputs,
 * in the order emitted; dropped if the outcome is a fail, since a document
 * that fails writes nothing). */
export class Context {
  outputs: Array<Output> = new Array<Output>();

  constructor(public lookups: Doc) {}

  /** The documents the lookup named `as` matched, in the order the host gave
   * them (pointing into the batch: valid during the call); none if it matched
   * nothing or the manifest declares no such lookup. */
  lookup(as: string): Array<Doc> {
    const found = new Array<Doc>();
    const e = this.lookups.find(as);
    if (e === null) return found;
    // The host sends arrays of documents only: anything else is a bug.
    if (e.type != ARRAY) unreachable();
    const list = new Doc(e.value, e.valueLen);
    const m = new Elem();
    let at = list.first();
    while ((at = list.next(at, m)) != 0) {
      if (m.type != DOCUMENT) unreachable();
      found.push(new Doc(m.value, m.valueLen));
    }
    return found;
  }

  /** Inserts the document `w` built (with an `_id`) into `collection`
   * (`name` or `database.name`, one of the manifest's `outputs`). */
  insert(collection: string, w: Writer): void {
    this.emit(0, collection, w);
  }

  /** Replaces the document of `collection` with `w`'s `_id`, or inserts it. */
  upsert(collection: string, w: Writer): void {
    this.emit(1, collection, w);
  }

  /** Deletes the document of `collection` whose `_id` is `id`'s value (any
   * element: its key does not matter). */
  delete(collection: string, id: Elem): void {
    const w = new Writer(<i32>id.valueLen + 16);
    w.appendAs("_id", id);
    this.emit(2, collection, w);
  }

  private emit(op: u8, collection: string, w: Writer): void {
    w.finish();
    this.outputs.push(new Output(op, String.UTF8.encode(collection), w));
  }
}

function noBackward(doc: Doc, cx: Context): Outcome {
  unreachable();
  return changetype<Outcome>(0);
}

let forwardFn: (doc: Doc, cx: Context) => Outcome = noBackward;
let backwardFn: (doc: Doc, cx: Context) => Outcome = noBackward;

/** Registers a version-2 transform (call once, at the top level of index.ts,
 * instead of setTransform): `forward(doc, cx)` (and `backward`) return the
 * document's outcome and emit its outputs through `cx`. */
export function setTransformV2(name: string, forward: (doc: Doc, cx: Context) => Outcome, backward: ((doc: Doc, cx: Context) => Outcome) | null = null): void {
  forwardFn = forward;
  if (backward !== null) backwardFn = backward;
  setContract(2, name, backward !== null, runV2);
}

// Kept global while a batch runs, so the collector sees them.
let outcomes = new Array<Outcome>();
let contexts = new Array<Context>();

function runV2(direction: i32, ptr: usize, len: u32): usize {
  const f = direction == 0 ? forwardFn : backwardFn;
  const end = ptr + len;
  let size: usize = 8;
  let at = ptr;
  atDocument(-1);
  while (at < end) {
    const n = load<u32>(at);
    atDocument(outcomes.length);
    const cx = new Context(new Doc(at + n, load<u32>(at + n)));
    const o = f(new Doc(at, n), cx);
    if (o.tag == 3) cx.outputs = new Array<Output>();
    outcomes.push(o);
    contexts.push(cx);
    size += outcomeSize(o) + 4;
    for (let k = 0; k < cx.outputs.length; k++) {
      const out = cx.outputs[k];
      size += 9 + <usize>out.collection.byteLength + <usize>out.doc.len;
    }
    at += n + load<u32>(at + n);
  }
  const res = newResult(size);
  store<u32>(res, <u32>(size - 4));
  store<u32>(res + 4, outcomes.length);
  let p = res + 8;
  for (let i = 0; i < outcomes.length; i++) {
    p = writeOutcome(p, outcomes[i]);
    const outs = contexts[i].outputs;
    store<u32>(p, outs.length);
    p += 4;
    for (let k = 0; k < outs.length; k++) {
      const o = outs[k];
      const c = <u32>o.collection.byteLength;
      store<u8>(p, o.op);
      store<u32>(p + 1, c);
      memory.copy(p + 5, changetype<usize>(o.collection), c);
      p += 5 + c;
      store<u32>(p, <u32>o.doc.len);
      memory.copy(p + 4, changetype<usize>(o.doc.buf), <usize>o.doc.len);
      p += 4 + <usize>o.doc.len;
    }
  }
  outcomes = new Array<Outcome>();
  contexts = new Array<Context>();
  return res;
}
