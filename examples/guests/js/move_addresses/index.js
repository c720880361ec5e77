// The cross-collection reference transform in JavaScript (contract version
// 2), byte for byte the same as the Rust guest in
// migrations/20260301000000_move_addresses: each `users.addresses[i]` becomes
// a document of `addresses`, {_id: "<user _id>-<i>", user_id: <user _id>, i,
// ...the address's fields}, and the user is replaced without `addresses`.
// `gatherAddresses` is its inverse: it reads a user's address documents
// through the manifest's lookup, puts them back in order of `i` and deletes them.
import { ARRAY, DOCUMENT, INT32, INT64, NULL, OBJECT_ID, STRING, Doc, Elem, Writer, defineTransformV2, fail, keep, replace, typeName } from "./mongoshift.js";

const ADDRESSES = "addresses";

/** Fields of a moved address that are the move's own. */
const OWN = ["_id", "user_id", "i"];

/** The user's `_id` as the prefix of its addresses' `_id`s, or undefined for
 * a type that cannot name them. */
function idText(id) {
  if (id.type === OBJECT_ID) return Array.from(id.raw, (b) => b.toString(16).padStart(2, "0")).join("");
  if (id.type === STRING) return id.asString();
  if (id.type === INT32 || id.type === INT64) return String(id.asInt());
  return undefined;
}

function moveAddresses(user, cx) {
  const addresses = user.get("addresses");
  if (addresses === undefined) return keep();
  if (addresses.type !== ARRAY) return fail(`field \`addresses\`: ${typeName(addresses.type)}, not an array`);
  const list = [...new Doc(addresses.raw)];
  if (list.length === 0) return keep();
  const id = user.get("_id") ?? new Elem("_id", NULL, new Uint8Array(0));
  const prefix = idText(id);
  if (prefix === undefined) return fail(`field \`_id\`: a ${typeName(id.type)} _id cannot name the address documents`);
  for (const [i, a] of list.entries()) {
    if (a.type !== DOCUMENT) return fail(`field \`addresses.${i}\`: not a document`);
    const address = new Doc(a.raw);
    const own = OWN.find((k) => address.get(k) !== undefined);
    if (own !== undefined) return fail(`field \`addresses.${i}.${own}\`: the moved document uses this name itself`);
    const moved = new Writer(a.raw.length + 64);
    moved.appendString("_id", `${prefix}-${i}`);
    moved.append(id, "user_id");
    moved.appendInt32("i", i);
    moved.appendAll(address);
    cx.insert(ADDRESSES, moved.finish());
  }
  const out = new Writer(user.bytes.length);
  for (const e of user) if (e.key !== "addresses") out.append(e);
  return replace(out.finish());
}

/** A moved address's `i`; one without an int32 `i` sorts last (as the Rust
 * guest's `unwrap_or(i32::MAX)`). */
function orderOf(d) {
  const i = d.get("i");
  return i?.type === INT32 ? i.asInt() : 2147483647;
}

/** Puts a user's address documents back into `addresses`, in order, and
 * deletes them. */
function gatherAddresses(user, cx) {
  const moved = cx.lookup(ADDRESSES);
  if (moved.length === 0) return keep();
  if (user.get("addresses") !== undefined) {
    return fail(`field \`addresses\`: the user has it already, and ${moved.length} address documents too; remove one or the other`);
  }
  // Array.prototype.sort is stable, as the Rust guest's sort_by_key.
  moved.sort((a, b) => orderOf(a) - orderOf(b));
  const list = new Writer();
  for (const [k, d] of moved.entries()) {
    const id = d.get("_id");
    if (id === undefined) return fail("an address document has no _id");
    const back = new Writer(d.bytes.length);
    for (const e of d) if (!OWN.includes(e.key)) back.append(e);
    cx.delete(ADDRESSES, id);
    list.appendDocument(String(k), back.finish());
  }
  const out = new Writer(user.bytes.length + list.len + 16);
  out.appendAll(user);
  out.appendArray("addresses", list.finish());
  return replace(out.finish());
}

export const { describe, transform } = defineTransformV2("move_addresses", moveAddresses, gatherAddresses);
