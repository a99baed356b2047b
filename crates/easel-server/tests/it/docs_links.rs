//! The documentation's links: every relative link in README.md and docs/*.md names a file
//! that exists, every `#anchor` a heading of its target (as GitHub spells heading anchors),
//! and README.md links every file in docs/, so a page cannot be orphaned. Links to other
//! sites are not followed (the tests have no network). The checker itself is tried on a
//! small tree with one mistake of each kind.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

/// The repository's root (this crate is at `crates/easel-server`).
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The Markdown files checked: README.md and every `.md` in docs/, as paths from `root`.
fn documents(root: &Path) -> Vec<PathBuf> {
    let mut files = vec![PathBuf::from("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|e| PathBuf::from("docs").join(e.file_name()))
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    files
}

/// `text` without fenced code blocks (their lines become empty, so line numbers hold):
/// they hold neither links nor headings.
fn prose(text: &str) -> Vec<String> {
    let mut fence: Option<&str> = None;
    text.lines()
        .map(|line| {
            let trimmed = line.trim_start();
            let marker = ["```", "~~~"].into_iter().find(|m| trimmed.starts_with(m));
            match (fence, marker) {
                (None, Some(m)) => {
                    fence = Some(m);
                    String::new()
                }
                (Some(open), Some(m)) if open == m => {
                    fence = None;
                    String::new()
                }
                (Some(_), _) => String::new(),
                (None, None) => line.to_string(),
            }
        })
        .collect()
}

/// `line` with each inline code span replaced by `code`: a span shows text, never a link.
fn without_code_spans(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(start) = rest.find('`') {
        let ticks = rest[start..].chars().take_while(|c| *c == '`').count();
        let closing = "`".repeat(ticks);
        let after = &rest[start + ticks..];
        let Some(end) = after.find(&closing) else {
            break;
        };
        out.push_str(&rest[..start]);
        out.push_str("code");
        rest = &after[end + ticks..];
    }
    out.push_str(rest);
    out
}

/// GitHub's anchor of a heading: the rendered text lower-cased, everything but letters,
/// digits, `_`, `-` and spaces dropped, spaces made `-` (not collapsed: `A / B` → `a--b`).
fn slug(heading: &str) -> String {
    // Rendered text: a link shows its text, emphasis markers are not text.
    let mut text = String::new();
    let mut rest = heading;
    while let Some(open) = rest.find('[') {
        let Some(mid) = rest[open..].find("](") else {
            break;
        };
        let Some(close) = rest[open + mid..].find(')') else {
            break;
        };
        text.push_str(&rest[..open]);
        text.push_str(&rest[open + 1..open + mid]);
        rest = &rest[open + mid + close + 1..];
    }
    text.push_str(rest);
    text.to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | ' '))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The anchors of a document's headings; a repeated heading gets `-1`, `-2`, … as on GitHub.
fn anchors(lines: &[String]) -> BTreeSet<String> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = BTreeSet::new();
    for line in lines {
        let hashes = line.chars().take_while(|c| *c == '#').count();
        if !(1..=6).contains(&hashes) || !line[hashes..].starts_with(' ') {
            continue;
        }
        let text = line[hashes..].trim().trim_end_matches('#').trim();
        // A code span in a heading shows its text without the backticks.
        let base = slug(&text.replace('`', ""));
        let n = seen.entry(base.clone()).or_insert(0);
        out.insert(if *n == 0 {
            base.clone()
        } else {
            format!("{base}-{n}")
        });
        *n += 1;
    }
    out
}

