//! The README is the front door: short, with the two commands, and every page it and the
//! reference pages link to exists.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The relative link targets in a Markdown text (`[text](target)`), anchors cut off.
fn relative_links(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("](") {
        rest = &rest[i + 2..];
        let Some(end) = rest.find(')') else { break };
        let target = &rest[..end];
        rest = &rest[end..];
        if target.contains("://") || target.starts_with('#') || target.starts_with("mailto:") {
            continue;
        }
        let file = target.split('#').next().unwrap_or_default().trim();
        if !file.is_empty() {
            out.push(file.to_string());
        }
    }
    out
}

#[test]
fn the_readme_is_a_short_front_door_with_the_two_commands() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let lines = readme.lines().count();
    assert!(
        lines <= 200,
        "README.md has {lines} lines; reference belongs in docs/"
    );
    assert!(readme.contains("./scripts/quickstart.sh"));
    assert!(readme.contains("./scripts/test.sh"));
    // One page per area, each linked from the README.
    for page in [
        "docs/commands.md",
        "docs/search-and-encoding.md",
        "docs/library-workflow.md",
        "docs/hosts.md",
        "docs/web.md",
        "docs/tuning.md",
        "docs/benchmarks.md",
    ] {
        assert!(root().join(page).is_file(), "{page} is missing");
        assert!(
            readme.contains(&format!("]({page})")),
            "README does not link {page}"
        );
    }
}

#[test]
fn every_relative_link_in_the_docs_resolves() {
    let mut files = vec![root().join("README.md")];
    for e in std::fs::read_dir(root().join("docs")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "md") {
            files.push(p);
        }
    }
    let mut checked = 0;
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        for link in relative_links(&text) {
            let target = f.parent().unwrap().join(&link);
            assert!(
                target.exists(),
                "{}: link to {link} does not resolve",
                f.display()
            );
            checked += 1;
        }
    }
    assert!(checked >= 7, "only {checked} links found");
}

#[test]
fn links_are_read_as_markdown_writes_them() {
    assert_eq!(
        relative_links(
            "see [a](docs/a.md#x), [b](https://x.y/z) and [c](#here) ![i](screenshots/i.png)"
        ),
        vec!["docs/a.md".to_string(), "screenshots/i.png".to_string()]
    );
}
