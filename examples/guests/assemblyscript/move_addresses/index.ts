// The cross-collection reference transform in AssemblyScript (contract
// version 2), byte for byte the same as the Rust guest in
// migrations/20260301000000_move_addresses: each `users.addresses[i]` becomes
// a document of `addresses`, {_id: "<user _id>-<i>", user_id: <user _id>, i,
// ...the address's fields}, and the user is replaced without `addresses`.
// `gatherAddresses` is its inverse: it reads a user's address documents
// through the manifest's lookup, puts them back in order of `i` and deletes them.
import { ARRAY, DOCUMENT, Doc, Elem, INT32, INT64, NULL, OBJECT_ID, Outcome, STRING, Writer, fail, keep, replace, typeName } from "./mongoshift";
import { Context, setTransformV2 } from "./mongoshift_v2";
export { mongoshift_contract_version, mongoshift_alloc, mongoshift_describe, mongoshift_transform } from "./mongoshift";

const ADDRESSES = "addresses";

/** Fields of a moved address that are the move's own. */
const OWN: string[] = ["_id", "user_id", "i"];

function isOwn(e: Elem): bool {
  for (let k = 0; k < OWN.length; k++) if (e.keyIs(OWN[k])) return true;
  return false;
}

/** The user's `_id` as the prefix of its addresses' `_id`s, or null for a
 * type that cannot name them. */
function idText(id: Elem): string | null {
  if (id.type == OBJECT_ID) {
    let hex = "";
    for (let i: u32 = 0; i < 12; i++) {
      const b = load<u8>(id.value + i);
      hex += (b < 16 ? "0" : "") + b.toString(16);
    }
    return hex;
  }
  if (id.type == STRING) return id.asString();
  if (id.type == INT32) return id.asInt32().toString();
  if (id.type == INT64) return id.asInt64().toString();
  return null;
}

function moveAddresses(user: Doc, cx: Context): Outcome {
  const addresses = user.find("addresses");
  if (addresses === null) return keep();
  if (addresses.type != ARRAY) return fail("field `addresses`: " + typeName(addresses.type) + ", not an array");
  const list = new Doc(addresses.value, addresses.valueLen);
  if (list.len <= 5) return keep();
  let id = user.find("_id");
  if (id === null) {
    id = new Elem();
    id.type = NULL;
  }
  const prefix = idText(id);
  if (prefix === null) return fail("field `_id`: a " + typeName(id.type) + " _id cannot name the address documents");
  const a = new Elem();
  let at = list.first();
  for (let i = 0; (at = list.next(at, a)) != 0; i++) {
    if (a.type != DOCUMENT) return fail("field `addresses." + i.toString() + "`: not a document");
    const address = new Doc(a.value, a.valueLen);
    for (let k = 0; k < OWN.length; k++) {
      if (address.find(OWN[k]) !== null) {
        return fail("field `addresses." + i.toString() + "." + OWN[k] + "`: the moved document uses this name itself");
      }
    }
    const moved = new Writer(<i32>address.len + 64);
    moved.appendString("_id", prefix + "-" + i.toString());
    moved.appendAs("user_id", id);
    moved.appendInt32("i", i);
    moved.appendAll(address);
    cx.insert(ADDRESSES, moved);
  }
  const out = new Writer(<i32>user.len);
  const e = new Elem();
  at = user.first();
  while ((at = user.next(at, e)) != 0) if (!e.keyIs("addresses")) out.append(e);
  return replace(out);
}

/** A moved address's `i`; one without an int32 `i` sorts last (as the Rust
 * guest's `unwrap_or(i32::MAX)`). */
function orderOf(d: Doc): i32 {
  const i = d.find("i");
  return i !== null && i.type == INT32 ? i.asInt32() : i32.MAX_VALUE;
}

/** Puts a user's address documents back into `addresses`, in order, and
 * deletes them. */
function gatherAddresses(user: Doc, cx: Context): Outcome {
  const found = cx.lookup(ADDRESSES);
  if (found.length == 0) return keep();
  if (user.find("addresses") !== null) {
    return fail("field `addresses`: the user has it already, and " + found.length.toString() + " address documents too; remove one or the other");
  }
  // Insertion sort: stable, as the Rust guest's sort_by_key.
  const moved = new Array<Doc>();
  for (let k = 0; k < found.length; k++) {
    const d = found[k];
    const key = orderOf(d);
    let j = moved.length;
    moved.push(d);
    while (j > 0 && orderOf(moved[j - 1]) > key) {
      moved[j] = moved[j - 1];
      j--;
    }
    moved[j] = d;
  }
  const list = new Writer(256);
  for (let k = 0; k < moved.length; k++) {
    const d = moved[k];
    const id = d.find("_id");
    if (id === null) return fail("an address document has no _id");
    const back = new Writer(<i32>d.len);
    const e = new Elem();
    let at = d.first();
    while ((at = d.next(at, e)) != 0) if (!isOwn(e)) back.append(e);
    back.finish();
    cx.delete(ADDRESSES, id);
    list.appendDocument(k.toString(), back);
  }
  list.finish();
  const out = new Writer(<i32>user.len + list.len + 16);
  out.appendAll(user);
  out.appendArray("addresses", list);
  return replace(out);
}

setTransformV2("move_addresses", moveAddresses, gatherAddresses);
