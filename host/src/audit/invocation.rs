//! [`Invocation`]: who ran a command, as the audit trail records it.

use serde::{Deserialize, Serialize};

use crate::error::{redact_message, redact_uri};

/// The most bytes of a command line recorded.
const MAX_COMMAND_LINE_BYTES: usize = 4096;

/// Who ran a command: the machine, the OS user, the tool and its command
/// line (passwords masked).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invocation {
    /// Host name of the machine.
    pub host: String,
    /// The OS user the process runs as.
    pub user: String,
    /// The process id.
    pub pid: u32,
    /// The version of mongoshift.
    pub tool_version: String,
    /// The command line (or the library call), passwords masked.
    pub command_line: String,
}

impl Invocation {
    /// This process, running the command line `args` (masked here).
    pub fn this_process<I, S>(args: I) -> Invocation
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Invocation {
            host: crate::lock::hostname(),
            user: os_user(),
            pid: std::process::id(),
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            command_line: mask_command_line(args),
        }
    }

    /// This process, calling the library's `call` (`mongoshift.up()` from
    /// Python, say): the process's own command line follows it.
    pub fn api(call: &str) -> Invocation {
        let mut inv = Invocation::this_process(own_args());
        inv.command_line = crate::text::bounded(
            format!("{call} in `{}`", inv.command_line).as_bytes(),
            MAX_COMMAND_LINE_BYTES,
        );
        inv
    }
}

impl Default for Invocation {
    /// This process, with its own command line.
    fn default() -> Invocation {
        Invocation::this_process(own_args())
    }
}

/// This process's command line (an argument that is not UTF-8 shown with
/// replacement characters).
fn own_args() -> Vec<String> {
    std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect()
}

/// `args` joined as a shell would show them, with the password of every
/// connection string masked (`--uri=mongodb://u:p@h`, or a separate
/// argument), every password this process has seen masked, and the whole
/// bounded.
pub fn mask_command_line<I, S>(args: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let shown: Vec<String> = args
        .into_iter()
        .map(|a| quoted(&redact_message(&mask_arg(a.as_ref()))))
        .collect();
    crate::text::bounded(shown.join(" ").as_bytes(), MAX_COMMAND_LINE_BYTES)
}

/// One argument with a connection string's password masked: the whole
/// argument, or the value of `--flag=VALUE`.
fn mask_arg(arg: &str) -> String {
    if !arg.contains("://") {
        return arg.to_string();
    }
    match arg.split_once('=') {
        Some((flag, value)) if flag.starts_with('-') && !flag.contains("://") => {
            format!("{flag}={}", redact_uri(value))
        }
        _ => redact_uri(arg),
    }
}

/// An argument quoted when a shell would need it.
fn quoted(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@,+%*".contains(c));
    if plain {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

/// The name of the user this process runs as: from the system's user
/// database, else `$USER`, else the uid.
fn os_user() -> String {
    // SAFETY: geteuid cannot fail.
    let uid = unsafe { libc::geteuid() };
    if let Some(name) = user_name(uid) {
        return name;
    }
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| format!("uid {uid}"))
}

fn user_name(uid: libc::uid_t) -> Option<String> {
    let mut buf = vec![0u8; 4096];
    // SAFETY: an all-zero passwd is a valid value for getpwuid_r to fill.
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the length given; the strings
    // getpwuid_r stores point into `buf`, which outlives their use here.
    let r = unsafe {
        libc::getpwuid_r(
            uid,
            &mut pwd,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut found,
        )
    };
    if r != 0 || found.is_null() || pwd.pw_name.is_null() {
        return None;
    }
    // SAFETY: getpwuid_r succeeded, so pw_name is a NUL-terminated string in `buf`.
    let name = unsafe { std::ffi::CStr::from_ptr(pwd.pw_name) };
    Some(name.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_of_connection_strings_are_masked() {
        let line = mask_command_line([
            "mongoshift",
            "--uri=mongodb://bob:hunter22@h:27017/app",
            "up",
            "--uri",
            "mongodb+srv://ann:pa%40ss@cluster/x?tls=true",
            "--path",
            "my migrations",
        ]);
        assert_eq!(
            line,
            "mongoshift --uri=mongodb://bob:****@h:27017/app up --uri \
             'mongodb+srv://ann:****@cluster/x?tls=true' --path 'my migrations'"
        );
    }

    #[test]
    fn who_ran_it() {
        let inv = Invocation::this_process(["mongoshift", "status"]);
        assert!(!inv.host.is_empty());
        assert!(!inv.user.is_empty());
        assert_eq!(inv.tool_version, env!("CARGO_PKG_VERSION"));
        assert_eq!(inv.command_line, "mongoshift status");
    }
}
