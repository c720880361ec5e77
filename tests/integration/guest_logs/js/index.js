import { ERROR, WARN, defineTransform, fail, keep, log } from "./mongoshift.js";

function check(doc) {
  log(WARN, "checking");
  console.log("printed line");
  if (doc.get("boom") !== undefined) throw new Error("boom in document");
  if (doc.get("bad") !== undefined) {
    log(ERROR, "bad field");
    return fail("bad document");
  }
  return keep();
}
export const { describe, transform } = defineTransform("logs", check);
