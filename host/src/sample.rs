//! Deterministic sample data for the demo, the tests and the benchmarks.

use bson::{doc, Document};

const FIRST: &[&str] = &[
    "Ada", "Alan", "Grace", "Linus", "Barbara", "Dennis", "Margaret", "Ken", "Frances", "Edsger",
    "Radia", "Donald",
];
const LAST: &[&str] = &[
    "Lovelace", "Turing", "Hopper", "Torvalds", "Liskov", "Ritchie", "Hamilton", "Thompson",
    "Allen", "Dijkstra", "Perlman", "Knuth",
];
const CITIES: &[&str] = &[
    "Lisbon", "Oslo", "Nairobi", "Lima", "Osaka", "Quebec", "Tallinn", "Perth",
];
const TAGS: &[&str] = &[
    "beta",
    "admin",
    "newsletter",
    "mobile",
    "trial",
    "vip",
    "eu",
    "us",
];

/// The deterministic user number `i` (about 250 bytes): the same document on
/// every machine and every run.
pub fn user(i: u64) -> Document {
    // A fixed multiplicative hash: same i, same document, on every machine.
    let h = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let first = FIRST[(h % FIRST.len() as u64) as usize];
    let last = LAST[((h >> 8) % LAST.len() as u64) as usize];
    let year = 2015 + (h >> 16) % 10;
    let month = 1 + (h >> 24) % 12;
    let day = 1 + (h >> 32) % 28;
    let tags: Vec<&str> = (0..1 + (h >> 40) % 3)
        .map(|k| TAGS[((h >> (44 + 4 * k)) % TAGS.len() as u64) as usize])
        .collect();
    doc! {
        "_id": i as i64,
        "name": format!("{first} {last}"),
        "email": format!("{}.{}{}@example.com", first.to_lowercase(), last.to_lowercase(), i),
        "age": (18 + (h >> 48) % 60) as i32,
        "signup": format!("{year:04}-{month:02}-{day:02}"),
        "address": {
            "street": format!("{} Main Street", 1 + i % 999),
            "city": CITIES[((h >> 52) % CITIES.len() as u64) as usize],
            "zip": format!("{:05}", (h >> 20) % 100_000),
        },
        "tags": tags,
    }
}

/// The kinds of a cross user's three addresses.
const KINDS: [&str; 3] = ["home", "work", "billing"];

/// How many organisations [`cross_user`] spreads the users over.
pub const ORGS: u64 = 100;

/// User number `i` for cross-collection examples: [`user`] with an `org_id`
/// (one of [`ORGS`] organisations, see [`org`]) and three `addresses`.
pub fn cross_user(i: u64) -> Document {
    let mut d = user(i);
    let h = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    d.insert("org_id", (i % ORGS) as i32);
    let addresses: Vec<Document> = (0..3u64)
        .map(|k| {
            doc! {
                "kind": KINDS[k as usize],
                "street": format!("{} Side Road", 1 + (i + 7 * k) % 999),
                "city": CITIES[((h >> (8 * k)) % CITIES.len() as u64) as usize],
            }
        })
        .collect();
    d.insert("addresses", addresses);
    d
}

/// Organisation number `k`: `{_id: k, name}`.
pub fn org(k: u64) -> Document {
    doc! { "_id": k as i32, "name": format!("Org {k:03} {}", LAST[(k % LAST.len() as u64) as usize]) }
}
