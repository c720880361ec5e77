//! Pre-images kept as one compressed record per batch: `down` restores
//! them byte for byte, records are split below the 16 MiB document limit,
//! and records in the layouts of earlier versions (one per document, or one
//! per batch uncompressed) are still read.

use bson::{doc, oid::ObjectId, rawdoc, Bson, Document, RawArrayBuf, RawDocumentBuf};
use predicates::prelude::*;

use crate::util::{block_on, text, unpack_zdocs, LocalServer, TestDb};
use crate::wat::{counter, for_each, guest, ID};

const MIG: &str = "20260601000000_batches";

fn pre_images() -> String {
    format!("mongoshift_preimages_{MIG}")
}

fn migration(t: &TestDb, module: &str, batch_size: usize) {
    t.write(&format!("{MIG}/guest.wat"), module);
    t.write(
        &format!("{MIG}/migration.toml"),
        &format!("kind = \"wasm\"\ncollection = \"users\"\nmodule = \"guest.wat\"\nbatch_size = {batch_size}\nstrategy = \"in-place\"\n"),
    );
}

/// Deletes documents whose `_id` is a multiple of 3, adds 1 to `n` of
/// those one above, keeps the others.
fn delete_or_count() -> String {
    let count = "(call $emit (i32.const 1) (local.get $doc) (i32.load (local.get $doc))) (i32.store (i32.sub (global.get $cursor) (i32.const 5)) (i32.add (i32.load (i32.sub (global.get $cursor) (i32.const 5))) (i32.const 1)))";
    let body = for_each(&format!(
        "(if (i32.eqz (i32.rem_u {ID} (i32.const 3))) (then (call $emit_tag (i32.const 2))) (else (if (i32.eq (i32.rem_u {ID} (i32.const 3)) (i32.const 1)) (then {count}) (else (call $emit_tag (i32.const 0))))))"
    ));
    guest(1, false, "", &body)
}

fn remove_ledger_entry(t: &TestDb) {
    block_on(
        t.db()
            .collection::<Document>(mongoshift::LEDGER_COLLECTION)
            .delete_one(doc! { "_id": MIG }),
    )
    .expect("delete ledger entry");
}

/// The layouts of earlier versions.
#[derive(Clone, Copy)]
enum Earlier {
    /// One record per document: `{_id, op, doc}`.
    PerDocument,
    /// One record per batch with its entries uncompressed:
    /// `{_id, last, n, docs: [{_id, op, doc}, ...]}`.
    Docs,
}

/// Rewrites this version's batch records whose first `_id` `old` chooses as
/// an earlier version kept them; returns how many originals they hold.
fn as_written_by_an_earlier_version(
    t: &TestDb,
    layout: Earlier,
    old: impl Fn(&Bson) -> bool,
) -> usize {
    let coll = t.db().collection::<RawDocumentBuf>(&pre_images());
    let mut rewritten = 0;
    for r in t.raw(&pre_images()) {
        let id = Bson::try_from(
            r.get("_id")
                .expect("as written")
                .expect("as written")
                .to_raw_bson(),
        )
        .expect("as written");
        // Records of this version only (not those rewritten already).
        let Some(entries) = unpack_zdocs(&r).filter(|_| old(&id)) else {
            continue;
        };
        rewritten += entries.len();
        block_on(coll.delete_one(doc! { "_id": id })).expect("as written");
        let records = match layout {
            Earlier::PerDocument => entries,
            Earlier::Docs => {
                let mut docs = RawArrayBuf::new();
                for e in &entries {
                    docs.push(e.clone());
                }
                let first = r.get("_id").expect("as written").expect("as written");
                let last = r.get("last").expect("as written").expect("as written");
                vec![rawdoc! {
                    "_id": first.to_raw_bson(),
                    "last": last.to_raw_bson(),
                    "n": entries.len() as i32,
                    "docs": docs,
                }]
            }
        };
        block_on(coll.insert_many(records)).expect("as written");
    }
    rewritten
}

