//! A run ends cleanly: nothing on stderr but what the run says, however the
//! process's threads happen to wind down.

use crate::util::{text, TestDb};

/// `up` with nothing to do, many times (4 at once): the driver's clean-up of
/// the connection once raced the shutdown of the async runtime and printed a
/// panic after the run had succeeded. A race, so many runs.
#[test]
fn up_with_nothing_to_do_never_prints_a_panic() {
    let t = TestDb::new("noop_panic");
    t.write(
        "20260101000000_a.toml",
        "kind = \"update\"\ncollection = \"users\"\n[[forward]]\nop = \"update_many\"\nfilter = {}\nupdate = { \"$set\" = { s = 1 } }\n",
    );
    t.cmd().arg("up").assert().success();
    let runs_each = 100;
    let failures: Vec<String> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    let mut bad = Vec::new();
                    for _ in 0..runs_each {
                        let out = t
                            .std_cmd()
                            .args(["--progress", "none", "up"])
                            .output()
                            .expect("run");
                        let (stdout, stderr) = text(&out);
                        if !out.status.success() || !stderr.is_empty() {
                            bad.push(format!("{:?}\n{stdout}{stderr}", out.status));
                        }
                    }
                    bad
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("worker"))
            .collect()
    });
    assert!(
        failures.is_empty(),
        "{} of {} runs did not end cleanly; the first:\n{}",
        failures.len(),
        4 * runs_each,
        failures[0]
    );
}
