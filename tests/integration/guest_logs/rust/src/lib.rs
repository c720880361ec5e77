use mongoshift_guest::{log, transform, Document, Outcome};

#[transform]
fn check(doc: Document) -> Outcome {
    log::warn("checking");
    println!("printed line");
    if doc.contains_key("boom") {
        panic!("boom in document");
    }
    if doc.contains_key("bad") {
        log::error("bad field");
        return Outcome::fail("bad document");
    }
    Outcome::Keep
}
