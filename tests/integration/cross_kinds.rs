//! The other kinds of cross-collection migration, each with its Rust guest
//! from `examples/cross/` (built by `mongoshift build <dir>`) through the
//! CLI: split a collection by a field, merge two collections into one, and
//! archive old documents into another database. Each runs `up`, is checked
//! as a user would check it, and `down` leaves every touched collection as
//! it was, byte for byte (from pre-images: none of them has a backward run,
//! since each empties what a backward run would read).

use bson::oid::ObjectId;
use bson::{doc, DateTime, Document, RawDocumentBuf};
use predicates::prelude::*;

use crate::guest_examples::{built_dir, repo};
use crate::guests::install_from;
use crate::util::{block_on, TestDb};

/// Installs the example `examples/cross/<dir>` (manifest and module) as
/// migration `id` of the test's project.
fn install(t: &TestDb, dir: &str, id: &str) {
    install_from(
        t,
        &built_dir(&repo().join("examples/cross").join(dir), "rust"),
        id,
    );
}

fn insert(t: &TestDb, coll: &str, docs: impl IntoIterator<Item = Document>) {
    block_on(t.db().collection::<Document>(coll).insert_many(docs)).expect("seed");
}

/// The document of `docs` whose `_id` is the int64 `id`.
fn by_id(docs: &[RawDocumentBuf], id: i64) -> &RawDocumentBuf {
    docs.iter()
        .find(|d| d.get_i64("_id") == Ok(id))
        .expect("the document")
}

/// The number of writes the applied migration's checkpoint counts to `coll`.
fn written(t: &TestDb, id: &str, coll: &str) -> i64 {
    let entry = t
        .ledger()
        .into_iter()
        .find(|e| e.get_str("_id") == Ok(id))
        .expect("ledger entry");
    entry
        .get_document("checkpoint")
        .and_then(|c| c.get_document("outputs"))
        .and_then(|o| o.get_i64(coll))
        .unwrap_or_else(|e| panic!("{id}: writes to {coll}: {e}: {entry}"))
}

const SPLIT: &str = "20260401000000_split_events";

/// Page events: a third are views, the rest clicks.
fn event(i: i64) -> Document {
    doc! {
        "_id": i,
        "type": if i % 3 == 0 { "view" } else { "click" },
        "at": DateTime::from_millis(1_735_689_600_000 + i * 61_000),
        "user_id": i % 97,
        "page": format!("/products/{}", i % 50),
        "meta": { "ua": "Mozilla/5.0", "ms": (i % 800) as i32, "tags": ["web", "eu"] },
    }
}

#[test]
fn split_moves_each_event_to_its_types_collection_and_down_puts_them_back() {
    let t = TestDb::new("split_events");
    let n = 3_000;
    insert(&t, "events", (0..n).map(event));
    install(&t, "split_events", SPLIT);
    let events = t.raw("events");
    let views = (0..n).filter(|i| i % 3 == 0).count() as u64;

    t.cmd().arg("up").assert().success();
    assert_eq!(t.count("events", doc! {}), 0, "every event moved");
    assert_eq!(t.count("events_view", doc! {}), views);
    assert_eq!(t.count("events_click", doc! {}), n as u64 - views);
    assert_eq!(
        t.count("events_click", doc! { "type": { "$ne": "click" } }),
        0
    );
    assert_eq!(
        t.count("events_view", doc! { "type": { "$ne": "view" } }),
        0
    );
    let clicks = t.raw("events_click");
    assert_eq!(
        by_id(&clicks, 43),
        by_id(&events, 43),
        "an event moves byte for byte"
    );
    assert_eq!(written(&t, SPLIT, "events_view"), views as i64);
    assert_eq!(
        written(&t, SPLIT, "events_click"),
        (n as u64 - views) as i64
    );

    t.cmd().arg("down").assert().success();
    assert!(
        t.raw("events") == events,
        "events byte-identical after down"
    );
    assert_eq!(t.count("events_click", doc! {}), 0);
    assert_eq!(t.count("events_view", doc! {}), 0);
}

const MERGE_EU: &str = "20260402000000_merge_customers_eu";
const MERGE_US: &str = "20260402000001_merge_customers_us";

/// A customer of a regional system: ObjectId `_id`s (unique across both),
/// here made from the region's number and `i` so the test can name them.
fn customer(region: u8, i: u32) -> Document {
    let mut id = [0u8; 12];
    id[0] = region;
    id[8..].copy_from_slice(&i.to_be_bytes());
    doc! {
        "_id": ObjectId::from_bytes(id),
        "name": format!("Customer {region}-{i}"),
        "email": format!("c{i}@region{region}.example"),
        "since": DateTime::from_millis(1_600_000_000_000 + i64::from(i) * 86_400_000),
        "orders": (i % 12) as i32,
    }
}

