//! The documentation against the CLI, both ways: every `mongoshift …` (or
//! `python -m mongoshift …`, the same command line) command in a fenced `sh`
//! or `console` block of README.md, docs/*.md and python/README.md is run by
//! the real binary, which must accept its command and flags; and every
//! command and flag the binary has must be documented in docs/commands.md. A
//! renamed, removed or added flag fails here, not in a reader's terminal.

use std::path::{Path, PathBuf};
use std::time::Duration;

use assert_cmd::Command;

use crate::util::{bin, text, TestDb};

/// One command found in the docs.
#[derive(Debug, PartialEq)]
struct Example {
    /// `file:line`, for messages.
    at: String,
    /// `NAME=value` words before the command.
    env: Vec<(String, String)>,
    /// The arguments after `mongoshift`.
    args: Vec<String>,
}

fn root() -> PathBuf {
    // The test binary's crate sits one level below the workspace root.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .expect("workspace root")
}

/// README.md, every page of docs/ and the Python package's README.
fn doc_files() -> Vec<PathBuf> {
    let mut files = vec![root().join("README.md"), root().join("python/README.md")];
    let mut pages: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .expect("docs/")
        .map(|e| e.expect("docs entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    pages.sort();
    files.extend(pages);
    files
}

/// Where a line of Markdown is.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Fence {
    Outside,
    /// A `sh` block (`console: false`) or a `console` block, where only
    /// lines after a `$ ` prompt are commands.
    Shell {
        console: bool,
    },
    /// A block of another language.
    Other,
}

/// The `mongoshift` commands of the shell blocks of one Markdown text.
fn examples(name: &str, markdown: &str) -> Vec<Example> {
    let mut found = Vec::new();
    let mut fence = Fence::Outside;
    let mut heredoc: Option<String> = None;
    let mut pending = String::new();
    let mut start = 0;
    for (i, line) in markdown.lines().enumerate() {
        let trimmed = line.trim();
        if let Some(info) = trimmed.strip_prefix("```") {
            fence = match fence {
                Fence::Outside => opened(info.trim_start_matches('`')),
                Fence::Shell { .. } | Fence::Other => Fence::Outside,
            };
            pending.clear();
            heredoc = None;
            continue;
        }
        let Fence::Shell { console } = fence else {
            continue;
        };
        if let Some(end) = &heredoc {
            if trimmed == end {
                heredoc = None;
            }
            continue;
        }
        let mut text = trimmed;
        if pending.is_empty() {
            if console {
                match text.strip_prefix("$ ") {
                    Some(rest) => text = rest,
                    None => continue,
                }
            }
            start = i + 1;
        }
        if let Some(head) = text.strip_suffix('\\') {
            pending.push_str(head);
            pending.push(' ');
            continue;
        }
        pending.push_str(text);
        let command = std::mem::take(&mut pending);
        heredoc = heredoc_end(&command);
        for part in split_commands(&command) {
            if let Some(e) = parse_example(&part) {
                found.push(Example {
                    at: format!("{name}:{start}"),
                    ..e
                });
            }
        }
    }
    found
}

/// What a fence's info string opens.
fn opened(info: &str) -> Fence {
    match info.split_whitespace().next() {
        Some("sh" | "bash" | "shell") => Fence::Shell { console: false },
        Some("console") => Fence::Shell { console: true },
        _ => Fence::Other,
    }
}

/// The word that ends a heredoc started on this line, if any.
fn heredoc_end(line: &str) -> Option<String> {
    let (_, rest) = line.split_once("<<")?;
    let word = rest.trim_start_matches('-').trim_start();
    let word: String = word
        .trim_start_matches(['\'', '"'])
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    (!word.is_empty()).then_some(word)
}

/// Splits a shell line into its commands at `&&`, `||`, `;` and `|` outside
/// quotes, dropping a trailing comment.
fn split_commands(line: &str) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut quote: Option<char> = None;
    let mut chars = line.chars().peekable();
    let mut at_word_start = true;
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), _) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '#') if at_word_start => break,
            (None, ';') => {
                parts.push(String::new());
                at_word_start = true;
                continue;
            }
            (None, '&' | '|') => {
                if chars.peek() == Some(&c) {
                    chars.next();
                }
                parts.push(String::new());
                at_word_start = true;
                continue;
            }
            _ => {}
        }
        at_word_start = quote.is_none() && c.is_whitespace();
        parts.last_mut().expect("a part").push(c);
    }
    parts.retain(|p| !p.trim().is_empty());
    parts
}

