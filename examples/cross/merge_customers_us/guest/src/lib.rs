//! Merges `customers_us` into `customers` with `region: "us"` (see the
//! `merge-customers` crate for what moves and how `down` restores it).

use mongoshift_guest::{transform, Context, Document, Outcome};

#[transform(name = "merge_customers_us")]
pub fn merge_customers_us(customer: Document, cx: &mut Context) -> Outcome {
    merge_customers::merge(customer, "us", cx)
}
