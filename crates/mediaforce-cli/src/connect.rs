//! What connects the library to other programs: `hooks` (Sonarr/Radarr webhooks) and
//! `notify` (notification channels). Each parses, calls the application layer and renders;
//! secrets are never printed (addresses are shown masked).

use crate::render::print_json;
use anyhow::{anyhow, Result};
use clap::Subcommand;
use mediaforce_app::{App, Paths};

#[derive(Debug, Subcommand)]
pub enum ConnectCommand {
    /// Sonarr and Radarr webhooks (Settings > Connect > Webhook in theirs): an import is
    /// taken under its folder's automation.mode, a rename moves the catalog row, a deleted
    /// file is marked gone; after a promotion the instance is asked to rescan.
    Hooks {
        #[command(subcommand)]
        action: HooksAction,
    },
    /// Notification channels: webhook (HMAC-signed JSON), ntfy, Gotify, Discord, Slack,
    /// Telegram, Apprise API, email (SMTP). Delivered from the queue by `mediaforce serve`, retried with
    /// backoff.
    Notify {
        #[command(subcommand)]
        action: NotifyAction,
    },
}

#[derive(Debug, Subcommand)]
pub enum HooksAction {
    /// Add a hook (replaces one of that name); prints its token and the URL to paste.
    Add {
        /// Its name.
        name: String,
        /// Their path prefix = ours (repeatable), e.g. --map /data/tv=/srv/media/TV.
        #[arg(long = "map", value_name = "THEIRS=OURS")]
        maps: Vec<String>,
        /// The instance's address (http://sonarr:8989), to ask it to rescan what mediaforce
        /// replaced; needs --api-key.
        #[arg(long)]
        arr_url: Option<String>,
        /// The instance's API key (Settings > General), or MEDIAFORCE_ARR_API_KEY.
        #[arg(long, env = "MEDIAFORCE_ARR_API_KEY", hide_env_values = true)]
        api_key: Option<String>,
    },
    /// The hooks and what they received lately.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove a hook (its URL stops working at once).
    Remove {
        /// Its name.
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum NotifyAction {
    /// Add a channel (replaces one of that name).
    Add {
        /// Its name.
        name: String,
        /// Where to deliver: a webhook address, an ntfy topic URL, a Gotify server, a Discord
        /// or Slack webhook, `https://api.telegram.org?chat_id=ID`, an Apprise API notify URL,
        /// or `smtp://[user@]host[:port]?from=A&to=B` (STARTTLS; `smtps://` for TLS,
        /// `smtp+insecure://` for a local relay).
        url: String,
        /// webhook, ntfy, gotify, discord, slack, telegram, apprise, email (default: from the
        /// address, else webhook).
        #[arg(long)]
        kind: Option<String>,
        /// Events (comma-separated): review, failed, promoted, host_silent, free_space,
        /// digest; default all.
        #[arg(long, value_delimiter = ',')]
        events: Vec<String>,
        /// The signing key (webhook), access token (ntfy), app token (Gotify), bot token
        /// (Telegram) or SMTP password; or MEDIAFORCE_NOTIFY_SECRET.
        #[arg(long, env = "MEDIAFORCE_NOTIFY_SECRET", hide_env_values = true)]
        secret: Option<String>,
    },
    /// The channels (addresses masked) and their last deliveries.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Send a test message now.
    Test {
        /// The channel.
        name: String,
    },
    /// Remove a channel.
    Remove {
        /// Its name.
        name: String,
    },
}

pub fn run(cmd: ConnectCommand, paths: &Paths) -> Result<()> {
    let app = App::open(paths)?;
    match cmd {
        ConnectCommand::Hooks { action } => hooks(&app, action),
        ConnectCommand::Notify { action } => notify(&app, action),
    }
}

fn hooks(app: &App, action: HooksAction) -> Result<()> {
    match action {
        HooksAction::Add {
            name,
            maps,
            arr_url,
            api_key,
        } => {
            let mappings = maps
                .iter()
                .map(|m| {
                    m.split_once('=')
                        .map(|(t, o)| (t.to_string(), o.to_string()))
                        .ok_or_else(|| anyhow!("--map {m}: expected THEIRS=OURS"))
                })
                .collect::<Result<Vec<_>>>()?;
            let token = app.hook_add(&name, &mappings, arr_url.as_deref(), api_key.as_deref())?;
            eprintln!("hook {name}: paste this URL into Sonarr/Radarr (Settings > Connect > Webhook, method POST); shown once:");
            println!("http://THIS-HOST:8777/hooks/arr?token={token}");
        }
        HooksAction::List { json } => {
            let hooks = app.hooks()?;
            if json {
                return print_json(&hooks);
            }
            for h in &hooks {
                let maps: Vec<String> =
                    h.mappings.iter().map(|(t, o)| format!("{t}={o}")).collect();
                println!(
                    "{}: maps [{}]; rescans {}",
                    h.row.name,
                    maps.join(", "),
                    if h.api_key_set {
                        h.row.arr_url.as_str()
                    } else {
                        "off"
                    }
                );
                for (at, event, status, summary) in h.recent.iter().take(5) {
                    println!(
                        "  {} {event} {status}: {summary}",
                        mediaforce::manifest::utc_timestamp(at / 1000)
                    );
                }
            }
        }
        HooksAction::Remove { name } => {
            app.hook_remove(&name)?;
            println!("removed hook {name}");
        }
    }
    Ok(())
}

fn notify(app: &App, action: NotifyAction) -> Result<()> {
    match action {
        NotifyAction::Add {
            name,
            url,
            kind,
            events,
            secret,
        } => {
            let c = app.notify_add(&name, &url, kind.as_deref(), &events, secret.as_deref())?;
            println!(
                "channel {}: {} {} (events: {})",
                c.name,
                c.kind,
                c.url,
                c.events.join(",")
            );
        }
        NotifyAction::List { json } => {
            let channels = app.notify_list()?;
            if json {
                return print_json(&channels);
            }
            for c in &channels {
                println!(
                    "{}: {} {} (events: {})",
                    c.name,
                    c.kind,
                    c.url,
                    c.events.join(",")
                );
                for (at, event, attempt, ok, detail) in c.recent.iter().take(5) {
                    println!(
                        "  {} {event} attempt {attempt}: {} {detail}",
                        mediaforce::manifest::utc_timestamp(at / 1000),
                        if *ok { "ok" } else { "failed" }
                    );
                }
            }
        }
        NotifyAction::Test { name } => println!("{}", app.notify_test(&name)?),
        NotifyAction::Remove { name } => {
            app.notify_remove(&name)?;
            println!("removed channel {name}");
        }
    }
    Ok(())
}