/// Shell words: whitespace-separated, with single and double quotes.
fn words(command: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word: Option<String> = None;
    let mut quote: Option<char> = None;
    for c in command.chars() {
        match (quote, c) {
            (Some(q), _) if c == q => quote = None,
            (Some(_), _) => word.get_or_insert_with(String::new).push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                word.get_or_insert_with(String::new);
            }
            (None, c) if c.is_whitespace() => out.extend(word.take()),
            (None, c) => word.get_or_insert_with(String::new).push(c),
        }
    }
    out.extend(word);
    out
}

/// A `mongoshift …` command (or `python -m mongoshift …`, the same command
/// line), after any `NAME=value` words; `None` for any other command.
/// Arguments stop at a redirection.
fn parse_example(command: &str) -> Option<Example> {
    let mut env = Vec::new();
    let mut it = words(command).into_iter();
    let program = loop {
        let w = it.next()?;
        match w.split_once('=') {
            Some((name, value)) if is_env_name(name) => env.push((name.into(), value.into())),
            _ => break w,
        }
    };
    match program.as_str() {
        "mongoshift" => {}
        "python" | "python3" => {
            if it.next()? != "-m" || it.next()? != "mongoshift" {
                return None;
            }
        }
        _ => return None,
    }
    let args = it
        .take_while(|w| !w.starts_with(['>', '<']) && !w.starts_with("2>"))
        .collect();
    Some(Example {
        at: String::new(),
        env,
        args,
    })
}

fn is_env_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

fn all_examples() -> Vec<Example> {
    doc_files()
        .iter()
        .flat_map(|path| {
            let name = path
                .strip_prefix(root())
                .unwrap_or(path)
                .display()
                .to_string();
            let markdown = std::fs::read_to_string(path).expect("read doc");
            examples(&name, &markdown)
        })
        .collect()
}

#[test]
fn every_documented_command_is_accepted_by_the_cli() {
    let t = TestDb::new("docs_examples");
    let examples = all_examples();
    assert!(
        examples.len() >= 40,
        "only {} examples found: is the extraction broken?",
        examples.len()
    );
    let mut refused = Vec::new();
    for e in &examples {
        if let Some(arg) = e.args.iter().find(|a| a.contains('$')) {
            refused.push(format!(
                "{}: `{arg}` needs the shell: write the example literally",
                e.at
            ));
            continue;
        }
        // Each command runs in a fresh, empty project against the test
        // database: cheap, and every command gets as far as its arguments.
        let project = tempfile::tempdir().expect("project dir");
        std::fs::create_dir(project.path().join("migrations")).expect("migrations dir");
        let out = Command::new(bin())
            .current_dir(project.path())
            .env("MONGODB_URI", &t.uri)
            .env("MONGOSHIFT_DB", &t.name)
            .env("MONGOSHIFT_PROGRESS", "none")
            .envs(e.env.iter().map(|(k, v)| (k, v)))
            .args(&e.args)
            .timeout(Duration::from_secs(120))
            .output()
            .expect("run mongoshift");
        // 2 is the CLI's exit code for arguments it does not accept (and
        // only for those); every other outcome means it parsed them.
        if out.status.code() == Some(2) {
            let (_, stderr) = text(&out);
            refused.push(format!(
                "{}: mongoshift {}\n{stderr}",
                e.at,
                e.args.join(" ")
            ));
        }
    }
    assert!(
        refused.is_empty(),
        "the CLI refuses these documented commands:\n{}",
        refused.join("\n")
    );
}

/// The commands of `mongoshift --help`, without `help`.
fn cli_commands() -> Vec<String> {
    let help = help_of(&[]);
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_string)
        .collect()
}

/// The long flags of `mongoshift <command> --help`.
fn cli_flags(command: &str) -> Vec<String> {
    help_of(&[command])
        .lines()
        .filter_map(|l| {
            // Flags are indented 2 (`  -h, --help`) or 6 (`      --uri`);
            // their descriptions, more.
            let l = l.strip_prefix("  ")?;
            let l = l.strip_prefix("    ").unwrap_or(l);
            let l = match l.split_once(", ") {
                Some((short, long)) if short.len() == 2 && short.starts_with('-') => long,
                _ => l,
            };
            let flag: String = l
                .strip_prefix("--")?
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            (!flag.is_empty() && flag != "help" && flag != "version").then(|| format!("--{flag}"))
        })
        .collect()
}

fn help_of(command: &[&str]) -> String {
    let out = Command::new(bin())
        .args(command)
        .arg("--help")
        .env("COLUMNS", "200")
        .output()
        .expect("run mongoshift --help");
    assert!(out.status.success(), "mongoshift {command:?} --help failed");
    text(&out).0
}

