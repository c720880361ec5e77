//! `up --metrics-addr`: the run's metrics served while it goes on (scraped
//! here while a throttled run writes), and the addresses it cannot use,
//! refused before anything runs. `python/tests/test_metrics.py` reads the
//! same endpoint with Prometheus's own parser.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Stdio;
use std::time::{Duration, Instant};

use bson::doc;
use predicates::prelude::*;

use crate::pause::{spawn_up, wait_for};
use crate::swap::app;
use crate::throttle::{counter_migration, each_once};
use crate::util::TestDb;

const MIG: &str = "20260601000000_count";

fn free_addr() -> String {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").to_string()
}

/// `GET path`: the status line and the body.
fn get(addr: &str, path: &str) -> Option<(String, String)> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    Some((head.lines().next()?.to_string(), body.to_string()))
}

/// The value of the sample whose line starts with `prefix`.
fn sample(body: &str, prefix: &str) -> Option<f64> {
    body.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[test]
fn a_throttled_run_is_seen_in_its_metrics() {
    let t = TestDb::new("metrics_scrape");
    t.seed_users(20_000);
    counter_migration(&t, "batch_size = 500\n");
    let addr = free_addr();
    let mut run = t
        .std_cmd()
        .args(["up", "--max-rate", "4000", "--metrics-addr", &addr])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn up");
    let m = format!("migration=\"{MIG}\"");
    let deadline = Instant::now() + Duration::from_secs(60);
    let body = loop {
        assert!(Instant::now() < deadline, "never saw the run throttled");
        if let Some((status, body)) = get(&addr, "/metrics") {
            assert!(status.contains("200"), "{status}");
            let read = sample(&body, &format!("mongoshift_documents_read_total{{{m}"));
            let throttled = sample(
                &body,
                &format!("mongoshift_throttled{{{m},reason=\"rate\"}}"),
            );
            if read.is_some_and(|r| r >= 1000.0) && throttled == Some(1.0) {
                break body;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let batches = sample(&body, &format!("mongoshift_batches_total{{{m}")).expect(&body);
    assert!(batches >= 2.0, "{body}");
    let phase = sample(
        &body,
        &format!("mongoshift_phase{{{m},phase=\"applying\"}}"),
    );
    assert_eq!(phase, Some(1.0), "{body}");
    assert!(
        body.contains("# TYPE mongoshift_documents_read counter"),
        "{body}"
    );
    assert!(body.trim_end().ends_with("# EOF"), "{body}");
    let (status, _) = get(&addr, "/other").expect("answers");
    assert!(status.contains("404"), "{status}");
    assert!(run.wait().expect("wait").success());
    each_once(&t, 20_000);
}

/// A rewrite whose cut-over is postponed: while it waits for `swap`, its
/// phase says so and how far the copy is behind is a gauge.
#[test]
fn a_rewrite_waiting_for_its_swap_shows_its_phase_backlog_and_lag() {
    let t = TestDb::new("metrics_swap_wait");
    app::seed(&t, 5_000);
    app::rewrite(&t, false, "");
    let addr = free_addr();
    let (mut run, events) = spawn_up(&t, &["--postpone-swap", "--metrics-addr", &addr]);
    let mut seen = Vec::new();
    wait_for(&events, "swap_waiting", &mut seen);
    let m = format!("migration=\"{}\"", app::MIG);
    let (_, body) = get(&addr, "/metrics").expect("the endpoint answers while it waits");
    let phase = |p: &str| sample(&body, &format!("mongoshift_phase{{{m},phase=\"{p}\"}}"));
    assert_eq!(phase("waiting_for_swap"), Some(1.0), "{body}");
    assert_eq!(phase("applying"), Some(0.0), "{body}");
    assert_eq!(phase("swapping"), Some(0.0), "{body}");
    let backlog = sample(&body, &format!("mongoshift_change_stream_backlog{{{m}}}"));
    assert!(backlog.is_some_and(|b| b >= 0.0), "{body}");
    let lag = sample(
        &body,
        &format!("mongoshift_change_stream_lag_seconds{{{m}}}"),
    );
    assert!(lag.is_some_and(|l| l >= 0.0), "{body}");
    assert!(
        body.contains("# TYPE mongoshift_change_stream_backlog gauge"),
        "{body}"
    );
    t.cmd().args(["swap", app::MIG]).assert().success();
    wait_for(&events, "swap_requested", &mut seen);
    assert!(run.wait().expect("wait").success(), "{seen:?}");
    assert_eq!(t.count("users", doc! { "n": 1 }), 5_000);
}

#[test]
fn addresses_it_cannot_listen_on_are_refused_before_anything_runs() {
    let t = TestDb::new("metrics_refused");
    t.seed_users(100);
    counter_migration(&t, "");
    let busy = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = busy.local_addr().expect("addr").to_string();
    t.cmd()
        .args(["up", "--metrics-addr", &addr])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(format!(
            "cannot serve metrics on {addr}"
        )))
        .stderr(predicate::str::contains("nothing was run"));
    t.cmd()
        .args(["up", "--metrics-addr", "9464"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "cannot serve metrics on 9464: expected HOST:PORT",
        ));
    t.cmd()
        .args([
            "up",
            "--databases",
            "tenant_*",
            "--metrics-addr",
            &free_addr(),
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "--metrics-addr serves the metrics of one database's run",
        ));
    assert!(t.ledger().is_empty());
    assert_eq!(t.count("users", doc! { "n": 0 }), 100);
}
