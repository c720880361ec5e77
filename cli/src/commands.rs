//! One function per command: it calls the engine and renders the result.
//! `new` and `build` work on files only; the rest get a connected
//! [`Migrator`].

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use mongoshift::metrics::{Metrics, MetricsServer};
use mongoshift::partition::{self, DistributedOptions};
use mongoshift::verify::VerifyOptions;
use mongoshift::{DownTarget, MigrationSource, Migrator, UnlockOutcome, UpOptions};

use crate::args::{DownArgs, PlanArgs, ProgressMode, UpArgs, VerifyArgs};
use crate::build::{self, Language};
use crate::render::{self, ProgressRenderer};
use crate::{exit, scaffold};

/// `new`: writes a migration from a template into `dir`.
pub(crate) fn new(
    dir: &Path,
    name: &str,
    kind: &str,
    collection: &str,
    lang: &str,
) -> anyhow::Result<u8> {
    let language: Language = lang.parse().map_err(|e: String| anyhow::anyhow!(e))?;
    if kind != "wasm" && language != Language::Rust {
        anyhow::bail!("--lang applies to --kind wasm only");
    }
    let path = match kind {
        "update" => scaffold::new_update_migration(dir, name, collection)?,
        "wasm" => scaffold::new_wasm_migration_in(dir, name, collection, language)?,
        "python" => scaffold::new_python_migration(dir, name, collection)?,
        other => anyhow::bail!(
            "unknown migration kind `{other}`; known kinds: {}, python",
            mongoshift::manifest::KNOWN_KINDS.join(", ")
        ),
    };
    println!("created {}", path.display());
    if kind == "python" {
        println!(
            "edit {}, then run `mongoshift test` (its fixture is in {}/tests/)",
            path.display(),
            dir.display()
        );
    }
    if kind == "wasm" {
        let file = match language {
            Language::C => "transform.c",
            Language::AssemblyScript => "index.ts",
            Language::JavaScript => "index.js",
            Language::Python => "app.py",
            _ => "src/lib.rs",
        };
        println!(
            "edit {}/guest/{file}, then run `mongoshift build` and `mongoshift test`",
            path.display()
        );
    }
    Ok(exit::OK)
}

/// `build`: compiles the guests of the migrations in `dir` (or only `id`,
/// which may also be a directory holding one migration).
pub(crate) fn build(dir: &Path, id: Option<&str>) -> anyhow::Result<u8> {
    let one_dir = id
        .map(Path::new)
        .filter(|p| p.join(mongoshift::source::MANIFEST_FILE).is_file());
    let built = match one_dir {
        Some(one) => vec![build::build_dir(one)?],
        None => build::build_all(&MigrationSource::new(dir), id)?,
    };
    if built.is_empty() {
        println!("nothing to build: no wasm migration with a `build` folder");
    }
    for b in built {
        println!(
            "built {} ({} bytes, {}) for {}",
            b.module.display(),
            b.bytes,
            b.language,
            b.id
        );
    }
    Ok(exit::OK)
}

/// `status`.
pub(crate) async fn status(migrator: &Migrator, json: bool) -> anyhow::Result<u8> {
    let rows = migrator.status().await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        render::status_table(&rows);
        let parts = partition::all_partitions(migrator.target()).await?;
        render::partitions(&partition::counts(&parts));
    }
    Ok(exit::OK)
}

/// `workers`: who holds partitions now.
pub(crate) async fn workers(migrator: &Migrator, json: bool) -> anyhow::Result<u8> {
    let parts = partition::all_partitions(migrator.target()).await?;
    let live = partition::live_workers(&parts);
    if json {
        let counts = partition::counts(&parts);
        let out = serde_json::json!({ "workers": live, "migrations": counts });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        render::workers(&live, &partition::counts(&parts));
    }
    Ok(exit::OK)
}

