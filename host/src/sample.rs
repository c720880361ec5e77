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
