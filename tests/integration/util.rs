//! Test harness: local servers shared by a few dozen tests each (or
//! `MONGODB_URI`), one database per test, and the CLI driven as a process.

use std::path::{Path, PathBuf};
use std::process::{Child, Command as StdCommand, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use bson::{doc, Document};
use mongodb::{Client, Database};

/// The shared runtime the tests' driver calls run on.
pub fn rt() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime")
    })
}

/// Runs a future on the shared runtime.
pub fn block_on<F: std::future::IntoFuture>(f: F) -> F::Output {
    rt().block_on(f.into_future())
}

/// A throwaway server process with its own storage, stopped and deleted when
/// the process that started it exits.
#[derive(Debug)]
pub struct LocalServer {
    pub uri: String,
    #[allow(dead_code)]
    pub port: u16,
    pub storage: PathBuf,
    child: Child,
}

impl LocalServer {
    /// Starts a server; `extra` are further flags (e.g. `--standalone`).
    pub fn start(extra: &[&str]) -> LocalServer {
        Self::start_at(None, extra)
    }

    /// Starts a server on `port` (0: any free port) with fresh storage.
    pub fn start_at(port: Option<u16>, extra: &[&str]) -> LocalServer {
        static N: AtomicUsize = AtomicUsize::new(0);
        let storage = std::env::temp_dir().join(format!(
            "mongoshift-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&storage);
        std::fs::create_dir_all(&storage).expect("storage dir");
        Self::spawn(storage, port.unwrap_or(0), extra)
    }

    fn spawn(storage: PathBuf, port: u16, extra: &[&str]) -> LocalServer {
        // `scripts/server run` holds the flags every local server gets and
        // execs the server, so this child is the server itself.
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/server");
        let mut cmd = StdCommand::new(script);
        cmd.arg("run")
            .arg("--storage")
            .arg(&storage)
            .args(["--cache", "256M", "--port", &port.to_string(), "--"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .stdin(Stdio::null());
        die_with_parent(&mut cmd);
        let mut child = cmd.spawn().expect("start scripts/server run");
        let stdout = child.stdout.take().expect("stdout");
        let mut reader = std::io::BufReader::new(stdout);
        let mut line = String::new();
        let port = loop {
            line.clear();
            let n =
                std::io::BufRead::read_line(&mut reader, &mut line).expect("read server stdout");
            assert!(n > 0, "secantusd-rs exited before reporting its port");
            if let Some(addr) = line.trim().strip_prefix("secantusd-rs listening on ") {
                break addr
                    .rsplit(':')
                    .next()
                    .and_then(|p| p.parse::<u16>().ok())
                    .expect("port");
            }
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut sink = std::io::sink();
            let _ = std::io::copy(&mut reader, &mut sink);
        });
        LocalServer {
            uri: format!("mongodb://127.0.0.1:{port}"),
            port,
            storage,
            child,
        }
    }

    /// Stops the server (SIGTERM, then SIGKILL), keeping its storage.
    pub fn stop(&mut self) {
        // SAFETY: sending a signal to our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.storage);
    }
}

/// Makes the child get SIGKILL when the thread that spawned it exits.
fn die_with_parent(cmd: &mut StdCommand) {
    use std::os::unix::process::CommandExt;
    // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
}

/// How many tests share one local server before the next test gets a fresh
/// one: secantusd-rs keeps memory for everything written to it (dropped
/// databases included), so one server for the whole suite grows past what
/// the machine has.
const TESTS_PER_SERVER: usize = 40;

/// A local server for the next test, shared with up to
/// [`TESTS_PER_SERVER`] tests; it stops when the last of them is done.
/// `None` when `MONGODB_URI` names the deployment to test against.
pub fn pooled_server() -> Option<Arc<LocalServer>> {
    type Pool = Mutex<(Option<Arc<LocalServer>>, usize)>;
    static POOL: OnceLock<Pool> = OnceLock::new();
    if std::env::var_os("MONGODB_URI").is_some() {
        return None;
    }
    let pool = POOL.get_or_init(|| {
        clean_stale_storage();
        Mutex::new((None, 0))
    });
    let mut pool = pool.lock().unwrap_or_else(|e| e.into_inner());
    if pool.0.is_none() || pool.1 >= TESTS_PER_SERVER {
        *pool = (Some(Arc::new(spawn_long_lived())), 0);
    }
    pool.1 += 1;
    pool.0.clone()
}

/// Starts a server from a thread that lives as long as the test binary: a
/// server gets SIGKILL when the thread that started it ends, and a test's
/// own thread ends with the test.
fn spawn_long_lived() -> LocalServer {
    type Request = mpsc::Sender<LocalServer>;
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<Request>>> = OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Request>();
        std::thread::spawn(move || {
            for reply in rx {
                let _ = reply.send(LocalServer::start(&[]));
            }
        });
        Mutex::new(tx)
    });
    let (tx, rx) = mpsc::channel();
    spawner
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .send(tx)
        .expect("server spawner");
    rx.recv().expect("a started server")
}

fn clean_stale_storage() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(rest) = name.strip_prefix("mongoshift-test-") {
            let pid: i32 = rest
                .split('-')
                .next()
                .and_then(|p| p.parse().ok())
                .unwrap_or(0);
            // SAFETY: signal 0 only checks existence.
            if pid > 0 && unsafe { libc::kill(pid, 0) } != 0 {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
}

/// A test's own database and project directory.
pub struct TestDb {
    pub uri: String,
    pub name: String,
    pub client: Client,
    pub dir: tempfile::TempDir,
    /// The pooled server the database lives on, kept running while it does.
    server: Option<Arc<LocalServer>>,
}

impl TestDb {
    /// A fresh database on a pooled server (or `MONGODB_URI`), named
    /// after the test.
    pub fn new(test: &str) -> TestDb {
        match pooled_server() {
            Some(server) => {
                let mut t = Self::on(&server.uri, test);
                t.server = Some(server);
                t
            }
            None => Self::on(&std::env::var("MONGODB_URI").unwrap_or_default(), test),
        }
    }

    /// A fresh database on a server of its own, for the heaviest tests
    /// (hundreds of thousands of documents, runs killed while an application
    /// writes): on the shared server, which by then holds the whole suite's
    /// databases and history, secantusd-rs's memory grew past what the CI
    /// machine has. Keep the server alive as long as the database.
    pub fn alone(test: &str) -> (LocalServer, TestDb) {
        let server = LocalServer::start(&[]);
        let t = Self::on(&server.uri, test);
        (server, t)
    }

    /// A fresh database on the server at `uri`.
    pub fn on(uri: &str, test: &str) -> TestDb {
        static N: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "t_{}_{}_{}",
            &test[..test.len().min(30)],
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        let client = block_on(Client::with_uri_str(uri)).expect("client");
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("migrations")).expect("migrations dir");
        let db = TestDb {
            uri: uri.to_string(),
            name,
            client,
            dir,
            server: None,
        };
        block_on(db.db().drop()).expect("drop leftover database");
        db
    }

    pub fn db(&self) -> Database {
        self.client.database(&self.name)
    }

    pub fn migrations(&self) -> PathBuf {
        self.dir.path().join("migrations")
    }

    /// Writes a migration file into the project's migrations directory.
    pub fn write(&self, file: &str, text: &str) -> PathBuf {
        let p = self.migrations().join(file);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&p, text).expect("write migration");
        p
    }

