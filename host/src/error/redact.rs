//! Keeping passwords out of messages: every password of a connection string
//! this process has seen is remembered, and masked wherever it shows up.

use std::sync::{Mutex, OnceLock};

fn secrets() -> &'static Mutex<Vec<String>> {
    static SECRETS: OnceLock<Mutex<Vec<String>>> = OnceLock::new();
    SECRETS.get_or_init(|| Mutex::new(Vec::new()))
}

pub(crate) fn remember_secret_of(uri: &str) {
    if let Some(pw) = uri_password(uri) {
        if !pw.is_empty() {
            let mut s = secrets().lock().unwrap_or_else(|p| p.into_inner());
            if !s.contains(&pw) {
                s.push(pw.clone());
            }
            // the percent-decoded form may appear too
            if let Ok(decoded) = percent_decode(&pw) {
                if !s.contains(&decoded) {
                    s.push(decoded);
                }
            }
        }
    }
}

fn uri_password(uri: &str) -> Option<String> {
    let rest = uri.split_once("://")?.1;
    let authority = rest.split(['/', '?']).next()?;
    let userinfo = authority.rsplit_once('@')?.0;
    Some(userinfo.split_once(':')?.1.to_string())
}

fn percent_decode(s: &str) -> Result<String, ()> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).map_err(|_| ())?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| ())?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| ())
}

/// The connection string with its password replaced by `****`.
pub fn redact_uri(uri: &str) -> String {
    let Some((scheme, rest)) = uri.split_once("://") else {
        return uri.to_string();
    };
    let auth_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(auth_end);
    match authority.rsplit_once('@') {
        Some((userinfo, hosts)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            let masked = if userinfo.contains(':') {
                format!("{user}:****")
            } else {
                user.to_string()
            };
            format!("{scheme}://{masked}@{hosts}{tail}")
        }
        None => uri.to_string(),
    }
}

/// Replaces every password this process has seen with `****`.
pub fn redact_message(msg: &str) -> String {
    let s = secrets().lock().unwrap_or_else(|p| p.into_inner());
    let mut out = msg.to_string();
    // Very short secrets would mask ordinary letters; those are kept out of
    // messages by masking URIs (`redact_uri`) instead.
    for secret in s.iter().filter(|s| s.len() >= 4) {
        out = out.replace(secret.as_str(), "****");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_passwords() {
        assert_eq!(
            redact_uri("mongodb://bob:s3cr%40t@h:27017/db?x=1"),
            "mongodb://bob:****@h:27017/db?x=1"
        );
        assert_eq!(redact_uri("mongodb://h:27017/db"), "mongodb://h:27017/db");
        assert_eq!(
            redact_uri("mongodb+srv://bob@h/db"),
            "mongodb+srv://bob@h/db"
        );
        remember_secret_of("mongodb://bob:hunter%212@h/db");
        assert_eq!(
            redact_message("bad hunter%212 and hunter!2"),
            "bad **** and ****"
        );
    }
}
