//! Every language's date helpers agree with the Rust SDK's: a tiny guest per
//! language parses dates through its helper's `parse_date`.

use bson::{doc, RawDocumentBuf};
use mongoshift::progress::Direction;
use mongoshift::wasm::{Outcome, SandboxLimits, TransformModule};

use crate::languages::{bin_cmd, raw, run, show, LANGUAGES};

/// A guest per language that parses `v` with the strftime-like format `f`
/// through its helper's `parse_date`: `{_id, ms: <date>}` or a fail.
fn date_guest(lang: &str) -> (&'static str, String) {
    match lang {
        "c" => ("dates.c", r#"#include "mongoshift.h"
static ms_outcome parse(ms_doc doc) {
    ms_elem v, f, id;
    const char *vs, *fs;
    uint32_t vn, fn;
    if (!ms_find(doc, "v", &v) || !ms_as_str(&v, &vs, &vn) || !ms_find(doc, "f", &f) ||
        !ms_as_str(&f, &fs, &fn) || !ms_find(doc, "_id", &id))
        return ms_fail("bad fixture");
    char format[64];
    for (uint32_t i = 0; i <= fn; i++) format[i] = i < fn ? fs[i] : 0;
    int64_t ms;
    if (!ms_parse_date(vs, vn, format, &ms)) return ms_fail("no date");
    ms_writer w = ms_writer_new(64);
    ms_append(&w, &id);
    ms_append_datetime(&w, "ms", ms);
    return ms_replace(ms_writer_finish(&w));
}
MONGOSHIFT_TRANSFORM("dates", parse, 0)
"#.into()),
        "assemblyscript" => ("index.ts", r#"import { Doc, Outcome, Writer, fail, parseDate, parsedOk, replace, setTransform } from "./mongoshift";
export { mongoshift_contract_version, mongoshift_alloc, mongoshift_describe, mongoshift_transform } from "./mongoshift";
function parse(doc: Doc): Outcome {
  const ms = parseDate(doc.find("v")!.asString(), doc.find("f")!.asString());
  if (!parsedOk) return fail("no date");
  const w = new Writer(64);
  w.append(doc.find("_id")!);
  w.appendDatetime("ms", ms);
  return replace(w);
}
setTransform("dates", parse);
"#.into()),
        "js" => ("index.js", r#"import { Writer, defineTransform, fail, parseDate, replace } from "./mongoshift.js";
function parse(doc) {
  const ms = parseDate(doc.get("v").asString(), doc.get("f").asString());
  if (ms === undefined) return fail("no date");
  const w = new Writer();
  w.append(doc.get("_id"));
  w.appendDatetime("ms", ms);
  return replace(w.finish());
}
export const { describe, transform } = defineTransform("dates", parse);
"#.into()),
        _ => ("app.py", r#"from mongoshift import Writer, export, fail, parse_date, replace

def parse(doc):
    ms = parse_date(doc.get("v").as_str(), doc.get("f").as_str())
    if ms is None:
        return fail("no date")
    w = Writer()
    w.append(doc.get("_id"))
    w.append_datetime("ms", ms)
    return replace(w.finish())

WitWorld = export("dates", parse)
"#.into()),
    }
}

/// Every language's `parse_date` agrees with the Rust SDK's
/// `helpers::parse_date` on good and bad dates and formats.
#[test]
fn every_language_parses_dates_like_the_rust_helper() {
    let cases: &[(&str, &str)] = &[
        ("2024-02-29", "%Y-%m-%d"),
        ("2023-02-29", "%Y-%m-%d"),
        ("1900-02-29", "%Y-%m-%d"),
        ("2000-02-29", "%Y-%m-%d"),
        ("0000-01-01", "%Y-%m-%d"),
        ("9999-12-31 23:59:59", "%Y-%m-%d %H:%M:%S"),
        ("2024-06-01 24:00:00", "%Y-%m-%d %H:%M:%S"),
        ("2024-06-01 12:60:00", "%Y-%m-%d %H:%M:%S"),
        ("2024-06-01 12:00:60", "%Y-%m-%d %H:%M:%S"),
        ("31/12/1969", "%d/%m/%Y"),
        ("100% 2024", "100%% %Y"),
        ("2024-06-01T10:20:30Z", "%Y-%m-%dT%H:%M:%SZ"),
        ("2024-06-01T10:20:30", "%Y-%m-%dT%H:%M:%SZ"),
        ("2024-06-01 extra", "%Y-%m-%d"),
        ("2024-6-01", "%Y-%m-%d"),
        ("2024-00-10", "%Y-%m-%d"),
        ("2024-04-31", "%Y-%m-%d"),
        ("+024-01-01", "%Y-%m-%d"),
        ("2024-01-01", "%Y-%m-%q"),
        ("", "%Y"),
        ("2024", ""),
        ("", ""),
    ];
    let docs: Vec<RawDocumentBuf> = cases
        .iter()
        .enumerate()
        .map(|(i, (v, f))| raw(doc! { "_id": i as i32, "v": *v, "f": *f }))
        .collect();
    let want: Vec<Outcome> = cases
        .iter()
        .enumerate()
        .map(
            |(i, (v, f))| match mongoshift_guest::helpers::parse_date(v, f) {
                Some(d) => Outcome::Replace(raw(doc! { "_id": i as i32, "ms": d }).into_bytes()),
                None => Outcome::Fail("no date".into()),
            },
        )
        .collect();
    assert!(want.iter().any(|o| matches!(o, Outcome::Fail(_))));
    assert!(
        want.iter()
            .filter(|o| matches!(o, Outcome::Replace(_)))
            .count()
            >= 6
    );
    let tmp = tempfile::tempdir().expect("tempdir");
    for lang in LANGUAGES {
        let dir = tmp.path().join(lang);
        std::fs::create_dir_all(&dir).expect("mkdir");
        let (file, source) = date_guest(lang);
        std::fs::write(dir.join(file), source).expect("write");
        std::fs::write(
            dir.join("migration.toml"),
            "description = \"dates\"\nkind = \"wasm\"\ncollection = \"users\"\nmodule = \"dates.wasm\"\nbuild = \".\"\n",
        )
        .expect("write");
        if lang == "assemblyscript" {
            std::fs::write(dir.join("asconfig.json"), "{}\n").expect("write");
        }
        bin_cmd().arg("build").arg(&dir).assert().success();
        let module = TransformModule::load(&dir.join("dates.wasm"), SandboxLimits::default())
            .unwrap_or_else(|e| panic!("{lang}: {e}"));
        let got = run(&module, Direction::Up, &docs, docs.len());
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!(
                g == w,
                "{lang}: {:?}: {} vs rust {}",
                cases[i],
                show(g),
                show(w)
            );
        }
    }
}