/// `plan`.
pub(crate) async fn plan(migrator: &Migrator, args: PlanArgs) -> anyhow::Result<u8> {
    let plan = match args.down_steps {
        Some(n) => migrator.plan_down(&DownTarget::Steps(n)).await?,
        None => {
            migrator
                .plan_up(&UpOptions {
                    to: args.to,
                    strategy: args.strategy,
                    allow_out_of_order: args.allow_out_of_order,
                    ..UpOptions::default()
                })
                .await?
        }
    };
    let distributed = match args.partition_docs {
        _ if !args.distributed => None,
        Some(n) => Some(DistributedOptions::new("").partition_docs(n)),
        None => Some(DistributedOptions::new("")),
    };
    let rows = match &distributed {
        Some(d) => Some(migrator.plan_distributed(&UpOptions::default(), d).await?),
        None => None,
    };
    match (args.json, rows) {
        (true, None) => println!("{}", serde_json::to_string_pretty(&plan)?),
        (true, Some(rows)) => {
            let out = serde_json::json!({ "plan": plan, "distributed": rows });
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        (false, rows) => {
            render::plan(&plan);
            if let Some(rows) = rows {
                render::distributed_plan(&rows);
            }
        }
    }
    Ok(exit::OK)
}

/// `up`, or with `--dry-run` a report of what it would change.
pub(crate) async fn up(
    migrator: &Migrator,
    args: UpArgs,
    renderer: &ProgressRenderer,
) -> anyhow::Result<u8> {
    let opts = args.options();
    if args.dry_run {
        let report = migrator.dry_run(&opts, args.sample).await?;
        if renderer.mode() == ProgressMode::Json {
            println!("{}", serde_json::to_string(&report)?);
        } else {
            render::dry_run(&report);
        }
        return Ok(exit::OK);
    }
    let dist = args.distributed.options();
    // Listening comes first: an address in use stops the run before it
    // takes the lock.
    let (migrator, _metrics) = match &args.metrics.metrics_addr {
        Some(addr) => {
            let worker = dist.as_ref().map_or("", |d| d.worker.as_str());
            let metrics = Arc::new(Metrics::new(worker));
            let server = MetricsServer::start(addr, metrics.clone())?;
            eprintln!("serving metrics at http://{}/metrics", server.addr());
            (migrator.clone().also_progress(metrics), Some(server))
        }
        None => (migrator.clone(), None),
    };
    let res = match dist {
        Some(dist) => migrator.up_distributed(&opts, &dist).await,
        None => migrator.up(&opts).await,
    };
    renderer.finish();
    render::report(&res?, "applied", renderer.mode());
    Ok(exit::OK)
}

/// `down`.
pub(crate) async fn down(
    migrator: &Migrator,
    args: DownArgs,
    renderer: &ProgressRenderer,
) -> anyhow::Result<u8> {
    let res = migrator.down_with(&args.target(), &args.options()).await;
    renderer.finish();
    render::report(&res?, "rolled back", renderer.mode());
    Ok(exit::OK)
}

/// `verify`: fails with [`exit::MISMATCH`] when a checksum differs; with
/// `--data`, when a document differs from what its run kept.
pub(crate) async fn verify(migrator: &Migrator, args: VerifyArgs) -> anyhow::Result<u8> {
    if let Some(id) = &args.data {
        let options = VerifyOptions::default().show(args.show);
        let report = migrator.verify_data(id, options).await?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            render::verify_data(&report);
        }
        if report.clean() {
            return Ok(exit::OK);
        }
        eprintln!(
            "error: {} document(s) of {} differ from what its run kept ({} differing, {} missing, {} extra)",
            report.differing + report.missing + report.extra,
            report.migration,
            report.differing,
            report.missing,
            report.extra
        );
        return Ok(exit::MISMATCH);
    }
    let rows = migrator.verify().await?;
    let bad = render::verify(&rows);
    if bad > 0 {
        eprintln!("error: {bad} applied migration(s) differ from the files on disk");
        return Ok(exit::MISMATCH);
    }
    Ok(exit::OK)
}

/// `prune`.
pub(crate) async fn prune(
    migrator: &Migrator,
    id: Option<&str>,
    older_than_days: u64,
) -> anyhow::Result<u8> {
    let pruned = migrator
        .prune(id, Duration::from_secs(older_than_days * 86_400))
        .await?;
    if pruned.is_empty() {
        println!("no pre-images to prune");
    }
    for (id, coll) in pruned {
        println!(
            "dropped {coll} (pre-images of {id}); `down` of {id} now needs a backward transform"
        );
    }
    Ok(exit::OK)
}

/// `baseline`.
pub(crate) async fn baseline(migrator: &Migrator, to: &str) -> anyhow::Result<u8> {
    let ids = migrator.baseline(to).await?;
    for id in &ids {
        println!("baselined {id} (recorded as applied, not run)");
    }
    println!("{} migration(s) baselined up to {to}", ids.len());
    Ok(exit::OK)
}

/// `unlock`.
pub(crate) async fn unlock(migrator: &Migrator, force: bool) -> anyhow::Result<u8> {
    match migrator.unlock(force).await? {
        UnlockOutcome::NotLocked => println!("the migration lock is not held"),
        UnlockOutcome::Cleared { owner, reason } => {
            println!("cleared the lock held by {owner} ({reason})")
        }
    }
    Ok(exit::OK)
}

/// `pause` (`paused`) or `resume`: sets or clears the flag the running
/// migration obeys between batches.
pub(crate) async fn pause(migrator: &Migrator, id: &str, paused: bool) -> anyhow::Result<u8> {
    if paused {
        migrator.pause(id).await?;
        println!(
            "paused {id}: its run commits the batch in hand and waits, holding its lock; \
             `mongoshift resume {id}` lets it go on"
        );
    } else {
        migrator.resume(id).await?;
        println!("resumed {id}");
    }
    Ok(exit::OK)
}

/// `swap`: asks the rewrite waiting for its cut-over to swap.
pub(crate) async fn swap(migrator: &Migrator, id: &str) -> anyhow::Result<u8> {
    migrator.swap(id).await?;
    println!(
        "asked {id} to swap: its run drains the change stream and swaps within about a second; \
         `mongoshift status` shows the swap window once it is applied"
    );
    Ok(exit::OK)
}