    /// The CLI, pointed at this database and project, plain progress.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(bin());
        c.current_dir(self.dir.path())
            .env("MONGODB_URI", &self.uri)
            .env("MONGOSHIFT_DB", &self.name)
            .env("MONGOSHIFT_PROGRESS", "plain")
            .timeout(Duration::from_secs(300));
        c
    }

    /// The CLI as a std process (for running several at once).
    pub fn std_cmd(&self) -> StdCommand {
        let mut c = StdCommand::new(bin());
        c.current_dir(self.dir.path())
            .env("MONGODB_URI", &self.uri)
            .env("MONGOSHIFT_DB", &self.name)
            .env("MONGOSHIFT_PROGRESS", "plain");
        c
    }

    /// Starts `up` once per delay and SIGKILLs it after that many
    /// milliseconds if it is still running; calls `after` after each run.
    /// Returns how many runs were killed.
    pub fn up_killed_after(&self, delays_ms: &[u64], mut after: impl FnMut()) -> usize {
        let mut kills = 0;
        for &d in delays_ms {
            let mut child = self
                .std_cmd()
                .arg("up")
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("spawn");
            std::thread::sleep(std::time::Duration::from_millis(d));
            if child.try_wait().expect("wait").is_none() {
                child.kill().expect("SIGKILL");
                kills += 1;
            }
            child.wait().expect("reap");
            after();
        }
        kills
    }

    /// Inserts `n` user documents `{_id: i, name, email, age, n: 0}`.
    pub fn seed_users(&self, n: i32) {
        let coll = self.db().collection::<Document>("users");
        block_on(async {
            let mut batch = Vec::with_capacity(10_000);
            for i in 0..n {
                batch.push(doc! {
                    "_id": i,
                    "name": format!("First{i} Last{i}"),
                    "email": format!("user{i}@example.com"),
                    "age": 20 + i % 50,
                    "n": 0,
                });
                if batch.len() == 10_000 {
                    coll.insert_many(std::mem::take(&mut batch))
                        .await
                        .expect("seed");
                }
            }
            if !batch.is_empty() {
                coll.insert_many(batch).await.expect("seed");
            }
        });
    }

    pub fn count(&self, coll: &str, filter: Document) -> u64 {
        block_on(
            self.db()
                .collection::<Document>(coll)
                .count_documents(filter),
        )
        .expect("count")
    }

    pub fn find(&self, coll: &str, filter: Document) -> Vec<Document> {
        use futures_util::TryStreamExt;
        block_on(async {
            self.db()
                .collection::<Document>(coll)
                .find(filter)
                .sort(doc! { "_id": 1 })
                .await?
                .try_collect()
                .await
        })
        .expect("find")
    }

    /// The `users` collection as raw BSON, by `_id`: for byte-for-byte comparisons.
    pub fn raw_users(&self) -> Vec<bson::RawDocumentBuf> {
        self.raw("users")
    }

    /// A collection as raw BSON, by `_id`.
    pub fn raw(&self, coll: &str) -> Vec<bson::RawDocumentBuf> {
        use futures_util::TryStreamExt;
        block_on(async {
            self.db()
                .collection::<bson::RawDocumentBuf>(coll)
                .find(doc! {})
                .sort(doc! { "_id": 1 })
                .await?
                .try_collect()
                .await
        })
        .expect("find")
    }

    /// The originals a pre-image collection keeps, `{_id, op, doc}` each, in
    /// record order: the entries of batch records (`zdocs`, or `docs` as an
    /// earlier version kept them) and the per-document records of earlier
    /// versions alike (outputs left out).
    pub fn pre_images(&self, coll: &str) -> Vec<Document> {
        self.raw_pre_images(coll)
            .iter()
            .map(|e| Document::try_from(e.as_ref()).expect("a pre-image"))
            .collect()
    }

    /// [`TestDb::pre_images`] as raw BSON, for byte-for-byte comparisons.
    pub fn raw_pre_images(&self, coll: &str) -> Vec<bson::RawDocumentBuf> {
        let mut out = Vec::new();
        for r in self.raw(coll) {
            if r.get_str("op") == Ok("output") {
                continue;
            }
            if let Some(entries) = unpack_zdocs(&r) {
                out.extend(entries);
                continue;
            }
            match r.get_array("docs") {
                Ok(docs) => out.extend(
                    docs.into_iter()
                        .filter_map(|d| d.ok()?.as_document().map(|d| d.to_raw_document_buf())),
                ),
                Err(_) => out.push(r),
            }
        }
        out
    }

    pub fn ledger(&self) -> Vec<Document> {
        self.find(mongoshift::LEDGER_COLLECTION, doc! {})
    }

    pub fn index_names(&self, coll: &str) -> Vec<String> {
        block_on(self.db().collection::<Document>(coll).list_index_names()).unwrap_or_default()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let db = self.db();
        // A fresh thread: Drop may run inside the runtime.
        let _ = std::thread::spawn(move || {
            let _ = block_on(db.drop());
        })
        .join();
    }
}