#[test]
fn down_restores_batch_pre_images_byte_for_byte_one_record_per_batch() {
    let t = TestDb::new("pre_batches_down");
    t.seed_users(3_000);
    let original = t.raw_users();
    migration(&t, &delete_or_count(), 500);
    t.cmd().arg("up").assert().success();
    assert_eq!(t.count("users", doc! {}), 2_000);
    let records = t.raw(&pre_images());
    assert_eq!(records.len(), 6, "one record per batch with changes");
    let (mut packed_bytes, mut entry_bytes) = (0, 0);
    for (b, r) in records.iter().enumerate() {
        let first = (b * 500) as i32;
        let last = (first..first + 500)
            .rev()
            .find(|i| i % 3 != 2)
            .expect("as written");
        assert_eq!(r.get_i32("_id"), Ok(first + i32::from(first % 3 == 2)));
        assert_eq!(r.get_i32("last"), Ok(last), "{r:?}");
        let docs = unpack_zdocs(r).expect("a packed record");
        assert_eq!(r.get_i32("n"), Ok(docs.len() as i32));
        let listed: Vec<i32> = r
            .get_array("ids")
            .expect("as written")
            .into_iter()
            .map(|v| v.expect("as written").as_i32().expect("as written"))
            .collect();
        packed_bytes += r.as_bytes().len();
        entry_bytes += docs.iter().map(|e| e.as_bytes().len()).sum::<usize>();
        let mut ids = Vec::new();
        for e in &docs {
            let id = e.get_i32("_id").expect("as written");
            let op = if id % 3 == 0 { "delete" } else { "replace" };
            assert_eq!(e.get_str("op"), Ok(op), "{e:?}");
            assert_eq!(
                e.get_document("doc").expect("as written").get_i32("_id"),
                Ok(id)
            );
            ids.push(id);
        }
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "in _id order");
        assert_eq!(listed, ids, "`ids` lists the entries' _ids");
    }
    assert!(
        packed_bytes * 3 < entry_bytes,
        "compressed: {packed_bytes} bytes of records for {entry_bytes} of originals"
    );
    let kept = t.raw_pre_images(&pre_images());
    assert_eq!(
        kept.len(),
        2_000,
        "the changed and the deleted, not the kept"
    );
    for e in &kept {
        let id = e.get_i32("_id").expect("as written");
        let doc = e.get_document("doc").expect("as written");
        assert_eq!(doc.as_bytes(), original[id as usize].as_bytes(), "_id {id}");
    }
    t.cmd().arg("down").assert().success();
    let now = t.raw_users();
    assert_eq!(now.len(), original.len());
    for (a, b) in now.iter().zip(&original) {
        assert_eq!(a.as_bytes(), b.as_bytes(), "{:?}", b.get("_id"));
    }
    assert_eq!(t.count(&pre_images(), doc! {}), 0, "consumed");
    assert_eq!(t.ledger()[0].get_str("state"), Ok("rolled_back"));
}

