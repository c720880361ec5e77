"""Turns the benchmark suite's results (JSON lines) into a Markdown table and a
PNG chart. Called by scripts/bench:

    python bench/report.py results.jsonl bench/results/bench-1000000 DATE MACHINE SERVER COMMAND

A row run more than once (BENCH_REPEAT) is reported by its median time, with
the fastest and the slowest beside it; a row that failed in any round is
reported as failed.
"""

import json
import statistics
import sys

LABELS = {
    "loop": "Python load-modify-save loop (pymongo, replace_one per document)",
    "beanie": "Beanie iterative_migration (`beanie migrate`)",
    "beanie-no-tx": "Beanie iterative_migration without a transaction (`--no-use-transaction`)",
    "bulk": "pymongo loop with bulk_write batches of 1000",
    "wasm-in-place": "mongoshift, Wasm transform, in place",
    "wasm-in-place-no-tx": "mongoshift, Wasm transform, in place, `--transactions none`",
    "wasm-in-place-pre-images": "mongoshift, Wasm transform, in place, `--pre-images`",
    "wasm-rewrite": "mongoshift, Wasm transform, rewrite (copy and swap)",
    "python": "mongoshift, Python transform with a backward (in place)",
    "python-forward": "mongoshift, Python transform without a backward, defaults (in place, pre-images kept)",
    "floor-in-place": "floor: in place, replacements (no engine)",
    "floor-in-place-set": "floor: in place, $set/$unset (no engine)",
    "floor-in-place-conditional": "floor: in place, replacements of the document as read (no engine)",
    "floor-rewrite": "floor: rewrite, inserts + rename (no engine)",
}
FLOOR = {
    "wasm-in-place": "floor-in-place",
    "wasm-in-place-no-tx": "floor-in-place-conditional",
    "wasm-in-place-pre-images": "floor-in-place",
    "wasm-rewrite": "floor-rewrite",
    "python": "floor-in-place",
    "python-forward": "floor-in-place",
}

# A row named ROW@standalone ran on a standalone server without an oplog.
# There mongoshift runs without transactions by itself, so its writes are the
# conditional ones, and so is its floor.
STANDALONE = "@standalone"
STANDALONE_FLOOR = {
    "wasm-in-place": "floor-in-place-conditional",
    "wasm-in-place-no-tx": "floor-in-place-conditional",
    "python": "floor-in-place-conditional",
    "python-forward": "floor-in-place-conditional",
}


def label(row: str) -> str:
    """What the table calls a row."""
    if row.endswith(STANDALONE):
        base = row[: -len(STANDALONE)]
        return LABELS.get(base, base) + ", on a standalone server without an oplog"
    return LABELS.get(row, row)


def floor_of(row: str) -> str | None:
    """The row whose writes are the same as `row`'s without the engine."""
    if row.endswith(STANDALONE):
        floor = STANDALONE_FLOOR.get(row[: -len(STANDALONE)])
        return floor + STANDALONE if floor else None
    return FLOOR.get(row)


def median_of(rounds: list, key: str):
    """The median of `key` over the rounds that recorded it, or None."""
    values = [r[key] for r in rounds if r.get(key) is not None]
    return statistics.median(values) if values else None


def cpu(r: dict) -> str:
    """The CPU seconds of the tool, and of the local server when measured."""
    if r.get("cpu_tool") is None:
        return "–"
    if r.get("cpu_server") is None:
        return f"{r['cpu_tool']:.1f}"
    return f"{r['cpu_tool']:.1f} + {r['cpu_server']:.1f}"


def combine(runs: list) -> list:
    """One result per row, in the order the rows first ran: the median of its
    rounds, or its first failure."""
    by: dict = {}
    for r in runs:
        by.setdefault(r["row"], []).append(r)
    rows = []
    for name, rounds in by.items():
        failed = next((r for r in rounds if "failed" in r), None)
        if failed:
            rows.append(failed)
            continue
        secs = [r["seconds"] for r in rounds]
        median = statistics.median(secs)
        rows.append(
            {
                "row": name,
                "n": rounds[0]["n"],
                "seconds": median,
                "rate": rounds[0]["n"] / median,
                "rss_mib": max(r["rss_mib"] for r in rounds),
                "cpu_tool": median_of(rounds, "cpu_tool"),
                "cpu_server": median_of(rounds, "cpu_server"),
                "runs": len(secs),
                "range": (min(secs), max(secs)),
            }
        )
    return rows


