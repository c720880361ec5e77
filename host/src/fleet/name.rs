//! MongoDB's rules for a database name, checked before a run creates one.

/// The databases a fleet never touches: the server's own.
pub(crate) const SYSTEM_DATABASES: [&str; 3] = ["admin", "local", "config"];

/// Characters MongoDB refuses in a database name (on any platform).
const FORBIDDEN: &[char] = &[
    '/', '\\', '.', ' ', '"', '$', '*', '<', '>', ':', '|', '?', '\0',
];

/// Checks `name` against MongoDB's rules; the broken rule when not.
pub(crate) fn check(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("a database name cannot be empty".into());
    }
    if name.len() >= 64 {
        return Err(format!(
            "a database name must be shorter than 64 bytes, this one has {}",
            name.len()
        ));
    }
    if let Some(c) = name.chars().find(|c| FORBIDDEN.contains(c)) {
        return Err(format!("a database name cannot contain {c:?}"));
    }
    if SYSTEM_DATABASES.contains(&name) {
        return Err(format!("`{name}` is the server's own database"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn mongodb_rules() {
        assert!(check("tenant_001").is_ok());
        assert!(check("").is_err());
        assert!(check("a.b").is_err());
        assert!(check("a b").is_err());
        assert!(check("a$b").is_err());
        assert!(check(&"x".repeat(64)).is_err());
        assert!(check(&"x".repeat(63)).is_ok());
        assert!(check("admin").is_err());
    }
}
