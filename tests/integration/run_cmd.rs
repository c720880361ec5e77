//! `mongoshift run ID --input FILE`: a transform on the documents of a file
//! (Extended JSON lines, a JSON array, a BSON dump told apart by content),
//! each outcome an Extended JSON line; bad files named with the line or
//! document at fault. No database: the connection string points nowhere.

use crate::fixtures_cmd::Project;
use crate::wat::{counter, guest};

const COUNT: &str = "20260101000000_count";

fn counting() -> Project {
    let p = Project::new();
    p.write(&format!("{COUNT}/guest.wat"), &counter(true, Some(3)));
    p.write(
        &format!("{COUNT}/migration.toml"),
        "kind = \"wasm\"\ncollection = \"users\"\nmodule = \"guest.wat\"\n",
    );
    p
}

fn bson_dump(docs: &[bson::Document]) -> Vec<u8> {
    let mut out = Vec::new();
    for d in docs {
        d.to_writer(&mut out).expect("bson");
    }
    out
}

#[test]
fn json_lines_print_one_outcome_line_per_document() {
    let p = counting();
    let input = p.write(
        "in.jsonl",
        "{\"_id\": 1, \"n\": 1}\n\n{\"_id\": 3, \"n\": 1}\n{\"_id\": 4, \"n\": {\"$numberInt\": \"41\"}}\n",
    );
    let (code, stdout, stderr) = p.run(&["run", COUNT, "--input", &input.display().to_string()]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        vec![
            r#"{"document":1,"_id":1,"outcome":"replace","replacement":{"_id":1,"n":2}}"#,
            r#"{"document":2,"_id":3,"outcome":"fail","message":"this document cannot be migrated"}"#,
            r#"{"document":3,"_id":4,"outcome":"replace","replacement":{"_id":4,"n":42}}"#,
        ]
    );
    assert!(
        stderr.contains("3 documents: 0 kept, 2 replaced, 0 deleted, 1 failed"),
        "{stderr}"
    );
}