/// The `mongoshift` binary under test.
pub fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_mongoshift"))
}

/// stdout and stderr of an output, for messages.
pub fn text(out: &std::process::Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A TCP proxy in front of a server, to cut every connection for a while as a
/// server that goes away and comes back would.
pub struct CuttableProxy {
    pub uri: String,
    down: std::sync::Arc<std::sync::atomic::AtomicBool>,
    conns: std::sync::Arc<std::sync::Mutex<Vec<std::net::TcpStream>>>,
}

impl CuttableProxy {
    /// Listens on a free port and forwards to `upstream` (`host:port`).
    pub fn start(upstream: &str) -> CuttableProxy {
        use std::sync::atomic::AtomicBool;
        use std::sync::{Arc, Mutex};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let port = listener.local_addr().expect("addr").port();
        let down = Arc::new(AtomicBool::new(false));
        let conns: Arc<Mutex<Vec<std::net::TcpStream>>> = Arc::new(Mutex::new(Vec::new()));
        let (d, c, up) = (down.clone(), conns.clone(), upstream.to_string());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                if d.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let Ok(server) = std::net::TcpStream::connect(&up) else {
                    continue;
                };
                let mut list = c.lock().expect("conns");
                for s in [&client, &server] {
                    if let Ok(s) = s.try_clone() {
                        list.push(s);
                    }
                }
                drop(list);
                for (mut from, mut to) in [
                    (client.try_clone(), server.try_clone()),
                    (server.try_clone(), client.try_clone()),
                ]
                .into_iter()
                .filter_map(|(a, b)| Some((a.ok()?, b.ok()?)))
                {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(std::net::Shutdown::Both);
                    });
                }
            }
        });
        CuttableProxy {
            uri: format!("mongodb://127.0.0.1:{port}/?directConnection=true"),
            down,
            conns,
        }
    }

    /// Closes every connection and refuses new ones for `for_how_long`.
    pub fn cut(&self, for_how_long: Duration) {
        self.down.store(true, Ordering::SeqCst);
        for s in self.conns.lock().expect("conns").drain(..) {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
        std::thread::sleep(for_how_long);
        self.down.store(false, Ordering::SeqCst);
    }
}