/// Every link target on a line: inline `[text](target "title")` and `![alt](target)`, and
/// reference definitions `[label]: target`.
fn links(line: &str) -> Vec<String> {
    let line = without_code_spans(line);
    let mut out = Vec::new();
    let trimmed = line.trim_start();
    if trimmed.starts_with('[')
        && let Some((label, target)) = trimmed.split_once("]:")
        && !label.contains("](")
    {
        if let Some(t) = target.split_whitespace().next() {
            out.push(t.trim_matches(['<', '>']).to_string());
        }
        return out;
    }
    let mut rest = line.as_str();
    while let Some(at) = rest.find("](") {
        let after = &rest[at + 2..];
        // Up to the `)` that closes this one (targets may hold balanced parentheses).
        let mut depth = 0usize;
        let mut end = after.len();
        for (i, c) in after.char_indices() {
            match c {
                '(' => depth += 1,
                ')' if depth == 0 => {
                    end = i;
                    break;
                }
                ')' => depth -= 1,
                _ => {}
            }
        }
        let inner = after[..end].trim();
        let target = if let Some(angled) = inner.strip_prefix('<') {
            angled.split('>').next().unwrap_or_default()
        } else {
            inner.split_whitespace().next().unwrap_or_default()
        };
        out.push(target.to_string());
        rest = &after[end.min(after.len())..];
    }
    out
}

