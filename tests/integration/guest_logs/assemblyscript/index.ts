import { Doc, Outcome, ERROR, WARN, fail, keep, log, setTransform } from "./mongoshift";
export { mongoshift_contract_version, mongoshift_alloc, mongoshift_describe, mongoshift_transform } from "./mongoshift";

function check(doc: Doc): Outcome {
  log(WARN, "checking");
  if (doc.find("boom") !== null) throw new Error("boom in document");
  if (doc.find("bad") !== null) {
    log(ERROR, "bad field");
    return fail("bad document");
  }
  return keep();
}
setTransform("logs", check);