/// The entries of a batch record's `zdocs`, read as docs/operations.md
/// describes the layout (one zstd frame of the entries' BSON, one after
/// another); `None` for a record without `zdocs`.
pub fn unpack_zdocs(record: &bson::RawDocument) -> Option<Vec<bson::RawDocumentBuf>> {
    let Ok(Some(bson::RawBsonRef::Binary(z))) = record.get("zdocs") else {
        return None;
    };
    let raw = zstd::bulk::decompress(z.bytes, 64 << 20).expect("zdocs decompresses");
    let mut out = Vec::new();
    let mut at = 0;
    while at < raw.len() {
        let len = i32::from_le_bytes(raw[at..at + 4].try_into().expect("a length")) as usize;
        out.push(bson::RawDocumentBuf::from_bytes(raw[at..at + len].to_vec()).expect("an entry"));
        at += len;
    }
    Some(out)
}

/// A batch record in the layout docs/operations.md describes, holding
/// `entries` (`{_id, op, doc}` each, in `_id` order).
pub fn packed_record(entries: &[bson::RawDocumentBuf]) -> bson::RawDocumentBuf {
    let id = |e: &bson::RawDocumentBuf| {
        e.get("_id")
            .expect("an entry")
            .expect("an _id")
            .to_raw_bson()
    };
    let mut ids = bson::RawArrayBuf::new();
    let mut raw = Vec::new();
    for e in entries {
        ids.push(id(e));
        raw.extend_from_slice(e.as_bytes());
    }
    let z = zstd::bulk::compress(&raw, 3).expect("compressed");
    let zdocs = bson::Binary {
        subtype: bson::spec::BinarySubtype::Generic,
        bytes: z,
    };
    bson::rawdoc! {
        "_id": id(&entries[0]),
        "last": id(&entries[entries.len() - 1]),
        "n": entries.len() as i32,
        "ids": ids,
        "zdocs": zdocs,
    }
}
