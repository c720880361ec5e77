//! `verify --data`: which check was made, the counts, the first
//! differences, and how application writes were told apart.

use mongoshift::verify::{DataReport, Since};

/// Prints the report of `verify --data`.
pub(crate) fn verify_data(r: &DataReport) {
    println!("{} on {}: checked {}", r.migration, r.collection, r.check);
    println!(
        "checked {}, equal {}, differing {}, missing {}, extra {}, changed since {}",
        r.checked, r.equal, r.differing, r.missing, r.extra, r.changed_since
    );
    for d in &r.differences {
        let since = if d.changed_since {
            " (changed by the application since the migration: not an error)"
        } else {
            ""
        };
        let fields = if d.fields.is_empty() {
            String::new()
        } else {
            format!(": {}", d.fields.join(", "))
        };
        println!("  {:<15} _id {}{fields}{since}", d.kind.as_str(), d.id);
    }
    let listed = r.differences.len() as u64;
    let found = r.differing + r.missing + r.extra + r.changed_since;
    if found > listed {
        println!("  … and {} more (--show N lists more)", found - listed);
    }
    match &r.since {
        Since::ChangeStream { from } => println!(
            "application writes since the migration told apart by the change stream, from {from}"
        ),
        Since::Unknown { reason } if !r.clean() => println!(
            "application writes could not be told apart ({reason}): some differences may be \
             application writes since the migration"
        ),
        Since::Unknown { .. } => {}
        _ => {}
    }
    if r.clean() {
        println!("the data matches");
    }
}