/// A document an application changes after the run read it and before its
/// batch's transaction is transformed again from what it is now: that
/// version, not the one first read, is its pre-image and what `down` puts
/// back, byte for byte.
#[test]
fn a_document_changed_before_its_batch_commits_keeps_the_version_it_was_transformed_from() {
    use std::io::BufRead;
    let t = TestDb::new("pre_batches_changed");
    t.seed_users(300);
    let original = t.raw_users();
    migration(&t, &delete_or_count(), 100);
    // The first batch waits 5 s before its transaction, read and transformed.
    let mut up = t
        .std_cmd()
        .env(mongoshift::failpoint::ENV, "batch.before_transaction:1")
        .env(mongoshift::failpoint::PAUSE_ENV, "5000")
        .args(["--progress", "json", "up"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run up");
    let mut lines = std::io::BufReader::new(up.stdout.take().expect("piped")).lines();
    let mut shown = String::new();
    for line in lines.by_ref() {
        let line = line.expect("the run's output");
        shown += &line;
        if line.contains("\"migration_started\"") {
            break;
        }
    }
    std::thread::sleep(std::time::Duration::from_millis(1000));
    let users = t.db().collection::<Document>("users");
    block_on(users.update_one(doc! { "_id": 4 }, doc! { "$set": { "n": 1000 } })).expect("update");
    let changed = t.raw_users()[4].clone();
    shown.extend(lines.map_while(std::result::Result::ok));
    let out = up.wait_with_output().expect("run up");
    let (_, stderr) = text(&out);
    assert!(out.status.success(), "{shown}{stderr}");
    let cp = t.ledger()[0]
        .get_document("checkpoint")
        .expect("a checkpoint")
        .clone();
    assert_eq!(
        cp.get_i64("changed"),
        Ok(1),
        "the write did not land between the read and the transaction: {cp}"
    );
    let now = t.find("users", doc! { "_id": 4 });
    assert_eq!(
        now[0].get_i32("n"),
        Ok(1001),
        "transformed from the application's version"
    );
    let kept = t.raw_pre_images(&pre_images());
    let four = kept
        .iter()
        .find(|e| e.get_i32("_id") == Ok(4))
        .expect("kept");
    let doc = four.get_document("doc").expect("as written");
    assert_eq!(
        doc.as_bytes(),
        changed.as_bytes(),
        "the version transformed"
    );
    t.cmd().arg("down").assert().success();
    let now = t.raw_users();
    assert_eq!(now.len(), original.len());
    for (i, (a, b)) in now.iter().zip(&original).enumerate() {
        let b = if i == 4 { &changed } else { b };
        assert_eq!(a.as_bytes(), b.as_bytes(), "_id {i}");
    }
}

#[test]
fn originals_over_16_mib_in_one_batch_are_split_and_restored() {
    // A transaction of 8 replacements of 3 MiB and their originals.
    let server = LocalServer::start(&["--cache-size", "1G"]);
    let t = TestDb::on(&server.uri, "pre_batches_large");
    let users = t.db().collection::<Document>("users");
    for i in 0..8 {
        let blob = format!("{i}").repeat(3 << 20);
        block_on(users.insert_one(doc! { "_id": i, "blob": blob, "n": 0 })).expect("as written");
    }
    let original = t.raw_users();
    migration(&t, &counter(false, None), 8);
    let out = t.cmd().arg("up").output().expect("as written");
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    let records = t.raw(&pre_images());
    assert_eq!(
        records.len(),
        2,
        "5 originals of 3 MiB fit in 16 MiB, not 6"
    );
    let ns: Vec<i32> = records
        .iter()
        .map(|r| r.get_i32("n").expect("as written"))
        .collect();
    assert_eq!(ns, [5, 3], "one batch, its originals in two records");
    for r in &records {
        assert!(r.as_bytes().len() <= 16 << 20, "{}", r.as_bytes().len());
    }
    assert_eq!(t.count("users", doc! { "n": 1 }), 8);
    t.cmd().arg("down").assert().success();
    let now = t.raw_users();
    assert_eq!(now.len(), 8);
    for (a, b) in now.iter().zip(&original) {
        assert!(a.as_bytes() == b.as_bytes(), "byte for byte");
    }
}

#[test]
fn pre_images_of_an_earlier_version_and_of_batches_restore_and_verify() {
    let t = TestDb::new("pre_batches_old");
    t.seed_users(3_000);
    let original = t.raw_users();
    migration(&t, &delete_or_count(), 500);
    t.cmd().arg("up").assert().success();
    // The first three batches as the version before last kept them, the
    // fourth as the last one did, the others as this one does.
    let per_document = as_written_by_an_earlier_version(&t, Earlier::PerDocument, |id| {
        id.as_i32().is_some_and(|i| i < 1_500)
    });
    assert_eq!(per_document, 1_000);
    let docs = as_written_by_an_earlier_version(&t, Earlier::Docs, |id| {
        id.as_i32().is_some_and(|i| (1_500..2_000).contains(&i))
    });
    assert_eq!(docs, 334);
    assert_eq!(t.count(&pre_images(), doc! {}), 1_000 + 3);
    assert_eq!(
        t.count(&pre_images(), doc! { "docs": { "$exists": true } }),
        1
    );
    assert_eq!(
        t.count(&pre_images(), doc! { "zdocs": { "$exists": true } }),
        2
    );
    t.cmd()
        .args(["verify", "--data", MIG])
        .assert()
        .code(0)
        .stdout(predicate::str::contains(format!(
            "the pre-images in {} transformed again",
            pre_images()
        )))
        .stdout(predicate::str::contains("checked 2000, equal 2000"));
    t.cmd().arg("down").assert().success();
    assert!(t.raw_users() == original, "byte for byte");
    assert_eq!(t.count(&pre_images(), doc! {}), 0);

    // Only old records: every document changed kept in either layout.
    for layout in [Earlier::PerDocument, Earlier::Docs] {
        t.cmd().arg("up").assert().success();
        assert_eq!(
            as_written_by_an_earlier_version(&t, layout, |_| true),
            2_000
        );
        t.cmd().arg("down").assert().success();
        assert!(t.raw_users() == original, "byte for byte");
    }
}

#[test]
fn a_rerun_keeps_the_first_originals_in_any_layout_and_for_any_id_type() {
    let t = TestDb::new("pre_batches_once");
    let users = t.db().collection::<Document>("users");
    let mut seed = Vec::new();
    for i in 0..600 {
        seed.push(doc! { "_id": i, "s": "int", "n": 0 });
        seed.push(doc! { "_id": format!("k{i:04}"), "s": "string", "n": 0 });
        seed.push(doc! { "_id": ObjectId::new(), "s": "oid", "n": 0 });
    }
    seed.push(doc! { "_id": 2.5, "s": "double", "n": 0 });
    seed.push(doc! { "_id": { "a": 1 }, "s": "document", "n": 0 });
    block_on(users.insert_many(seed)).expect("as written");
    let original = t.raw_users();
    migration(&t, &counter(false, None), 250);
    t.cmd().arg("up").assert().success();
    // Some records as earlier versions left them: a rerun meets all three.
    let strings = as_written_by_an_earlier_version(&t, Earlier::PerDocument, |id| {
        matches!(id, Bson::String(_))
    });
    let oids =
        as_written_by_an_earlier_version(&t, Earlier::Docs, |id| matches!(id, Bson::ObjectId(_)));
    assert!(strings > 0 && oids > 0, "{strings} {oids}");
    remove_ledger_entry(&t);
    t.cmd().arg("up").assert().success();
    assert_eq!(
        t.count("users", doc! { "n": 2 }),
        1_802,
        "run twice, as asked"
    );
    let kept = t.pre_images(&pre_images());
    assert_eq!(kept.len(), 1_802, "one pre-image each, none added");
    assert!(
        kept.iter()
            .all(|p| p.get_document("doc").expect("as written").get_i32("n") == Ok(0)),
        "the first originals"
    );
    // A third run with another batch size (a resumed run may change it).
    migration(&t, &counter(false, None), 77);
    remove_ledger_entry(&t);
    t.cmd().arg("up").assert().success();
    assert_eq!(t.pre_images(&pre_images()).len(), 1_802);
    t.cmd().arg("down").assert().success();
    assert!(t.raw_users() == original, "back to the originals");
}

#[test]
fn a_damaged_pre_image_record_fails_down_by_name_before_anything_is_restored() {
    let t = TestDb::new("pre_batches_bad");
    t.seed_users(1_000);
    migration(&t, &delete_or_count(), 500);
    t.cmd().arg("up").assert().success();
    let after_up = t.raw_users();
    let coll = t.db().collection::<Document>(&pre_images());
    block_on(coll.insert_one(doc! { "_id": "damaged", "op": "replace" })).expect("as written");
    down_refused(
        &t,
        &after_up,
        "record \"damaged\": neither a `doc` nor a `docs` or `zdocs`",
    );
    assert_eq!(t.count(&pre_images(), doc! {}), 3, "the pre-images kept");

    // A packed record cut short, likewise.
    block_on(coll.delete_one(doc! { "_id": "damaged" })).expect("as written");
    let raw = t.db().collection::<RawDocumentBuf>(&pre_images());
    let record = block_on(raw.find_one(doc! { "_id": 501 }))
        .expect("as written")
        .expect("the second batch's record");
    let z = match record.get("zdocs") {
        Ok(Some(bson::RawBsonRef::Binary(z))) => z.bytes.to_vec(),
        other => panic!("{other:?}"),
    };
    let cut = bson::Binary {
        subtype: bson::spec::BinarySubtype::Generic,
        bytes: z[..z.len() / 2].to_vec(),
    };
    block_on(coll.update_one(doc! { "_id": 501 }, doc! { "$set": { "zdocs": cut } }))
        .expect("as written");
    down_refused(&t, &after_up, "record 501: `zdocs` does not decompress");

    // An entry of an earlier version's batch record without its original,
    // likewise.
    block_on(raw.replace_one(doc! { "_id": 501 }, record)).expect("as written");
    as_written_by_an_earlier_version(&t, Earlier::Docs, |id| id.as_i32() == Some(501));
    block_on(coll.update_one(doc! { "_id": 501 }, doc! { "$unset": { "docs.1.doc": "" } }))
        .expect("as written");
    down_refused(
        &t,
        &after_up,
        "record 501: an entry of `docs` without `_id` or `doc`",
    );
}

/// `down` fails naming the damaged pre-images and `why`, and restores
/// nothing: the users are still as `up` left them.
fn down_refused(t: &TestDb, after_up: &[RawDocumentBuf], why: &str) {
    let out = t.cmd().arg("down").output().expect("as written");
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success(), "{stdout}{stderr}");
    assert!(
        stderr.contains(&format!("the pre-images in {} are damaged", pre_images()))
            && stderr.contains(why),
        "{stderr}"
    );
    assert!(t.raw_users() == after_up, "nothing restored");
}
