//! `mediaforce --help`: the subcommands listed in groups by what they are for, as git and
//! cargo list theirs, instead of one flat list of forty.

use clap::Command;

/// The groups `--help` shows, in order, each with its subcommands in order. Every visible
/// subcommand is in exactly one group (a unit test holds this).
pub const GROUPS: &[(&str, &[&str])] = &[
    (
        "Library: what it holds and what to do with it",
        &[
            "scan",
            "ls",
            "report",
            "stats",
            "analyze",
            "inspect-folder",
            "plan",
            "campaign",
            "settings",
            "policy",
        ],
    ),
    (
        "Encode, check and promote",
        &[
            "run", "encode", "validate", "compare", "review", "approve", "reject", "promote",
            "rollback", "status", "pause", "resume",
        ],
    ),
    ("Jobs and hosts", &["enqueue", "worker", "jobs", "hosts"]),
    (
        "Service",
        &[
            "serve",
            "web-password",
            "api-token",
            "hooks",
            "notify",
            "mcp",
        ],
    ),
    (
        "Media tools",
        &[
            "probe",
            "verify",
            "scenes",
            "crf-search",
            "score",
            "sample",
            "encoders",
        ],
    ),
    ("Quality tuning", &["grid", "ladder", "calibrate", "model"]),
    ("Setup", &["demo", "version", "completions", "man"]),
];

/// `cmd` (the command line's definition) with the grouped subcommand list as its help.
pub fn grouped(cmd: Command) -> Command {
    let listing = grouped_listing(&cmd);
    cmd.help_template(format!(
        "{{about-with-newline}}\n{{usage-heading}} {{usage}}\n\n{listing}Options:\n{{options}}\n\n\
         `mediaforce help COMMAND` or `mediaforce COMMAND --help` tells more of one.\n"
    ))
}

/// The groups as text: a heading, then each subcommand's name and one-line description.
fn grouped_listing(cmd: &Command) -> String {
    let width = GROUPS
        .iter()
        .flat_map(|(_, names)| names.iter())
        .map(|n| n.len())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for (heading, names) in GROUPS {
        out.push_str(heading);
        out.push_str(":\n");
        for name in *names {
            let about = cmd
                .find_subcommand(name)
                .and_then(Command::get_about)
                .map(|a| a.to_string())
                .unwrap_or_default();
            out.push_str(&format!("  {name:<width$}  {}\n", first_sentence(&about)));
        }
        out.push('\n');
    }
    out
}

/// The first sentence of a description (the list shows one line per command).
fn first_sentence(about: &str) -> &str {
    let about = about.trim();
    match about.find(". ") {
        Some(i) => &about[..=i],
        None => about,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_subcommand_is_in_exactly_one_group() {
        let cmd = <crate::commands::Cli as clap::CommandFactory>::command();
        let visible: Vec<String> = cmd
            .get_subcommands()
            .filter(|c| !c.is_hide_set())
            .map(|c| c.get_name().to_string())
            .collect();
        let grouped: Vec<&str> = GROUPS.iter().flat_map(|(_, n)| n.iter().copied()).collect();
        for name in &visible {
            let n = grouped.iter().filter(|g| **g == name.as_str()).count();
            assert_eq!(n, 1, "{name} is in {n} groups");
        }
        for name in &grouped {
            assert!(
                visible.iter().any(|v| v == name),
                "{name} is grouped but no such subcommand"
            );
        }
    }

    #[test]
    fn a_description_is_cut_at_its_first_sentence() {
        for (about, first) in [
            ("One. Two.", "One."),
            ("No stop", "No stop"),
            ("Version 1.5 of it. More", "Version 1.5 of it."),
            ("  padded.  ", "padded."),
        ] {
            assert_eq!(first_sentence(about), first);
        }
    }
}
