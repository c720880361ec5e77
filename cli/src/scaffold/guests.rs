//! Guest templates for `mongoshift new --kind wasm --lang <c|assemblyscript|js|python>`:
//! a transform that sets `status` to "active" where it is missing (and its
//! backward that removes it), the language's helper beside it, a build file and
//! a README line. `mongoshift build` compiles them as they are.

use crate::build::{languages, Language};

/// The files of a guest in `language` (not Rust: see `new_wasm_migration`).
pub(crate) fn files(language: Language, module: &str) -> Vec<(&'static str, String)> {
    let helpers = |h: &[(&'static str, &str)]| {
        h.iter()
            .map(|(n, t)| (*n, t.to_string()))
            .collect::<Vec<_>>()
    };
    let readme = |tool: &str, file: &str| {
        format!(
            "Edit `{file}`, then run `mongoshift build` to compile it into `../{module}` ({tool}; \
             `scripts/install-guest-tools` in the mongoshift checkout installs it).\n"
        )
    };
    match language {
        Language::Rust => vec![],
        Language::C => [
            vec![("transform.c", C.to_string())],
            helpers(&languages::C_HEADERS),
            vec![(
                "Makefile",
                format!(
                    "# `mongoshift build` runs the same command. zig comes from PyPI (`pip install ziglang`).\n\
                     ZIG ?= python3 -m ziglang\n\n\
                     ../{module}: *.c *.h\n\
                     \t$(ZIG) cc -target wasm32-freestanding -O2 -s -Wl,--no-entry -I. -o $@ *.c\n"
                ),
            ),
            ("README.md", readme("with zig", "transform.c"))],
        ]
        .concat(),
        Language::AssemblyScript => [
            vec![("index.ts", ASSEMBLYSCRIPT.to_string())],
            helpers(&languages::AS_LIBRARIES),
            vec![(
                "asconfig.json",
                "{\n  \"entries\": [\"index.ts\"],\n  \"options\": {\n    \"runtime\": \"incremental\",\n    \"optimizeLevel\": 3,\n    \"shrinkLevel\": 0,\n    \"noAssert\": true\n  }\n}\n".into(),
            ),
            (
                "package.json",
                "{\n  \"private\": true,\n  \"devDependencies\": {\n    \"assemblyscript\": \"0.28.20\"\n  }\n}\n".into(),
            ),
            ("README.md", readme("with asc from npm `assemblyscript`", "index.ts"))],
        ]
        .concat(),
        Language::JavaScript => vec![
            ("index.js", JS.to_string()),
            ("mongoshift.js", languages::JS_LIBRARY.to_string()),
            (
                "package.json",
                "{\n  \"private\": true,\n  \"type\": \"module\",\n  \"devDependencies\": {\n    \"@bytecodealliance/componentize-js\": \"0.23.0\",\n    \"@bytecodealliance/preview2-shim\": \"0.25.0\",\n    \"esbuild\": \"0.28.2\"\n  }\n}\n".into(),
            ),
            (
                "README.md",
                readme("with esbuild and componentize-js from npm", "index.js"),
            ),
        ],
        Language::Python => vec![
            ("app.py", PYTHON.to_string()),
            ("mongoshift.py", languages::PY_LIBRARY.to_string()),
            (
                "README.md",
                readme("with componentize-py from PyPI", "app.py"),
            ),
        ],
    }
}

const C: &str = r#"/* The transform of this migration. `mongoshift build` compiles it to Wasm. */
#include "mongoshift.h"

/* Called once per document: return ms_keep(), ms_replace(doc), ms_delete()
 * or ms_fail("why"). */
static ms_outcome forward(ms_doc doc) {
    ms_elem e;
    if (ms_find(doc, "status", &e)) return ms_keep();
    ms_writer w = ms_writer_new(doc.len + 32);
    ms_append_all(&w, doc);
    ms_append_str(&w, "status", "active", 6);
    return ms_replace(ms_writer_finish(&w));
}

/* What `mongoshift down` runs. */
static ms_outcome backward(ms_doc doc) {
    ms_elem e;
    if (!ms_find(doc, "status", &e)) return ms_keep();
    ms_writer w = ms_writer_new(doc.len);
    ms_iter it = ms_iter_begin(doc);
    while (ms_next(&it, &e))
        if (!ms_key_is(&e, "status")) ms_append(&w, &e);
    return ms_replace(ms_writer_finish(&w));
}

MONGOSHIFT_TRANSFORM("add_status", forward, backward)
"#;

const ASSEMBLYSCRIPT: &str = r#"// The transform of this migration. `mongoshift build` compiles it to Wasm.
import { Doc, Elem, Outcome, Writer, keep, replace, setTransform } from "./mongoshift";
export { mongoshift_contract_version, mongoshift_alloc, mongoshift_describe, mongoshift_transform } from "./mongoshift";

// Called once per document: return keep(), replace(writer), del() or fail("why").
function forward(doc: Doc): Outcome {
  if (doc.find("status") !== null) return keep();
  const w = new Writer(doc.len + 32);
  w.appendAll(doc);
  w.appendString("status", "active");
  return replace(w);
}

// What `mongoshift down` runs.
function backward(doc: Doc): Outcome {
  if (doc.find("status") === null) return keep();
  const w = new Writer(doc.len);
  const e = new Elem();
  let at = doc.first();
  while ((at = doc.next(at, e)) != 0) {
    if (!e.keyIs("status")) w.append(e);
  }
  return replace(w);
}

setTransform("add_status", forward, backward);
"#;

const JS: &str = r#"// The transform of this migration. `mongoshift build` compiles it to Wasm.
import { Writer, defineTransform, keep, replace } from "./mongoshift.js";

// Called once per document: return keep(), replace(bytes), del() or fail("why").
function forward(doc) {
  if (doc.get("status")) return keep();
  const w = new Writer(doc.bytes.length + 32);
  w.appendAll(doc);
  w.appendString("status", "active");
  return replace(w.finish());
}

// What `mongoshift down` runs.
function backward(doc) {
  if (!doc.get("status")) return keep();
  const w = new Writer(doc.bytes.length);
  for (const e of doc) if (e.key !== "status") w.append(e);
  return replace(w.finish());
}

export const { describe, transform } = defineTransform("add_status", forward, backward);
"#;

const PYTHON: &str = r#""""The transform of this migration. `mongoshift build` compiles it to Wasm."""
from mongoshift import Doc, Writer, export, keep, replace


def forward(doc: Doc):
    """Called once per document: return keep(), replace(bytes), delete() or fail("why")."""
    if doc.get("status") is not None:
        return keep()
    w = Writer()
    w.append_all(doc)
    w.append_str("status", "active")
    return replace(w.finish())


def backward(doc: Doc):
    """What `mongoshift down` runs."""
    if doc.get("status") is None:
        return keep()
    w = Writer()
    for e in doc:
        if e.key != "status":
            w.append(e)
    return replace(w.finish())


WitWorld = export("add_status", forward, backward=backward)
"#;
