//! Seeds a deterministic `users` collection for the demo and the benchmarks.
//!
//! ```text
//! cargo run --release -p mongoshift --example seed -- --uri mongodb://127.0.0.1:27017 --db demo --count 100000 [--drop-database]
//! ```
//!
//! Document `i` is always the same (about 250 bytes): name "First Last", email,
//! age, signup "YYYY-MM-DD", an address sub-document and a tags array. With
//! `--cross` each user also has an `org_id` and three `addresses`, and the
//! `orgs` collection is seeded (the cross-collection examples).
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::time::Instant;

use bson::Document;
use mongodb::options::InsertManyOptions;
use mongodb::Client;
use mongoshift::sample::{cross_user, org, user, ORGS};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut uri =
        std::env::var("MONGODB_URI").unwrap_or_else(|_| "mongodb://127.0.0.1:27017".into());
    let mut db = "demo".to_string();
    let mut coll = "users".to_string();
    let mut count: u64 = 100_000;
    let mut drop_database = false;
    let mut cross = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut v = || args.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--uri" => uri = v()?,
            "--db" => db = v()?,
            "--collection" => coll = v()?,
            "--count" => count = v()?.replace('_', "").parse()?,
            "--drop-database" => drop_database = true,
            "--cross" => cross = true,
            other => {
                return Err(format!(
                    "unknown argument {other}; use --uri --db --collection --count --drop-database --cross"
                )
                .into())
            }
        }
    }
    let client = Client::with_uri_str(&uri).await?;
    if drop_database {
        client.database(&db).drop().await?;
    }
    let c = client.database(&db).collection::<Document>(&coll);
    c.drop().await?;
    let start = Instant::now();
    let batch = 10_000;
    let mut i = 0;
    while i < count {
        let end = (i + batch).min(count);
        c.insert_many((i..end).map(if cross { cross_user } else { user }))
            .with_options(InsertManyOptions::builder().ordered(false).build())
            .await?;
        i = end;
    }
    if cross {
        let orgs = client.database(&db).collection::<Document>("orgs");
        orgs.drop().await?;
        orgs.insert_many((0..ORGS).map(org)).await?;
    }
    let secs = start.elapsed().as_secs_f64();
    eprintln!(
        "seeded {count} documents into {db}.{coll} in {secs:.1}s ({:.0} docs/s)",
        count as f64 / secs
    );
    Ok(())
}
