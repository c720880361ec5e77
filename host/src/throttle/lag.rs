//! The `--max-lag` measure: the largest replication lag of a secondary,
//! from the replica set's status (`replSetGetStatus`): the primary's last
//! applied operation time minus the secondary's.

use std::time::Duration;

use bson::{doc, Document};

use crate::target::Target;

/// What the replica set's status says about lag.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Lag {
    /// The largest lag of a secondary.
    Behind(Duration),
    /// The set has no secondary: nothing can lag.
    NoSecondaries,
    /// The status cannot be read (not a replica set, not allowed); why.
    Unreadable(String),
}

/// Reads the replica set's status once.
pub(crate) async fn read(target: &Target) -> Lag {
    let status = target
        .client()
        .database("admin")
        .run_command(doc! { "replSetGetStatus": 1 })
        .await;
    match status {
        Ok(d) => of_status(&d),
        Err(e) => Lag::Unreadable(e.to_string()),
    }
}

/// The lag in a `replSetGetStatus` reply.
pub(crate) fn of_status(status: &Document) -> Lag {
    let Ok(members) = status.get_array("members") else {
        return Lag::Unreadable("the reply has no `members`".into());
    };
    let members: Vec<&Document> = members.iter().filter_map(|m| m.as_document()).collect();
    let state = |m: &Document| m.get_str("stateStr").unwrap_or("").to_string();
    let Some(primary) = members
        .iter()
        .find(|m| state(m) == "PRIMARY")
        .and_then(|m| optime_ms(m))
    else {
        return Lag::Unreadable("no primary with an operation time in the reply".into());
    };
    let secondaries: Vec<i64> = members
        .iter()
        .filter(|m| state(m) == "SECONDARY")
        .filter_map(|m| optime_ms(m))
        .collect();
    match secondaries.iter().min() {
        None => Lag::NoSecondaries,
        Some(oldest) => Lag::Behind(Duration::from_millis((primary - oldest).max(0) as u64)),
    }
}

/// A member's last applied operation time in milliseconds.
fn optime_ms(member: &Document) -> Option<i64> {
    if let Ok(d) = member.get_datetime("optimeDate") {
        return Some(d.timestamp_millis());
    }
    let ts = member
        .get_document("optime")
        .ok()?
        .get_timestamp("ts")
        .ok()?;
    Some(i64::from(ts.time) * 1000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::DateTime;

    fn member(state: &str, ms: i64) -> Document {
        doc! { "stateStr": state, "optimeDate": DateTime::from_millis(ms) }
    }

    #[test]
    fn the_lag_is_the_primary_minus_the_oldest_secondary() {
        let status = doc! { "members": [
            member("PRIMARY", 100_000), member("SECONDARY", 99_000),
            member("SECONDARY", 88_000), member("ARBITER", 0),
        ] };
        assert_eq!(of_status(&status), Lag::Behind(Duration::from_secs(12)));
    }

    #[test]
    fn a_single_node_has_no_secondaries_and_a_bad_reply_says_so() {
        let one = doc! { "members": [member("PRIMARY", 5)] };
        assert_eq!(of_status(&one), Lag::NoSecondaries);
        assert!(matches!(of_status(&doc! {}), Lag::Unreadable(_)));
    }
}
