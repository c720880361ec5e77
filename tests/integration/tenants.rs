//! Fleets of tenant databases for the fleet tests: a unique prefix per
//! test, seeded in parallel, dropped at the end.

use std::time::Duration;

use assert_cmd::Command;
use bson::{doc, Document};
use futures_util::StreamExt;
use mongodb::Database;

use crate::guests::{install, person, repo_migrations, SPLIT_NAME};
use crate::util::{block_on, TestDb};

/// The example migrations a fleet test applies: two bulk updates and the
/// `split_name` Wasm transform.
pub const MIGRATIONS: [&str; 3] = [
    "20260101090000_index_email",
    "20260102090000_rename_zip",
    SPLIT_NAME,
];

/// `n` tenant databases named `<prefix>NNN`, and a project (the harness's
/// test database and directory, which is not one of them).
pub struct Tenants {
    pub t: TestDb,
    pub prefix: String,
    pub names: Vec<String>,
}

impl Tenants {
    /// `n` tenants of `docs` users each (shaped as the demo's), with
    /// [`MIGRATIONS`] installed in the project.
    pub fn new(test: &str, n: usize, docs: i64) -> Tenants {
        let t = TestDb::new(test);
        let prefix = format!("f_{}_{}_", &test[..test.len().min(24)], std::process::id());
        let names: Vec<String> = (0..n).map(|i| format!("{prefix}{i:03}")).collect();
        let tenants = Tenants { t, prefix, names };
        for id in MIGRATIONS {
            if id == SPLIT_NAME {
                install(&tenants.t, id);
            } else {
                let file = format!("{id}.toml");
                std::fs::copy(
                    repo_migrations().join(&file),
                    tenants.t.migrations().join(&file),
                )
                .expect("copy migration");
            }
        }
        let people: Vec<Document> = (0..docs).map(person).collect();
        block_on(
            futures_util::stream::iter(tenants.names.clone())
                .map(|name| {
                    let coll = tenants
                        .t
                        .client
                        .database(&name)
                        .collection::<Document>("users");
                    let people = people.clone();
                    async move {
                        coll.drop().await.expect("drop leftover");
                        coll.insert_many(people).await.expect("seed tenant");
                    }
                })
                .buffer_unordered(8)
                .collect::<Vec<()>>(),
        );
        tenants
    }

    /// The glob of every tenant.
    pub fn pattern(&self) -> String {
        format!("{}*", self.prefix)
    }

    pub fn db(&self, i: usize) -> Database {
        self.t.client.database(&self.names[i])
    }

    /// The CLI in the project, with no database named (plain progress).
    pub fn cmd(&self) -> Command {
        let mut c = self.t.cmd();
        c.env_remove("MONGOSHIFT_DB")
            .timeout(Duration::from_secs(240));
        c
    }

    /// The CLI over every tenant.
    pub fn fleet_cmd(&self) -> Command {
        let mut c = self.cmd();
        c.args(["--databases", &self.pattern()]);
        c
    }

    /// The ledger states of tenant `i`, by migration id.
    pub fn states(&self, i: usize) -> Vec<(String, String)> {
        use futures_util::TryStreamExt;
        let entries: Vec<Document> = block_on(async {
            self.db(i)
                .collection::<Document>(mongoshift::LEDGER_COLLECTION)
                .find(doc! {})
                .sort(doc! { "_id": 1 })
                .await?
                .try_collect()
                .await
        })
        .expect("ledger");
        entries
            .iter()
            .map(|e| {
                (
                    e.get_str("_id").unwrap_or("").to_string(),
                    e.get_str("state").unwrap_or("").to_string(),
                )
            })
            .collect()
    }

    /// Documents of tenant `i`'s users matching `filter`.
    pub fn count(&self, i: usize, filter: Document) -> u64 {
        block_on(
            self.db(i)
                .collection::<Document>("users")
                .count_documents(filter),
        )
        .expect("count")
    }
}

impl Drop for Tenants {
    fn drop(&mut self) {
        let dbs: Vec<Database> = self
            .names
            .iter()
            .map(|n| self.t.client.database(n))
            .collect();
        // A fresh thread: Drop may run inside the runtime.
        let _ = std::thread::spawn(move || {
            block_on(
                futures_util::stream::iter(dbs)
                    .map(|db| async move {
                        let _ = db.drop().await;
                    })
                    .buffer_unordered(8)
                    .collect::<Vec<()>>(),
            );
        })
        .join();
    }
}