#[test]
fn merge_moves_both_regions_into_customers_and_down_puts_them_back() {
    let t = TestDb::new("merge_customers");
    let (eu, us) = (2_000_u32, 1_500_u32);
    insert(&t, "customers_eu", (0..eu).map(|i| customer(1, i)));
    insert(&t, "customers_us", (0..us).map(|i| customer(2, i)));
    install(&t, "merge_customers_eu", MERGE_EU);
    install(&t, "merge_customers_us", MERGE_US);
    let (before_eu, before_us) = (t.raw("customers_eu"), t.raw("customers_us"));

    t.cmd().arg("up").assert().success();
    assert_eq!(t.count("customers", doc! {}), u64::from(eu + us));
    assert_eq!(t.count("customers", doc! { "region": "eu" }), u64::from(eu));
    assert_eq!(t.count("customers", doc! { "region": "us" }), u64::from(us));
    assert_eq!(t.count("customers_eu", doc! {}), 0);
    assert_eq!(t.count("customers_us", doc! {}), 0);
    let id = customer(2, 7).get_object_id("_id").expect("id");
    let mut want = customer(2, 7);
    want.insert("region", "us");
    assert_eq!(t.find("customers", doc! { "_id": id }), [want]);
    assert_eq!(written(&t, MERGE_EU, "customers"), i64::from(eu));
    assert_eq!(written(&t, MERGE_US, "customers"), i64::from(us));

    t.cmd().args(["down", "--steps", "2"]).assert().success();
    assert!(
        t.raw("customers_eu") == before_eu,
        "customers_eu byte-identical"
    );
    assert!(
        t.raw("customers_us") == before_us,
        "customers_us byte-identical"
    );
    assert_eq!(
        t.count("customers", doc! {}),
        0,
        "every merged customer deleted"
    );
}

const ARCHIVE: &str = "20260403000000_archive_orders";
/// The database the example archives into (named in its guest and manifest).
const ARCHIVE_DB: &str = "archive_db";
/// The manifest's cut-off: 2025-01-01T00:00:00Z.
const CUT_OFF_MS: i64 = 1_735_689_600_000;

/// Orders over three years, one every 8 hours from 2023-01-01.
fn order(i: i64) -> Document {
    doc! {
        "_id": i,
        "customer_id": i % 211,
        "created_at": DateTime::from_millis(1_672_531_200_000 + i * 8 * 3_600_000),
        "lines": [{ "sku": format!("SKU-{}", i % 40), "qty": (1 + i % 3) as i32 }],
        "total": (i % 500) as f64 + 0.99,
        "status": "delivered",
    }
}

/// Drops `archive_db` when created and when dropped: it is not the test's
/// own database.
struct ArchiveDb(mongodb::Database);

impl ArchiveDb {
    fn new(t: &TestDb) -> ArchiveDb {
        let db = t.client.database(ARCHIVE_DB);
        block_on(db.drop()).expect("drop archive_db");
        ArchiveDb(db)
    }

    fn count(&self) -> u64 {
        block_on(
            self.0
                .collection::<Document>("orders")
                .count_documents(doc! {}),
        )
        .expect("count")
    }
}

impl Drop for ArchiveDb {
    fn drop(&mut self) {
        let db = self.0.clone();
        let _ = std::thread::spawn(move || block_on(db.drop())).join();
    }
}

/// The batch's writes to both databases commit in one transaction: a run
/// killed before a commit leaves every order in exactly one of them, and
/// resumes.
#[test]
fn archive_moves_old_orders_to_another_database_atomically_and_down_restores_them() {
    let t = TestDb::new("archive_orders");
    let archive = ArchiveDb::new(&t);
    let n = 3_300;
    insert(&t, "orders", (0..n).map(order));
    install(&t, "archive_orders", ARCHIVE);
    let orders = t.raw("orders");
    let old = t.count(
        "orders",
        doc! { "created_at": { "$lt": DateTime::from_millis(CUT_OFF_MS) } },
    );
    assert!(old > 1_000 && old < n as u64, "{old} old orders");

    let out = t
        .std_cmd()
        .arg("up")
        .env("MONGOSHIFT_FAILPOINT", "batch.before_commit:2")
        .output()
        .expect("run up");
    assert!(!out.status.success(), "killed before the second commit");
    assert_eq!(
        archive.count(),
        500,
        "the first batch, committed in both databases"
    );
    assert_eq!(t.count("orders", doc! {}) + archive.count(), n as u64);

    let out = t.std_cmd().arg("up").output().expect("resume up");
    assert!(out.status.success(), "the resumed run");
    // The resumed run's progress counts the work done before the kill
    // against a total that includes it, though the collection has shrunk.
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let last = said
        .lines()
        .rev()
        .find_map(|l| l.split_once(": ")?.1.split_once(" docs")?.0.split_once('/'))
        .expect("a progress line");
    let old_s = old.to_string();
    assert_eq!(last, (old_s.as_str(), old_s.as_str()), "{said}");
    t.cmd()
        .arg("status")
        .assert()
        .success()
        .stdout(predicate::str::contains(format!(
            "{old} to archive_db.orders"
        )));
    assert_eq!(archive.count(), old);
    assert_eq!(t.count("orders", doc! {}), n as u64 - old);
    assert_eq!(
        t.count(
            "orders",
            doc! { "created_at": { "$lt": DateTime::from_millis(CUT_OFF_MS) } }
        ),
        0,
        "no old order left"
    );
    let archived: Vec<RawDocumentBuf> = block_on(async {
        use futures_util::TryStreamExt;
        archive
            .0
            .collection::<RawDocumentBuf>("orders")
            .find(doc! { "_id": 17_i64 })
            .await?
            .try_collect()
            .await
    })
    .expect("find");
    assert_eq!(
        &archived[..],
        [by_id(&orders, 17).clone()],
        "archived byte for byte"
    );
    assert_eq!(written(&t, ARCHIVE, "archive_db.orders"), old as i64);

    t.cmd().arg("down").assert().success();
    assert!(
        t.raw("orders") == orders,
        "orders byte-identical after down"
    );
    assert_eq!(archive.count(), 0, "every archived copy deleted");
}
