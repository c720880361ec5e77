//! Signed migrations on the command line: `keygen`, `sign`,
//! `verify --signatures`, and the flags with which `up` checks signatures
//! before it runs anything. See docs/untrusted.md ("Signed migrations").

use std::path::{Path, PathBuf};

use clap::Args;
use mongoshift::signing::{self, PrivateKey, Requirement, SigningError, TrustedKeys};
use mongoshift::MigrationSource;

use crate::exit;

/// The flags of `keygen`.
#[derive(Debug, Args)]
pub(crate) struct KeygenArgs {
    /// Write the private key (PKCS#8 PEM, readable by its owner only) to
    /// this new file; an existing file is never overwritten
    #[arg(long, value_name = "FILE")]
    pub(crate) out: PathBuf,
    /// The key's name in its public key line `<name>:<base64>` [default:
    /// the file's name without its extension]
    #[arg(long)]
    pub(crate) name: Option<String>,
}

/// The flags of `sign`.
#[derive(Debug, Args)]
pub(crate) struct SignArgs {
    /// The private key file (as `keygen` writes it)
    #[arg(long, value_name = "FILE")]
    pub(crate) key: PathBuf,
    /// Only these migrations [default: every migration in the directory]
    pub(crate) ids: Vec<String>,
}

/// The keys whose signatures are accepted.
#[derive(Debug, Args)]
pub(crate) struct TrustArgs {
    /// Accept signatures by this public key, `<name>:<base64>` as `keygen`
    /// prints it; repeatable
    #[arg(long = "trusted-key", value_name = "NAME:BASE64")]
    pub(crate) trusted_key: Vec<String>,
    /// Accept signatures by the keys of this file, one `<name>:<base64>`
    /// per line (`#` starts a comment); repeatable
    #[arg(long = "trusted-keys", value_name = "FILE")]
    pub(crate) trusted_keys: Vec<PathBuf>,
}

/// The signature flags of `up`.
#[derive(Debug, Args)]
pub(crate) struct UpSignatureArgs {
    #[command(flatten)]
    pub(crate) trust: TrustArgs,
    /// Refuse to run unless every migration in the directory is signed by
    /// a trusted key and unchanged since (with the trusted keys alone, an
    /// unsigned migration runs; a signed one must still match)
    #[arg(long)]
    pub(crate) require_signatures: bool,
}

impl TrustArgs {
    /// Whether a key or a keys file is given.
    pub(crate) fn given(&self) -> bool {
        !self.trusted_key.is_empty() || !self.trusted_keys.is_empty()
    }

    /// The keys of every flag and file.
    pub(crate) fn keys(&self) -> Result<TrustedKeys, SigningError> {
        let mut keys = TrustedKeys::parse(&self.trusted_key)?;
        for file in &self.trusted_keys {
            keys.extend(TrustedKeys::read(file)?)?;
        }
        Ok(keys)
    }
}

impl UpSignatureArgs {
    /// The keys `up` checks against and whether it refuses unsigned
    /// migrations; `None` when no signature flag is given.
    pub(crate) fn rule(&self) -> Result<Option<(TrustedKeys, Requirement)>, SigningError> {
        let keys = self.trust.keys()?;
        match (keys.is_empty(), self.require_signatures) {
            (true, true) => Err(SigningError::NoTrustedKeys),
            (true, false) => Ok(None),
            (false, true) => Ok(Some((keys, Requirement::Required))),
            (false, false) => Ok(Some((keys, Requirement::Optional))),
        }
    }
}

/// `keygen`: a new private key file, and its public key line on stdout
/// (after a comment line with its id, so that the output can be appended
/// to a trusted keys file as it is).
pub(crate) fn keygen(args: &KeygenArgs) -> anyhow::Result<u8> {
    let name = match &args.name {
        Some(n) => n.clone(),
        None => args
            .out
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
    };
    if let Err(reason) = signing::check_key_name(&name) {
        return Err(crate::usage::UsageError(format!(
            "invalid key name `{name}`: {reason}; give one with --name"
        ))
        .into());
    }
    let key = PrivateKey::generate()?;
    key.write_new(&args.out)?;
    println!("# key id {}", key.id());
    println!("{}", key.public(&name));
    eprintln!(
        "wrote the private key to {} (readable by you only; keep it secret). \
         Trust the public key above with --trusted-key or a line of a trusted keys file.",
        args.out.display()
    );
    Ok(exit::OK)
}

/// `sign`: signs every migration of `dir`, or the ones named.
pub(crate) fn sign(dir: &Path, args: &SignArgs) -> anyhow::Result<u8> {
    let key = PrivateKey::read(&args.key)?;
    let migrations = MigrationSource::new(dir).load()?;
    for id in &args.ids {
        if !migrations.iter().any(|m| &m.id == id) {
            anyhow::bail!(
                "no migration {id} in {}; `mongoshift status` lists them",
                dir.display()
            );
        }
    }
    let chosen: Vec<_> = migrations
        .iter()
        .filter(|m| args.ids.is_empty() || args.ids.contains(&m.id))
        .collect();
    if chosen.is_empty() {
        println!("no migrations to sign in {}", dir.display());
    }
    for m in chosen {
        let path = signing::sign(m, &key)?;
        println!("signed {} with key {} ({})", m.id, key.id(), path.display());
    }
    Ok(exit::OK)
}

/// `verify --signatures`: every migration of `dir` checked against the
/// trusted keys; each refusal named, exit code [`exit::MISMATCH`] if any.
pub(crate) fn verify(
    dir: &Path,
    trust: &TrustArgs,
    policy: Option<&mongoshift::policy::PolicySource>,
) -> anyhow::Result<u8> {
    let mut keys = trust.keys()?;
    // Without keys on the command line, the operator's policy's.
    if let (true, Some(p)) = (keys.is_empty(), policy) {
        let rule = p.load(dir).map_err(mongoshift::MigrateError::from)?;
        if let Some(rule) = rule.and_then(|p| p.signature_rule()) {
            keys = rule.keys;
        }
    }
    if keys.is_empty() {
        return Err(SigningError::NoTrustedKeys.into());
    }
    let migrations = MigrationSource::new(dir).load()?;
    let mut rows = Vec::new();
    let mut refused = Vec::new();
    for m in &migrations {
        match signing::check(m, &keys) {
            Ok(s) => rows.push(vec![m.id.clone(), "ok".into(), s.to_string()]),
            Err(e) if e.is_refusal() => {
                rows.push(vec![m.id.clone(), refusal(&e).into(), "-".into()]);
                refused.push(e);
            }
            Err(e) => return Err(e.into()),
        }
    }
    if rows.is_empty() {
        println!("no migrations in {}", dir.display());
    } else {
        crate::render::table(&["ID", "SIGNATURE", "SIGNER"], &rows);
    }
    for e in &refused {
        eprintln!("error: {e}");
    }
    if refused.is_empty() {
        return Ok(exit::OK);
    }
    eprintln!(
        "error: {} migration(s) refused: unsigned, changed since signed, or not signed by a trusted key",
        refused.len()
    );
    Ok(exit::MISMATCH)
}

/// The word `verify --signatures` shows for a refusal.
fn refusal(e: &SigningError) -> &'static str {
    match e {
        SigningError::Unsigned { .. } => "UNSIGNED",
        SigningError::Untrusted { .. } => "UNTRUSTED",
        SigningError::Altered { .. } => "ALTERED",
        _ => "INVALID",
    }
}
