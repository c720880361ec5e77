// The reference transform in AssemblyScript, byte for byte the same as the
// Rust guest in migrations/20260110090000_split_name: split `name` "First Last"
// into `first_name`/`last_name` (where `name` was), set `status` to "active",
// parse `signup` "YYYY-MM-DD" into a date (in place). `joinName` is its inverse.
import { DATETIME, Doc, Elem, Outcome, Writer, fail, formatYmd, keep, parseYmd, parsedOk, quote, replace, setTransform } from "./mongoshift";
export { mongoshift_contract_version, mongoshift_alloc, mongoshift_describe, mongoshift_transform } from "./mongoshift";

function splitName(doc: Doc): Outcome {
  const out = new Writer(doc.len + 48);
  let named = false;
  let statusSeen = false;
  let badSignup: string | null = null;
  const e = new Elem();
  let at = doc.first();
  while ((at = doc.next(at, e)) != 0) {
    if (e.keyIs("name") && e.isString()) {
      const name = e.asString();
      const sp = name.indexOf(" ");
      out.appendString("first_name", sp < 0 ? name : name.substring(0, sp));
      out.appendString("last_name", sp < 0 ? "" : name.substring(sp + 1));
      named = true;
    } else if (e.keyIs("signup") && e.isString()) {
      const s = e.asString();
      const millis = parseYmd(s);
      if (parsedOk) out.appendDatetime("signup", millis);
      else badSignup = s;
    } else if (e.keyIs("status")) {
      out.appendString("status", "active");
      statusSeen = true;
    } else {
      out.append(e);
    }
  }
  if (!named) return keep();
  if (badSignup !== null) return fail("field `signup`: " + quote(badSignup) + " is not a date in the form YYYY-MM-DD");
  if (!statusSeen) out.appendString("status", "active");
  return replace(out);
}

function joinName(doc: Doc): Outcome {
  const first = doc.find("first_name");
  const last = doc.find("last_name");
  if (first === null || last === null || !first.isString() || !last.isString()) return keep();
  const l = last.asString();
  const name = l.length == 0 ? first.asString() : first.asString() + " " + l;
  const out = new Writer(doc.len);
  const e = new Elem();
  let at = doc.first();
  while ((at = doc.next(at, e)) != 0) {
    if (e.keyIs("first_name")) out.appendString("name", name);
    else if (e.keyIs("last_name") || e.keyIs("status")) continue;
    else if (e.keyIs("signup") && e.type == DATETIME) out.appendString("signup", formatYmd(e.asDatetime()));
    else out.append(e);
  }
  return replace(out);
}

setTransform("split_name", splitName, joinName);
