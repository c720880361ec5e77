//! Merges `customers_eu` into `customers` with `region: "eu"` (see the
//! `merge-customers` crate for what moves and how `down` restores it).

use mongoshift_guest::{transform, Context, Document, Outcome};

#[transform(name = "merge_customers_eu")]
pub fn merge_customers_eu(customer: Document, cx: &mut Context) -> Outcome {
    merge_customers::merge(customer, "eu", cx)
}