/// `%20` and the like decoded (file names with spaces are linked that way).
fn percent_decoded(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = s.get(i + 1..i + 3)
            && let Ok(b) = u8::from_str_radix(hex, 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `base` joined with `relative`, `.` and `..` resolved; `None` if it leaves the root.
fn resolve(base: &Path, relative: &str) -> Option<PathBuf> {
    let mut parts: Vec<String> = Vec::new();
    let joined = if let Some(from_root) = relative.strip_prefix('/') {
        PathBuf::from(from_root)
    } else {
        base.join(relative)
    };
    for c in joined.components() {
        match c {
            Component::Normal(p) => parts.push(p.to_string_lossy().into_owned()),
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(parts.iter().collect())
}

/// Every broken link and orphaned page under `root`, as `file:line: what` lines.
fn problems(root: &Path) -> Vec<String> {
    let docs = documents(root);
    let mut texts: BTreeMap<PathBuf, Vec<String>> = BTreeMap::new();
    for doc in &docs {
        match std::fs::read_to_string(root.join(doc)) {
            Ok(text) => {
                texts.insert(doc.clone(), prose(&text));
            }
            Err(e) => return vec![format!("{}: {e}", doc.display())],
        }
    }
    let mut found = Vec::new();
    let mut linked_from_readme = BTreeSet::new();
    for (doc, lines) in &texts {
        let base = doc.parent().unwrap_or(Path::new(""));
        for (n, line) in lines.iter().enumerate() {
            let at = format!("{}:{}", doc.display(), n + 1);
            for target in links(line) {
                let scheme = target
                    .split_once(':')
                    .is_some_and(|(s, _)| !s.contains('/') && !s.contains('#'));
                if scheme {
                    continue;
                }
                if target.is_empty() {
                    found.push(format!("{at}: an empty link"));
                    continue;
                }
                let (path, anchor) = target.split_once('#').unwrap_or((&target, ""));
                let file = if path.is_empty() {
                    Some(doc.clone())
                } else {
                    resolve(base, &percent_decoded(path))
                };
                let Some(file) = file else {
                    found.push(format!("{at}: {target} leaves the repository"));
                    continue;
                };
                if !root.join(&file).exists() {
                    found.push(format!("{at}: {target}: no file {}", file.display()));
                    continue;
                }
                if doc == Path::new("README.md") {
                    linked_from_readme.insert(file.clone());
                }
                if anchor.is_empty() {
                    continue;
                }
                let heading_anchors = match texts.get(&file) {
                    Some(lines) => anchors(lines),
                    None if file.extension().is_some_and(|x| x == "md") => {
                        let text = std::fs::read_to_string(root.join(&file)).unwrap_or_default();
                        anchors(&prose(&text))
                    }
                    // A line of a source file (`#L12`) is GitHub's, not a heading.
                    None if anchor.starts_with('L')
                        && anchor[1..]
                            .chars()
                            .all(|c| c.is_ascii_digit() || c == '-' || c == 'L') =>
                    {
                        continue;
                    }
                    None => BTreeSet::new(),
                };
                if !heading_anchors.contains(anchor) {
                    found.push(format!(
                        "{at}: {target}: no heading #{anchor} in {}",
                        file.display()
                    ));
                }
            }
        }
    }
    for doc in docs.iter().filter(|d| d.starts_with("docs")) {
        if !linked_from_readme.contains(doc) {
            found.push(format!(
                "README.md does not link {}: add it to the Documentation list",
                doc.display()
            ));
        }
    }
    found
}

#[test]
fn every_link_in_the_readme_and_docs_resolves() {
    let root = repo_root();
    let docs = documents(&root);
    assert!(docs.len() >= 6, "README.md and docs/*.md: {docs:?}");
    let found = problems(&root);
    assert!(found.is_empty(), "broken links:\n{}", found.join("\n"));
}

#[test]
fn headings_get_githubs_anchors() {
    for (heading, anchor) in [
        ("Payments (Stripe)", "payments-stripe"),
        (
            "Remote GPU workers (`easel worker`)",
            "remote-gpu-workers-easel-worker",
        ),
        ("AUTOMATIC1111 / Forge", "automatic1111--forge"),
        (
            "Exact limits across nodes: Redis",
            "exact-limits-across-nodes-redis",
        ),
        ("See [the API](docs/api.md) now", "see-the-api-now"),
        (
            "snake_case and Ünïcode — 1.5×",
            "snake_case-and-ünïcode--15",
        ),
    ] {
        let got = anchors(&prose(&format!("## {heading}")));
        assert!(got.contains(anchor), "{heading}: {got:?}");
    }
    let lines = prose("# Setup\n\n## Setup\n```\n# Setup\n```\n### Setup ##\n");
    let got: Vec<String> = anchors(&lines).into_iter().collect();
    assert_eq!(got, ["setup", "setup-1", "setup-2"]);
}

/// The checker on a small tree: one mistake of each kind is found, and nothing else.
#[test]
fn the_checker_finds_each_kind_of_broken_link() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let root = dir.path();
    let write = |path: &str, text: &str| {
        let path = root.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("{e}"));
        }
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("{e}"));
    };
    write(
        "README.md",
        "# Demo\n\n\
         See [the guide](docs/guide.md), [its setup](docs/guide.md#first-steps-v2),\n\
         [a typo](docs/gude.md) and [a lost anchor](docs/guide.md#nowhere).\n\
         [Here](#demo), [not here](#missing), [the code](src/main.rs#L3-L9),\n\
         [a site](https://example.com/x.md), [mail](mailto:a@example.com),\n\
         ![a picture](docs/img/missing.png) and [out](../../etc/passwd).\n\
         `[in code](docs/none.md)`\n\n\
         ```md\n[in a fence](docs/none.md)\n# Fenced\n```\n\n\
         [ref]: docs/guide.md#first-steps-v2\n",
    );
    write(
        "docs/guide.md",
        "# Guide\n\n## First steps (v2)\n\n[Back](../README.md#demo), [again](../README.md#fenced),\n\
         [with spaces](my%20notes.md), [parenthesised](<my notes.md>).\n",
    );
    write("docs/my notes.md", "# Notes\n\n[Guide](guide.md#guide)\n");
    write("docs/orphan.md", "# Nobody links me\n");
    write("src/main.rs", "fn main() {}\n");
    let found = problems(root);
    assert_eq!(
        found,
        [
            "README.md:4: docs/gude.md: no file docs/gude.md",
            "README.md:4: docs/guide.md#nowhere: no heading #nowhere in docs/guide.md",
            "README.md:5: #missing: no heading #missing in README.md",
            "README.md:7: docs/img/missing.png: no file docs/img/missing.png",
            "README.md:7: ../../etc/passwd leaves the repository",
            "docs/guide.md:5: ../README.md#fenced: no heading #fenced in README.md",
            "README.md does not link docs/my notes.md: add it to the Documentation list",
            "README.md does not link docs/orphan.md: add it to the Documentation list",
        ],
        "{found:#?}"
    );
}
