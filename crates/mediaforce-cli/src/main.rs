//! `mediaforce`: the command-line tool, a thin layer over the library.
//!
//! Each subcommand parses arguments, calls the library, and prints either a readable report or,
//! with `--json`, a JSON document with stable field names. Errors print as one line
//! (`mediaforce: <file>: <cause>`) with a non-zero exit status.

mod commands;
mod connect;
mod demo_web;
mod help;
mod hosts;
mod library;
mod mcp;
mod progress;
mod render;
mod workflow;

fn main() {
    // Like other Unix filters, end quietly when the reader goes away (`mediaforce ls | head`)
    // instead of panicking on a failed print.
    // SAFETY: restoring the default disposition of SIGPIPE before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    // SVT-AV1 prints its configuration banner to stderr unless told otherwise; keep errors only.
    if std::env::var_os("SVT_LOG").is_none() {
        std::env::set_var("SVT_LOG", "1");
    }
    mediaforce_core::init();
    let cli = commands::parse();
    if let Err(e) = commands::run(cli) {
        // One line: the chain of causes joined, so the file and the cause are both there.
        let mut msg = e.to_string();
        for cause in e.chain().skip(1) {
            let c = cause.to_string();
            if !msg.contains(&c) {
                msg.push_str(": ");
                msg.push_str(&c);
            }
        }
        eprintln!("mediaforce: {}", msg.replace('\n', " "));
        std::process::exit(1);
    }
}