#[test]
fn an_array_runs_backward_into_an_output_file_in_canonical_form() {
    let p = counting();
    let input = p.write("in.json", r#"[{"_id": 1, "n": 1}, {"_id": 2, "n": 5}]"#);
    let output = p.dir.path().join("out.jsonl");
    let (code, stdout, stderr) = p.run(&[
        "run",
        COUNT,
        "--input",
        &input.display().to_string(),
        "--output",
        &output.display().to_string(),
        "--direction",
        "backward",
        "--canonical",
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    let written = std::fs::read_to_string(&output).expect("output file");
    assert_eq!(
        written.lines().collect::<Vec<_>>(),
        vec![
            r#"{"document":{"$numberLong":"1"},"_id":{"$numberInt":"1"},"outcome":"replace","replacement":{"_id":{"$numberInt":"1"},"n":{"$numberInt":"0"}}}"#,
            r#"{"document":{"$numberLong":"2"},"_id":{"$numberInt":"2"},"outcome":"replace","replacement":{"_id":{"$numberInt":"2"},"n":{"$numberInt":"4"}}}"#,
        ]
    );
}

#[test]
fn a_bson_dump_is_read_by_its_content_whatever_its_name() {
    let p = counting();
    let dump = bson_dump(&[
        bson::doc! { "_id": 1, "n": 7 },
        bson::doc! { "_id": 2, "n": 8 },
    ]);
    for name in ["users.bson", "users.json"] {
        let input = p.migrations().join(name);
        std::fs::write(&input, &dump).expect("write dump");
        let (code, stdout, stderr) =
            p.run(&["run", COUNT, "--input", &input.display().to_string()]);
        assert_eq!(code, 0, "{name}: {stdout}{stderr}");
        assert!(
            stdout.contains(r#""replacement":{"_id":1,"n":8}"#)
                && stdout.contains(r#""replacement":{"_id":2,"n":9}"#),
            "{name}: {stdout}"
        );
    }
}

#[test]
fn bad_input_files_name_the_file_and_the_line_or_document() {
    let p = counting();
    let mut truncated = bson_dump(&[
        bson::doc! { "_id": 1, "n": 7 },
        bson::doc! { "_id": 2, "n": 8 },
    ]);
    truncated.truncate(truncated.len() - 3);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "lines.jsonl",
            b"{\"_id\": 1}\n{\"_id\": 2,,}\n".to_vec(),
            "line 2",
        ),
        (
            "noid.jsonl",
            b"{\"_id\": 1}\n\n{\"n\": 2}\n".to_vec(),
            "line 3: the document has no _id",
        ),
        (
            "array.json",
            b"[{\"_id\": 1}, 7]".to_vec(),
            "document 2 of the array: expected a document, found a number",
        ),
        (
            "ext.jsonl",
            b"{\"_id\": {\"$oid\": \"nope\"}}".to_vec(),
            "line 1: invalid Extended JSON",
        ),
        (
            "dump.bson",
            truncated,
            "document 2 (byte 21): its length 21 runs past the end of the file",
        ),
        (
            "text.txt",
            b"hello".to_vec(),
            "neither Extended JSON (documents one a line, or an array) nor a BSON dump",
        ),
    ];
    for (name, bytes, want) in cases {
        let input = p.migrations().join(name);
        std::fs::write(&input, bytes).expect("write");
        let (code, stdout, stderr) =
            p.run(&["run", COUNT, "--input", &input.display().to_string()]);
        assert_eq!(code, 8, "{name}: {stdout}{stderr}");
        assert!(
            stderr.contains(&format!("invalid input file {}", input.display()))
                && stderr.contains(want),
            "{name}: {want}\n{stderr}"
        );
    }
}

#[test]
fn a_trap_is_an_error_line_and_a_failed_exit_and_other_mistakes_are_named() {
    let p = counting();
    p.write(
        "20260102000000_trap/guest.wat",
        &guest(1, false, "", "(unreachable)"),
    );
    p.write(
        "20260102000000_trap/migration.toml",
        "kind = \"wasm\"\ncollection = \"users\"\nmodule = \"guest.wat\"\n",
    );
    p.write(
        "20260103000000_flag.toml",
        "kind = \"update\"\ncollection = \"users\"\n[[forward]]\nop = \"update_many\"\nfilter = {}\nupdate = { \"$set\" = { flag = 1 } }\n",
    );
    let input = p.write("in.jsonl", "{\"_id\": 1, \"n\": 1}\n");
    let input = input.display().to_string();
    let (code, stdout, stderr) = p.run(&["run", "20260102000000_trap", "--input", &input]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(
        stdout.starts_with(r#"{"document":1,"_id":1,"outcome":"error","message":""#)
            && stdout.contains("trap"),
        "{stdout}"
    );
    assert!(stderr.contains("1 stopped the transform"), "{stderr}");

    let (code, _, stderr) = p.run(&["run", "20260103000000_flag", "--input", &input]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("migration 20260103000000_flag has no forward transform to run: an update migration runs on the server"),
        "{stderr}"
    );
    let (code, _, stderr) = p.run(&["run", COUNT, "--input", &input, "--direction", "sideways"]);
    assert_eq!(code, 2, "{stderr}");
    let (code, _, stderr) = p.run(&["run", "20260109000000_nope", "--input", &input]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("no migration 20260109000000_nope in migrations"),
        "{stderr}"
    );
    let (code, _, stderr) = p.run(&["run", COUNT, "--input", "missing.jsonl"]);
    assert_eq!(code, 8, "{stderr}");
    assert!(stderr.contains("cannot read missing.jsonl"), "{stderr}");
}

#[test]
fn a_python_transform_runs_on_a_file_through_the_python_package() {
    let venv = crate::python::venv();
    let (p, mut c) = crate::fixtures_cmd::python_project(venv);
    let input = p.write(
        "in.jsonl",
        "{\"_id\": 1, \"name\": \"ada lovelace\"}\n{\"_id\": 2, \"name\": \"\"}\n{\"_id\": 3, \"name\": \"boom\"}\n",
    );
    let out = c
        .args(["run", "20260101000000_title", "--input"])
        .arg(&input)
        .output()
        .expect("run");
    let (stdout, stderr) = crate::util::text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines[..2],
        [
            r#"{"document":1,"_id":1,"outcome":"replace","replacement":{"_id":1,"name":"Ada Lovelace"}}"#,
            r#"{"document":2,"_id":2,"outcome":"delete"}"#,
        ]
    );
    assert!(
        lines[2].starts_with(r#"{"document":3,"_id":3,"outcome":"fail","message":"#)
            && lines[2].contains("cannot title-case boom"),
        "{stdout}"
    );
}
