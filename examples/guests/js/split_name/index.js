// The reference transform in JavaScript, byte for byte the same as the Rust
// guest in migrations/20260110090000_split_name: split `name` "First Last"
// into `first_name`/`last_name` (where `name` was), set `status` to "active",
// parse `signup` "YYYY-MM-DD" into a date (in place). `joinName` is its inverse.
import { DATETIME, STRING, Writer, defineTransform, fail, formatYmd, keep, parseYmd, quote, replace } from "./mongoshift.js";

function splitName(doc) {
  const out = new Writer(doc.bytes.length + 48);
  let named = false;
  let statusSeen = false;
  let badSignup;
  for (const e of doc) {
    if (e.key === "name" && e.type === STRING) {
      const name = e.asString();
      const sp = name.indexOf(" ");
      out.appendString("first_name", sp < 0 ? name : name.slice(0, sp));
      out.appendString("last_name", sp < 0 ? "" : name.slice(sp + 1));
      named = true;
    } else if (e.key === "signup" && e.type === STRING) {
      const s = e.asString();
      const millis = parseYmd(s);
      if (millis === undefined) badSignup = s;
      else out.appendDatetime("signup", millis);
    } else if (e.key === "status") {
      out.appendString("status", "active");
      statusSeen = true;
    } else {
      out.append(e);
    }
  }
  if (!named) return keep();
  if (badSignup !== undefined) return fail(`field \`signup\`: ${quote(badSignup)} is not a date in the form YYYY-MM-DD`);
  if (!statusSeen) out.appendString("status", "active");
  return replace(out.finish());
}

function joinName(doc) {
  const first = doc.get("first_name");
  const last = doc.get("last_name");
  if (first?.type !== STRING || last?.type !== STRING) return keep();
  const l = last.asString();
  const name = l === "" ? first.asString() : `${first.asString()} ${l}`;
  const out = new Writer(doc.bytes.length);
  for (const e of doc) {
    if (e.key === "first_name") out.appendString("name", name);
    else if (e.key === "last_name" || e.key === "status") continue;
    else if (e.key === "signup" && e.type === DATETIME) out.appendString("signup", formatYmd(e.asDatetime()));
    else out.append(e);
  }
  return replace(out.finish());
}

export const { describe, transform } = defineTransform("split_name", splitName, joinName);