/// Whether `flag` appears in `text` as a whole flag (`--to` is not in `--tone`).
fn mentions_flag(text: &str, flag: &str) -> bool {
    text.match_indices(flag).any(|(i, _)| {
        !text[i + flag.len()..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '-')
    })
}

#[test]
fn every_command_and_flag_of_the_cli_is_documented() {
    let reference =
        std::fs::read_to_string(root().join("docs/commands.md")).expect("docs/commands.md");
    let examples = all_examples();
    let commands = cli_commands();
    assert!(commands.len() >= 9, "commands found: {commands:?}");
    let mut missing = Vec::new();
    for command in &commands {
        if !reference.contains(&format!("## mongoshift {command}\n")) {
            missing.push(format!("a section `## mongoshift {command}`"));
        }
        if !examples.iter().any(|e| e.args.contains(command)) {
            missing.push(format!("an example of `mongoshift {command}`"));
        }
        for flag in cli_flags(command) {
            if !mentions_flag(&reference, &flag) {
                missing.push(format!("`{flag}` of `mongoshift {command}`"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "docs/commands.md lacks:\n{}",
        missing.join("\n")
    );
}

#[test]
fn examples_are_found_in_shell_and_console_blocks_only() {
    let markdown = "\
text mongoshift status
```sh
mongoshift --db app up --to 20260101000000_a   # a comment
MONGOSHIFT_WASM_CACHE=off mongoshift up \\
    --dry-run --sample 5
cd .. && mongoshift status | head -1
cat > f.py <<'EOF'
mongoshift down
EOF
scripts/server start
python -m mongoshift down --steps 1
python -m pytest -q
```
```toml
mongoshift = \"not a command\"
```
```console
$ mongoshift plan --json > plan.json
mongoshift output line
```
";
    let found = examples("x.md", markdown);
    let args: Vec<Vec<&str>> = found
        .iter()
        .map(|e| e.args.iter().map(String::as_str).collect())
        .collect();
    assert_eq!(
        args,
        vec![
            vec!["--db", "app", "up", "--to", "20260101000000_a"],
            vec!["up", "--dry-run", "--sample", "5"],
            vec!["status"],
            vec!["down", "--steps", "1"],
            vec!["plan", "--json"],
        ]
    );
    assert_eq!(
        found[1].env,
        vec![("MONGOSHIFT_WASM_CACHE".to_string(), "off".to_string())]
    );
    assert_eq!(found[1].at, "x.md:4");
}

#[test]
fn a_flag_is_mentioned_only_whole() {
    assert!(mentions_flag("use `--to ID`", "--to"));
    assert!(!mentions_flag("use `--tone`", "--to"));
    assert!(!mentions_flag("use --pre-images-all", "--pre-images"));
}

/// The anchor GitHub gives a heading: lower case, punctuation dropped,
/// spaces as hyphens.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// The anchors of a Markdown text's headings (outside code blocks).
fn anchors(markdown: &str) -> Vec<String> {
    let mut in_code = false;
    markdown
        .lines()
        .filter(|l| {
            if l.trim_start().starts_with("```") {
                in_code = !in_code;
            }
            !in_code && l.starts_with('#')
        })
        .map(|l| slug(l.trim_start_matches('#')))
        .collect()
}

/// The targets of the inline links `[text](target)` of a Markdown text.
fn links(markdown: &str) -> Vec<String> {
    markdown
        .split("](")
        .skip(1)
        .filter_map(|rest| rest.split_once(')').map(|(target, _)| target.to_string()))
        .collect()
}

#[test]
fn every_link_of_the_docs_leads_somewhere() {
    let files = doc_files();
    let mut broken = Vec::new();
    for file in &files {
        let markdown = std::fs::read_to_string(file).expect("read doc");
        for target in links(&markdown) {
            if target.contains("://") {
                continue;
            }
            let (path, anchor) = target.split_once('#').unwrap_or((&target, ""));
            let dest = if path.is_empty() {
                file.clone()
            } else {
                file.parent().expect("dir").join(path)
            };
            let ok = dest.exists()
                && (anchor.is_empty()
                    || std::fs::read_to_string(&dest)
                        .is_ok_and(|text| anchors(&text).iter().any(|a| a == anchor)));
            if !ok {
                broken.push(format!("{}: {target}", file.display()));
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn a_heading_anchor_is_the_one_github_makes() {
    assert_eq!(
        slug(" `wasm`: a transform run on every document"),
        "wasm-a-transform-run-on-every-document"
    );
    assert_eq!(slug(" mongoshift new"), "mongoshift-new");
}
