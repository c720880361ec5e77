//! The target deployment: connecting, what it can do, and keeping secrets out of
//! messages.

use std::time::Duration;

use bson::doc;
use mongodb::options::ClientOptions;
use mongodb::{Client, Database};

use crate::error::{redact_message, redact_uri, remember_secret_of, MigrateError, Result};

/// The cursor batch size of reads the engine needs whole inside a batch's
/// transaction (re-reads, lookups): everything in the first reply, instead of
/// the driver's default first reply of 101 documents and a `getMore` round
/// trip for the rest (the server still caps each reply at 16 MiB).
pub(crate) const WHOLE_REPLY: u32 = 1_000_000;

/// How to reach the target.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// The connection string.
    pub uri: String,
    /// The database; when `None`, the one named in the URI.
    pub database: Option<String>,
    /// How long to wait for the server before giving up.
    pub connect_timeout: Duration,
}

impl ConnectOptions {
    /// Options for `uri` with defaults: the URI's database, a 10 s timeout.
    pub fn new(uri: impl Into<String>) -> Self {
        ConnectOptions {
            uri: uri.into(),
            database: None,
            connect_timeout: Duration::from_secs(10),
        }
    }

    /// Sets the target database.
    pub fn database(mut self, db: impl Into<String>) -> Self {
        self.database = Some(db.into());
        self
    }

    /// Sets how long to wait for the server.
    pub fn connect_timeout(mut self, t: Duration) -> Self {
        self.connect_timeout = t;
        self
    }
}

/// What kind of deployment the target is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Topology {
    /// A replica set (transactions available).
    ReplicaSet,
    /// A sharded cluster behind mongos (transactions available).
    Sharded,
    /// A single standalone server (no transactions).
    Standalone,
}

/// A connected target database.
#[derive(Debug, Clone)]
pub struct Target {
    client: Client,
    db: Database,
    hosts: String,
    topology: Topology,
    /// Data-bearing members `hello` lists (1 on a standalone or a lone
    /// replica-set member).
    members: usize,
    /// `hello.maxWireVersion`: 17 is MongoDB 6.0.
    wire_version: i32,
    /// `hello.maxWriteBatchSize`: the most statements one write command
    /// may carry.
    max_write_batch: usize,
}

impl Target {
    /// Runs a raw command, in `session` when given (inside its transaction,
    /// if one is open).
    pub(crate) async fn run_raw(
        &self,
        cmd: bson::RawDocumentBuf,
        session: Option<&mut mongodb::ClientSession>,
    ) -> mongodb::error::Result<bson::Document> {
        let op = self.db().run_raw_command(cmd);
        match session {
            Some(s) => op.session(s).await,
            None => op.await,
        }
    }

    /// [`Target::run_raw`] in database `db` of the same deployment.
    pub(crate) async fn run_raw_in(
        &self,
        db: &str,
        cmd: bson::RawDocumentBuf,
        session: Option<&mut mongodb::ClientSession>,
    ) -> mongodb::error::Result<bson::Document> {
        let db = self.client.database(db);
        let op = db.run_raw_command(cmd);
        match session {
            Some(s) => op.session(s).await,
            None => op.await,
        }
    }

    /// Connects and checks that the server answers within the timeout.
    pub async fn connect(opts: &ConnectOptions) -> Result<Target> {
        let masked = redact_uri(&opts.uri);
        remember_secret_of(&opts.uri);
        let mut co =
            ClientOptions::parse(&opts.uri)
                .await
                .map_err(|e| MigrateError::InvalidUri {
                    uri: masked.clone(),
                    message: driver_message(&e),
                })?;
        let hosts = co
            .hosts
            .iter()
            .map(|h| h.to_string())
            .collect::<Vec<_>>()
            .join(",");
        co.app_name.get_or_insert_with(|| "mongoshift".to_string());
        co.server_selection_timeout = Some(opts.connect_timeout);
        co.connect_timeout = Some(opts.connect_timeout.min(Duration::from_secs(10)));
        let db_name = opts
            .database
            .clone()
            .or_else(|| co.default_database.clone())
            .ok_or(MigrateError::NoDatabase)?;
        let client = Client::with_options(co).map_err(|e| MigrateError::InvalidUri {
            uri: masked.clone(),
            message: redact_message(&e.to_string()),
        })?;
        let db = client.database(&db_name);
        let hello = match db.run_command(doc! { "hello": 1 }).await {
            Ok(hello) => hello,
            Err(e) => {
                close(client).await;
                return Err(classify_connect_error(&hosts, opts.connect_timeout, e));
            }
        };
        let topology = if hello.get_str("msg").is_ok_and(|m| m == "isdbgrid") {
            Topology::Sharded
        } else if hello.get_str("setName").is_ok() {
            Topology::ReplicaSet
        } else {
            Topology::Standalone
        };
        let members = hello.get_array("hosts").map_or(1, |h| h.len().max(1));
        let wire_version = match hello.get("maxWireVersion") {
            Some(bson::Bson::Int32(v)) => *v,
            Some(bson::Bson::Int64(v)) => i32::try_from(*v).unwrap_or(i32::MAX),
            _ => 0,
        };
        let max_write_batch = match hello.get("maxWriteBatchSize") {
            Some(bson::Bson::Int32(v)) => usize::try_from(*v).unwrap_or(0),
            Some(bson::Bson::Int64(v)) => usize::try_from(*v).unwrap_or(0),
            _ => 0,
        };
        Ok(Target {
            client,
            db,
            hosts,
            topology,
            members,
            wire_version,
            // MongoDB's limit since 3.6 where a server does not say.
            max_write_batch: if max_write_batch == 0 {
                100_000
            } else {
                max_write_batch
            },
        })
    }

