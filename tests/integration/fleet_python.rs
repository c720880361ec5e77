//! Python migrations over a fleet: the binary hands the command to the
//! Python package, which makes a runtime for each database.

use bson::{doc, Document};

use crate::python::venv;
use crate::tenants::Tenants;
use crate::util::{block_on, text};

/// Marks every user.
const MARK: &str = r#"from mongoshift import Migration, iterative_migration


class Mark(Migration):
    collection = "users"

    @iterative_migration(batch_size=16)
    def forward(self, batch):
        for d in batch:
            d["py"] = 1
        return batch
"#;

/// Records the database it ran in.
const WHERE: &str = r#"from mongoshift import Migration, bulk_migration


class Where(Migration):
    collection = "users"

    @bulk_migration
    def forward(self):
        self.db["ran_in"].insert_one({"_id": self.db.name})
"#;

#[test]
fn a_fleet_runs_python_migrations_in_each_database() {
    let f = Tenants::new("fleet_python", 3, 20);
    // Only the Python migrations: the fleet's others are not the point.
    for entry in std::fs::read_dir(f.t.migrations())
        .expect("migrations")
        .flatten()
    {
        let p = entry.path();
        let _ = std::fs::remove_dir_all(&p).or_else(|_| std::fs::remove_file(&p));
    }
    f.t.write("20260301000000_mark.py", MARK);
    f.t.write("20260302000000_where.py", WHERE);
    let out = f
        .fleet_cmd()
        .env("VIRTUAL_ENV", venv())
        .arg("up")
        .assert()
        .success()
        .get_output()
        .clone();
    let (stdout, stderr) = text(&out);
    assert!(
        stdout.contains("applied 6 migration(s) over 3 database(s): 3 done"),
        "{stdout}\n{stderr}"
    );
    for (i, name) in f.names.iter().enumerate() {
        assert_eq!(f.count(i, doc! { "py": 1 }), 20, "{name}");
        let ran_in: Vec<Document> = block_on(async {
            use futures_util::TryStreamExt;
            f.db(i)
                .collection::<Document>("ran_in")
                .find(doc! {})
                .await?
                .try_collect()
                .await
        })
        .expect("ran_in");
        assert_eq!(ran_in, [doc! { "_id": name.as_str() }]);
    }
}
