//! Glob patterns over names (databases of a fleet, the migrations and
//! collections of a policy): `*` (any run of characters), `?` (one
//! character) and `[...]` (one of a set: `[abc]`, a range `[a-f]`, negated
//! with `[!...]` or `[^...]`). Everything else stands for itself.

/// Checks that `pattern` is a valid glob; the reason when not.
pub(crate) fn check(pattern: &str) -> Result<(), String> {
    if pattern.is_empty() {
        return Err("the pattern is empty".into());
    }
    let p: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    while i < p.len() {
        if p[i] == '[' {
            i = class_end(&p, i).ok_or("a `[` is not closed by `]`")?;
        }
        i += 1;
    }
    Ok(())
}

/// Whether `name` matches `pattern` (checked by [`check`]; an unclosed `[`
/// matches itself).
pub(crate) fn matches(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // Iterative with one backtrack point for the last `*`: linear in
    // practice, never exponential.
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        let step = match p.get(pi) {
            Some('*') => {
                star = Some((pi, ni));
                pi += 1;
                continue;
            }
            Some('?') => Some(pi + 1),
            Some('[') => match class_end(&p, pi) {
                Some(end) if in_class(&p[pi + 1..end], n[ni]) => Some(end + 1),
                Some(_) => None,
                None => (n[ni] == '[').then_some(pi + 1),
            },
            Some(c) => (*c == n[ni]).then_some(pi + 1),
            None => None,
        };
        match (step, star) {
            (Some(next), _) => {
                pi = next;
                ni += 1;
            }
            (None, Some((sp, sn))) => {
                pi = sp + 1;
                ni = sn + 1;
                star = Some((sp, sn + 1));
            }
            (None, None) => return false,
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// The index of the `]` closing the class opened at `open`. A `]` right
/// after the opening (or after its `!`/`^`) is a member, as in shells.
fn class_end(p: &[char], open: usize) -> Option<usize> {
    let mut i = open + 1;
    if matches!(p.get(i), Some('!' | '^')) {
        i += 1;
    }
    if p.get(i) == Some(&']') {
        i += 1;
    }
    (i..p.len()).find(|&j| p[j] == ']')
}

fn in_class(class: &[char], c: char) -> bool {
    let (negated, class) = match class.first() {
        Some('!' | '^') => (true, &class[1..]),
        _ => (false, class),
    };
    let mut i = 0;
    let mut found = false;
    while i < class.len() {
        if i + 2 < class.len() && class[i + 1] == '-' {
            found |= (class[i]..=class[i + 2]).contains(&c);
            i += 3;
        } else {
            found |= class[i] == c;
            i += 1;
        }
    }
    found != negated
}

#[cfg(test)]
mod tests {
    use super::{check, matches};

    #[test]
    fn stars_questions_and_classes() {
        assert!(matches("tenant_*", "tenant_"));
        assert!(matches("tenant_*", "tenant_042"));
        assert!(!matches("tenant_*", "tenan"));
        assert!(matches("t?_*_x", "t1_abc_x"));
        assert!(!matches("t?_*_x", "t12_abc_x"));
        assert!(matches("*a*b*", "xxaxxbxx"));
        assert!(!matches("*a*b", "xxaxxbxxc"));
        assert!(matches("tenant_[0-4]*", "tenant_3x"));
        assert!(!matches("tenant_[0-4]*", "tenant_5"));
        assert!(matches("tenant_[!0-4]", "tenant_7"));
        assert!(!matches("tenant_[^0-4]", "tenant_2"));
        assert!(matches("[]x]", "]"));
        assert!(matches("app", "app"));
        assert!(!matches("app", "apps"));
    }

    #[test]
    fn an_unclosed_class_is_refused() {
        assert!(check("tenant_[0-9").is_err());
        assert!(check("").is_err());
        assert!(check("tenant_[0-9]*").is_ok());
    }
}
