//! Many hosts: `enqueue` (queue a plan's encodes for workers anywhere), `worker` (run jobs from
//! the shared store on this host) and `hosts` (see and steer the hosts). Each parses, calls the
//! application layer and renders.

use crate::render::{human_bytes, print_json};
use anyhow::{bail, Result};
use clap::Subcommand;
use mediaforce::hosts::HostState;
use mediaforce_app::worker::WorkerOptions;
use mediaforce_app::{App, Paths};
use std::sync::atomic::{AtomicBool, Ordering};

static STOP: AtomicBool = AtomicBool::new(false);

#[derive(Debug, Subcommand)]
pub enum HostsCommand {
    /// Queue the selected items' encodes for workers on any host (`mediaforce worker`).
    Enqueue {
        #[command(flatten)]
        sel: crate::workflow::Selection,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run jobs from the shared store on this host (encodes, validations, review material)
    /// until stopped (Ctrl-C gives the running jobs back), drained, or idle.
    Worker {
        /// This host's name in the store (default: the machine's host name).
        #[arg(long)]
        name: Option<String>,
        /// Jobs at once (at most the host's max-jobs setting).
        #[arg(long, default_value_t = 1)]
        jobs: usize,
        /// Stop after this many seconds with nothing to claim.
        #[arg(long)]
        exit_when_idle: Option<f64>,
        /// Offer only these encoders (comma-separated adapter ids) of those available here:
        /// encode jobs needing another are left to other hosts.
        #[arg(long, value_delimiter = ',')]
        encoders: Option<Vec<String>>,
        /// Fail a job back to the queue when it makes no progress (no frame, probe or
        /// transferred chunk) for this many seconds; 0 never does.
        #[arg(long, default_value_t = 600.0, value_name = "SECONDS")]
        stuck_after: f64,
        /// Transfer mode, for a host without the library mounted: download each job's source
        /// from (and upload its result to) the file endpoint of `mediaforce serve` on the host
        /// that holds the library, e.g. http://nas:8777. The host's token (from `mediaforce
        /// hosts token NAME`) is read from MEDIAFORCE_TOKEN or --token-file.
        #[arg(long, value_name = "URL")]
        transfer: Option<String>,
        /// A file holding this host's token for --transfer.
        #[arg(long, value_name = "FILE")]
        token_file: Option<std::path::PathBuf>,
        /// Print a JSON summary at the end.
        #[arg(long)]
        json: bool,
    },
    /// Serve the web page: dashboard, library, folders, queue, hosts, settings, each item's
    /// review (side-by-side clips, per-frame VMAF) with approve and promote, live progress. The
    /// same address carries the page's JSON API (`/api/...`, documented at
    /// `/api/openapi.json`, for signed-in sessions or API tokens) and the file endpoint that
    /// transfer-mode workers on hosts without the library use (`/transfer/v1`, host tokens).
    /// Sign in with the password set by `mediaforce web-password`; an address other than
    /// loopback is refused until one is set.
    Serve {
        /// Address to listen on. Anything but loopback needs a password set first
        /// (`mediaforce web-password`).
        #[arg(long, default_value = "127.0.0.1:8777")]
        bind: String,
        /// Another `host:port` the page is opened by (a DNS name of this machine); requests
        /// naming any other host are refused (DNS rebinding).
        #[arg(long = "public-host", value_name = "HOST:PORT")]
        public_hosts: Vec<String>,
        /// Also run N local worker slots in this process (as `mediaforce worker --jobs N`
        /// would), so one command runs the whole service; 0: none.
        #[arg(long, default_value_t = 0)]
        jobs: usize,
        /// Leave the library alone: no watching, rescans, automatic approvals, promotions or
        /// pruning (the page and the API only).
        #[arg(long)]
        no_automation: bool,
    },
    /// Set the web page's password (read from standard input, or MEDIAFORCE_WEB_PASSWORD);
    /// signs every session out.
    WebPassword,
    /// Tokens for scripts using the web page's JSON API (`Authorization: Bearer TOKEN`).
    ApiToken {
        #[command(subcommand)]
        action: ApiTokenAction,
    },
    /// See and steer the hosts that run jobs.
    Hosts {
        #[command(subcommand)]
        action: HostsAction,
    },
    /// See and steer the queue's jobs.
    Jobs {
        #[command(subcommand)]
        action: JobsAction,
    },
}

#[derive(Debug, Subcommand)]
pub enum ApiTokenAction {
    /// Make a token (shown once; stored hashed; replaces one of the same name).
    Create {
        /// Its name.
        name: String,
        /// read (every view) or write (also approve, promote, queue actions...).
        #[arg(long, default_value = "read")]
        scope: String,
    },
    /// The tokens, by name (never the tokens themselves).
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token.
    Revoke {
        /// Its name.
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum JobsAction {
    /// Jobs, newest first.
    List {
        /// Only jobs in this state (queued, running, done, failed, cancelled).
        #[arg(long)]
        state: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// A job's events (which host claimed it, lost it, what it did, why it failed).
    Events {
        /// The job.
        id: i64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Put a failed or cancelled job back in the queue.
    Retry {
        /// The job.
        id: i64,
    },
    /// Cancel a job; a running one stops at its next heartbeat.
    Cancel {
        /// The job.
        id: i64,
    },
    /// Change a queued or running job's priority (higher runs first; among equals, the
    /// oldest).
    Priority {
        /// The job.
        id: i64,
        /// The new priority.
        #[arg(allow_negative_numbers = true)]
        priority: i64,
    },
    /// Run a job on the next free capable host, even one outside its schedule window.
    RunNow {
        /// The job.
        id: i64,
    },
    /// Put every failed job back in the queue.
    RetryFailed,
    /// Delete every failed job.
    ClearFailed,
}

#[derive(Debug, Subcommand)]
pub enum HostsAction {
    /// Every registered host.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// One host.
    Show {
        /// Its name.
        name: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Change a host's state (active, paused: claims nothing, draining: finishes and stops)
    /// or how many jobs it runs at once.
    Set {
        /// Its name.
        name: String,
        /// active, paused or draining.
        #[arg(long)]
        state: Option<String>,
        /// Jobs at once.
        #[arg(long)]
        max_jobs: Option<u64>,
        /// When it may start jobs, in its local time: always, never, or windows like
        /// "mon-fri 22:00-07:00; sat,sun 00:00-24:00".
        #[arg(long)]
        schedule: Option<String>,
        /// Where a library path is mounted on it, FROM=TO (repeatable; replaces the
        /// mappings it had).
        #[arg(long = "map")]
        maps: Vec<String>,
        /// Remove its path mappings.
        #[arg(long)]
        clear_maps: bool,
        /// Nice level of its encodes (0 to 19 lowers their CPU priority; below 0 needs root).
        #[arg(long, allow_negative_numbers = true)]
        nice: Option<i32>,
        /// I/O class of its encodes: none, idle, or best-effort[:0-7].
        #[arg(long)]
        ionice: Option<String>,
    },
    /// Issue a token for a host's transfer-mode worker (shown once; stored hashed; replaces
    /// its previous one), or revoke it.
    Token {
        /// Its name.
        name: String,
        /// Revoke its token instead.
        #[arg(long)]
        revoke: bool,
    },
    /// Forget a host.
    Remove {
        /// Its name.
        name: String,
    },
}

fn print_host(h: &mediaforce::hosts::HostRow) {
    println!(
        "{:<16} {:<9} {:>2} jobs  {:<5} schedule {}; nice {}, ionice {}; {} cores, {}, {}; encoders: {}",
        h.name,
        h.state.as_str(),
        h.max_jobs,
        if h.alive { "live" } else { "gone" },
        h.schedule,
        h.nice,
        h.ionice,
        h.cores,
        human_bytes(h.memory_bytes),
        h.os,
        h.encoders.join(" ")
    );
}

pub fn run(cmd: HostsCommand, paths: &Paths) -> Result<()> {
    let app = App::open(paths)?;
    match cmd {
        HostsCommand::Enqueue { sel, json } => {
            let ids = app.enqueue(&sel.to_app())?;
            if json {
                return print_json(&ids);
            }
            println!(
                "queued {} encode jobs; run `mediaforce worker` on any host sharing the store",
                ids.len()
            );
        }
        HostsCommand::Worker {
            name,
            jobs,
            exit_when_idle,
            encoders,
            transfer,
            token_file,
            stuck_after,
            json,
        } => {
            let transfer = transfer_client(transfer, token_file.as_deref())?;
            worker(
                &app,
                name,
                jobs,
                exit_when_idle,
                encoders,
                transfer,
                stuck_after,
                json,
            )?;
        }
        HostsCommand::ApiToken { action } => api_token(&app, action)?,
        HostsCommand::WebPassword => {
            let password = match std::env::var("MEDIAFORCE_WEB_PASSWORD") {
                Ok(p) => p,
                Err(_) => {
                    eprintln!("new password for the web page (one line on standard input):");
                    let mut line = String::new();
                    std::io::stdin().read_line(&mut line)?;
                    line.trim_end_matches(['\r', '\n']).to_string()
                }
            };
            app.web_set_password(&password)?;
            println!("web password set; every session was signed out");
        }
        HostsCommand::Serve {
            bind,
            public_hosts,
            jobs,
            no_automation,
        } => serve(app, &bind, &public_hosts, jobs, !no_automation)?,
        HostsCommand::Jobs { action } => jobs(&app, action)?,
        HostsCommand::Hosts { action } => hosts(&app, action)?,
    }
    Ok(())
}

/// `serve`: the web page and API, with the automation loop and `jobs` local worker slots,
/// until Ctrl-C or SIGTERM (running jobs are given back; the store keeps everything).
fn serve(app: App, bind: &str, public_hosts: &[String], jobs: usize, automate: bool) -> Result<()> {
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let _ = ctrlc::set_handler(move || {
        if s.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!(
            "\nmediaforce serve: stopping (running jobs are given back; again to quit at once)"
        );
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let password_set = app.web_password_set()?;
    let app = std::sync::Arc::new(app);
    let host = mediaforce::stage::host_name();
    let automation = automate.then(|| {
        mediaforce_server::automation::Automation::start(app.clone(), host.clone(), stop.clone())
    });
    let slots = (jobs > 0).then(|| {
        let (app, stop) = (app.clone(), stop.clone());
        let opts = WorkerOptions {
            name: host.clone(),
            jobs,
            exit_when_idle: None,
            encoders: None,
            transfer: None,
            stuck_after: Some(std::time::Duration::from_secs(600)),
            hold: automation.as_ref().map(|a| a.hold.clone()),
        };
        std::thread::spawn(move || {
            let lines = crate::workflow::BatchLines {
                json: false,
                detail: false,
            };
            app.run_worker(&opts, &stop, &lines)
        })
    });
    let served = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(bind)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {bind}: {e}"))?;
        let addr = listener.local_addr()?;
        mediaforce_server::refuse_unprotected(addr, &app).await?;
        eprintln!(
            "mediaforce serve: http://{addr} (web page; file endpoint for transfer-mode workers){}{}",
            if automate { "; automation on" } else { "" },
            if jobs > 0 { format!("; {jobs} local job slot(s) as host {host}") } else { String::new() }
        );
        if !password_set {
            eprintln!("no web password yet: set one with `mediaforce web-password` to sign in");
        }
        let stopped = {
            let stop = stop.clone();
            async move {
                while !stop.load(Ordering::Relaxed) {
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                }
            }
        };
        let status = automation.as_ref().map(|a| a.status.clone());
        mediaforce_server::serve_until(listener, app.clone(), public_hosts, status, stopped)
            .await?;
        anyhow::Ok(())
    });
    stop.store(true, Ordering::SeqCst);
    if let Some(a) = automation {
        a.join();
    }
    if let Some(slots) = slots {
        match slots.join() {
            Ok(Ok(summary)) => eprintln!(
                "mediaforce serve: local slots: {} done, {} failed, {} given back",
                summary.done, summary.failed, summary.left
            ),
            Ok(Err(e)) => eprintln!("mediaforce serve: local slots stopped: {}", e.message),
            Err(_) => eprintln!("mediaforce serve: local slots panicked"),
        }
    }
    served
}

/// The client of the library host's file endpoint for `worker --transfer URL`, with this
/// host's token (from `--token-file` or `MEDIAFORCE_TOKEN`).
fn transfer_client(
    transfer: Option<String>,
    token_file: Option<&std::path::Path>,
) -> Result<Option<mediaforce::transfer::TransferClient>> {
    Ok(match transfer {
        None => None,
        Some(url) => {
            let token = match token_file {
                Some(f) => std::fs::read_to_string(f)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", f.display()))?,
                None => std::env::var("MEDIAFORCE_TOKEN").unwrap_or_default(),
            };
            if token.trim().is_empty() {
                bail!("--transfer needs this host's token in MEDIAFORCE_TOKEN or --token-file (issue one with: mediaforce hosts token NAME)");
            }
            if !url.starts_with("http://") {
                bail!("--transfer {url}: expected an http:// address of `mediaforce serve`");
            }
            Some(mediaforce::transfer::TransferClient::new(&url, &token))
        }
    })
}

/// `worker`: run jobs from the shared store on this host until stopped (or idle).
#[allow(clippy::too_many_arguments)]
fn worker(
    app: &App,
    name: Option<String>,
    jobs: usize,
    exit_when_idle: Option<f64>,
    encoders: Option<Vec<String>>,
    transfer: Option<mediaforce::transfer::TransferClient>,
    stuck_after: f64,
    json: bool,
) -> Result<()> {
    let _ = ctrlc::set_handler(|| {
        if STOP.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!(
            "\nmediaforce worker: giving the running jobs back (Ctrl-C again to quit at once)"
        );
    });
    let opts = WorkerOptions {
        name: name.unwrap_or_else(mediaforce::stage::host_name),
        jobs,
        exit_when_idle: exit_when_idle.map(|s| std::time::Duration::from_secs_f64(s.max(0.0))),
        encoders,
        transfer,
        stuck_after: (stuck_after > 0.0).then(|| std::time::Duration::from_secs_f64(stuck_after)),
        hold: None,
    };
    let summary = app.run_worker(
        &opts,
        &STOP,
        &crate::workflow::BatchLines {
            json,
            detail: false,
        },
    )?;
    if json {
        print_json(&summary)?;
    } else {
        println!(
            "worker {}: {} done, {} failed, {} given back or lost",
            summary.host, summary.done, summary.failed, summary.left
        );
    }
    if summary.failed > 0 {
        bail!("{} jobs failed on this host", summary.failed);
    }
    Ok(())
}

/// `api-token ...`: tokens for scripts.
fn api_token(app: &App, action: ApiTokenAction) -> Result<()> {
    match action {
        ApiTokenAction::Create { name, scope } => {
            let token = app.api_token_create(&name, scope.parse()?)?;
            eprintln!("API token {name} ({scope}; shown once):");
            println!("{token}");
        }
        ApiTokenAction::List { json } => {
            let tokens = app.api_tokens()?;
            if json {
                return print_json(&tokens);
            }
            for t in &tokens {
                println!("{:<20} {:?}", t.name, t.scope);
            }
        }
        ApiTokenAction::Revoke { name } => {
            app.api_token_revoke(&name)?;
            println!("revoked API token {name}");
        }
    }
    Ok(())
}

/// `hosts ...`: see and steer the hosts.
fn hosts(app: &App, action: HostsAction) -> Result<()> {
    match action {
        HostsAction::List { json } => {
            let hosts = app.hosts_list()?;
            if json {
                return print_json(&hosts);
            }
            for h in &hosts {
                print_host(h);
            }
        }
        HostsAction::Show { name, json } => {
            let h = app.host(&name)?;
            if json {
                return print_json(&h);
            }
            print_host(&h);
        }
        HostsAction::Set {
            name,
            state,
            max_jobs,
            schedule,
            maps,
            clear_maps,
            nice,
            ionice,
        } => {
            let state = state
                .map(|s| s.parse::<HostState>())
                .transpose()
                .map_err(anyhow::Error::msg)?;
            let mappings = if clear_maps {
                Some(mediaforce::hosts::PathMap::default())
            } else if maps.is_empty() {
                None
            } else {
                Some(mediaforce::hosts::PathMap::parse(&maps).map_err(anyhow::Error::msg)?)
            };
            let ionice = ionice
                .map(|s| s.parse::<mediaforce::priority::IoPriority>())
                .transpose()
                .map_err(anyhow::Error::msg)?;
            let change = mediaforce::hosts::HostSettings {
                state,
                max_jobs,
                schedule,
                mappings,
                nice,
                ionice,
            };
            print_host(&app.host_set(&name, &change)?);
        }
        HostsAction::Token { name, revoke } => {
            if revoke {
                app.host_token_revoke(&name)?;
                println!("revoked host {name}'s token");
            } else {
                let token = app.host_token(&name)?;
                eprintln!("token for host {name} (shown once; give it to its worker as MEDIAFORCE_TOKEN or --token-file):");
                println!("{token}");
            }
        }
        HostsAction::Remove { name } => {
            app.host_remove(&name)?;
            println!("removed host {name}");
        }
    }
    Ok(())
}

/// `jobs ...`: list, follow and steer the queue's jobs.
fn jobs(app: &App, action: JobsAction) -> Result<()> {
    match action {
        JobsAction::List { state, limit, json } => {
            let jobs = app.jobs_list(state.as_deref(), limit)?;
            if json {
                return print_json(&jobs);
            }
            let words = app.describe_jobs(&jobs);
            for (j, w) in jobs.iter().zip(&words) {
                println!(
                    "{:>6} {:<9} {} attempt {}/{}{}{}",
                    j.id,
                    j.state.as_str(),
                    w.what,
                    j.attempts,
                    j.max_attempts,
                    w.host
                        .as_deref()
                        .map_or(String::new(), |h| format!(", on {h}")),
                    j.last_error
                        .as_deref()
                        .map_or(String::new(), |e| format!(": {e}"))
                );
            }
        }
        JobsAction::Events { id, json } => {
            let events = app.job_events(id)?;
            if json {
                return print_json(&events);
            }
            for e in &events {
                println!("{} epoch {} {}: {}", e.at_ms, e.epoch, e.kind, e.detail);
            }
        }
        JobsAction::Retry { id } => {
            app.job_retry(id)?;
            println!("job {id} queued again");
        }
        JobsAction::Cancel { id } => {
            app.job_cancel(id)?;
            println!("job {id} cancelled");
        }
        JobsAction::Priority { id, priority } => {
            app.job_priority(id, priority)?;
            println!("job {id}: priority {priority}");
        }
        JobsAction::RunNow { id } => {
            app.job_run_now(id)?;
            println!(
                "job {id} runs next, on any capable host, schedule windows or not (priority {})",
                mediaforce::store::URGENT
            );
        }
        JobsAction::RetryFailed => {
            println!("{} failed jobs queued again", app.jobs_retry_failed()?);
        }
        JobsAction::ClearFailed => {
            println!("{} failed jobs cleared", app.jobs_clear_failed()?);
        }
    }
    Ok(())
}