def main(results: str, out: str, date: str, machine: str, server: str, command: str) -> None:
    rows = combine([json.loads(line) for line in open(results)])
    by = {r["row"]: r for r in rows}
    repeated = max((r.get("runs", 1) for r in rows), default=1) > 1
    n = rows[0]["n"]
    # "× Beanie" is against Beanie as it runs by default (in one transaction);
    # where that failed, against the same migration without a transaction.
    beanie = next(
        (by[k] for k in ("beanie", "beanie-no-tx") if k in by and "failed" not in by[k]),
        None,
    )
    lines = [
        f"# split_name over {n:,} users — {date}",
        "",
        f"Machine: {machine}. Server: {server}. Command: `{command}`.",
        "Every row starts from the same freshly seeded collection and must leave every document split."
        + (
            " Each row ran on a server started for it, with empty storage (BENCH_FRESH_SERVER=1)."
            if "BENCH_FRESH_SERVER=1" in command
            else ""
        ),
        "CPU s: the CPU time the approach used (with its child processes) and, on the local server, "
        "the CPU time the server used meanwhile: the work a row costs, which other load on the machine "
        "changes much less than it changes the seconds.",
        *(
            [
                f"Every row ran {max(r.get('runs', 1) for r in rows)} times, the rows in order and then "
                "in reverse order by turns: seconds and ratios are of the median run."
            ]
            if repeated
            else []
        ),
        f"× Beanie: against {label(beanie['row'])}." if beanie else "× Beanie: no Beanie row finished.",
        "",
        "| approach | seconds |"
        + (" fastest – slowest |" if repeated else "")
        + " docs/s | × Beanie | × bulk_write loop | × its floor | CPU s (tool + server) | peak RSS (MiB) |",
        "| --- | ---: |" + (" ---: |" if repeated else "") + " ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        if "failed" in r:
            lines.append(
                f"| {label(r['row'])} | failed after {r['seconds']:.0f} s |"
                + (" – |" if repeated else "")
                + " – | – | – | – | – | – |"
            )
            continue
        vs_beanie = f"{r['rate'] / beanie['rate']:.1f}×" if beanie else "–"
        floor = by.get(floor_of(r["row"]) or "")
        vs_floor = f"{r['rate'] / floor['rate']:.2f}×" if floor else "–"
        bulk = by.get("bulk") if r["row"] != "bulk" else None
        vs_bulk = f"{r['rate'] / bulk['rate']:.2f}×" if bulk and "failed" not in bulk else "–"
        spread = f" {r['range'][0]:.1f} – {r['range'][1]:.1f} |" if repeated else ""
        lines.append(
            f"| {label(r['row'])} | {r['seconds']:.1f} |{spread} {r['rate']:,.0f} "
            f"| {vs_beanie} | {vs_bulk} | {vs_floor} | {cpu(r)} | {r['rss_mib']:.0f} |"
        )
    for r in rows:
        if "failed" in r:
            lines.append("")
            lines.append(f"{label(r['row'])} failed: `{r['failed']}`")
    text = "\n".join(lines) + "\n"
    with open(out + ".md", "w") as f:
        f.write(text)
    sys.stdout.write(text)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in rows if "failed" not in r]
    fig, ax = plt.subplots(figsize=(10, 0.5 * len(rows) + 1.5))
    # A "$" would start matplotlib's math mode.
    names = [label(r["row"]).replace("$", r"\$") for r in rows][::-1]
    rates = [r["rate"] for r in rows][::-1]
    colors = [
        "#999999" if r["row"].startswith("floor") else "#2a7ab0" if floor_of(r["row"]) else "#d08030"
        for r in rows
    ][::-1]
    bars = ax.barh(names, rates, color=colors)
    for b, r in zip(bars, rates):
        ax.text(b.get_width(), b.get_y() + b.get_height() / 2, f" {r:,.0f}", va="center", fontsize=8)
    ax.set_xlabel("documents per second (higher is better)")
    ax.set_title(f"split_name over {n:,} users — {date}\n{machine}", fontsize=9)
    fig.tight_layout()
    fig.savefig(out + ".png", dpi=110)


if __name__ == "__main__":
    main(*sys.argv[1:7])