    /// The same deployment, another database: one client (and one
    /// connection pool) serves every database of a fleet.
    pub fn for_database(&self, name: &str) -> Target {
        Target {
            client: self.client.clone(),
            db: self.client.database(name),
            hosts: self.hosts.clone(),
            topology: self.topology,
            members: self.members,
            wire_version: self.wire_version,
            max_write_batch: self.max_write_batch,
        }
    }

    /// Ends this client's server sessions and closes its connections; the
    /// target (and every clone of it) is unusable afterwards. Call it before
    /// the async runtime stops: a client that is only dropped leaves this to a
    /// background task, which can race the runtime's shutdown (the driver then
    /// panics in a worker thread after the work is done).
    pub async fn close(self) {
        close(self.client).await;
    }

    /// The driver client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The target database.
    pub fn db(&self) -> &Database {
        &self.db
    }

    /// The hosts, for messages (never the password).
    pub fn hosts(&self) -> &str {
        &self.hosts
    }

    /// The server's newest wire protocol version (`hello.maxWireVersion`;
    /// 17 is MongoDB 6.0).
    pub fn wire_version(&self) -> i32 {
        self.wire_version
    }

    /// The most statements one write command may carry
    /// (`hello.maxWriteBatchSize`).
    pub(crate) fn max_write_batch(&self) -> usize {
        self.max_write_batch
    }

    /// The server's topology.
    pub fn topology(&self) -> Topology {
        self.topology
    }

    /// How many data-bearing members the deployment's `hello` lists (1 on a
    /// standalone server or a lone replica-set member; the shard routers'
    /// own count behind mongos).
    pub fn members(&self) -> usize {
        self.members
    }

    /// Whether multi-document transactions are available.
    pub fn supports_transactions(&self) -> bool {
        self.topology != Topology::Standalone
    }
}

/// Shuts `client` down, waiting a few seconds at most for the clean-up of
/// handles dropped just before (a cursor, a session in a transaction).
async fn close(client: Client) {
    let waited = tokio::time::timeout(Duration::from_secs(5), client.clone().shutdown()).await;
    if waited.is_err() {
        client.shutdown().immediate(true).await;
    }
}

fn classify_connect_error(
    hosts: &str,
    timeout: Duration,
    e: mongodb::error::Error,
) -> MigrateError {
    use mongodb::error::ErrorKind;
    let full = redact_message(&e.to_string());
    match &*e.kind {
        ErrorKind::Authentication { message, .. } => MigrateError::Auth {
            hosts: hosts.into(),
            message: redact_message(message),
        },
        ErrorKind::Command(c) if c.code == 18 || c.code == 13 => MigrateError::Auth {
            hosts: hosts.into(),
            message: redact_message(&c.message),
        },
        ErrorKind::ServerSelection { message, .. } => {
            // The driver keeps the last handshake's failure only as text in
            // the selection error's message: no code to read here.
            if full.contains("AuthenticationFailed") || full.contains("SCRAM failure") {
                return MigrateError::Auth {
                    hosts: hosts.into(),
                    message: "authentication failed".into(),
                };
            }
            MigrateError::Unreachable {
                hosts: hosts.into(),
                seconds: timeout.as_secs().max(1),
                message: server_selection_reason(message),
            }
        }
        ErrorKind::Io(io) => MigrateError::Unreachable {
            hosts: hosts.into(),
            seconds: timeout.as_secs().max(1),
            message: io.to_string(),
        },
        _ => MigrateError::db(format!("cannot talk to MongoDB at {hosts}"), e),
    }
}

/// Pulls the first per-server error out of the driver's topology description.
fn server_selection_reason(message: &str) -> String {
    let message = redact_message(message);
    if let Some(i) = message.find("I/O error: ") {
        let rest = &message[i + "I/O error: ".len()..];
        return rest.split(", labels").next().unwrap_or(rest).to_string();
    }
    if let Some(i) = message.find("Error: ") {
        let rest = &message[i + "Error: ".len()..];
        return rest
            .split(", labels")
            .next()
            .unwrap_or(rest)
            .trim_start_matches("Kind: ")
            .to_string();
    }
    "no server answered".into()
}

/// The driver's own message without its debug dump.
fn driver_message(e: &mongodb::error::Error) -> String {
    use mongodb::error::ErrorKind;
    let m = match &*e.kind {
        ErrorKind::InvalidArgument { message, .. } => message.clone(),
        ErrorKind::Authentication { message, .. } => message.clone(),
        ErrorKind::Command(c) => c.message.clone(),
        _ => e.to_string(),
    };
    redact_message(&m)
}
