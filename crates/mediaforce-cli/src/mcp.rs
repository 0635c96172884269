//! `mediaforce mcp`: the encode-to-quality tools for agents, as a Model Context Protocol
//! server over standard input and output (the `rmcp` crate). Each tool takes JSON arguments
//! described by a schema and answers with the same views `--json` prints; long calls (a search,
//! an encode) report progress when the caller sends a progress token.

use rmcp::model::{
    CallToolResult, Implementation, ProgressNotificationParam, RequestMetaObject,
    ServerCapabilities, ServerConfig,
};
use rmcp::{
    handler::server::router::tool::ToolRouter, handler::server::wrapper::Parameters, schemars,
    tool, tool_handler, tool_router, ErrorData, Peer, RoleServer, ServerHandler, ServiceExt,
};
use std::path::PathBuf;

/// The tools, over one data directory (for the policy a file falls under).
#[derive(Debug, Clone)]
pub struct Tools {
    paths: mediaforce_app::Paths,
    #[allow(dead_code)] // read by the code `tool_handler` generates
    tool_router: ToolRouter<Self>,
}

/// A media file.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
pub struct FileArgs {
    /// Path of the file.
    pub path: String,
}

/// Two files to compare.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
pub struct ScoreArgs {
    /// The original.
    pub reference: String,
    /// The encode, paired with the reference frame by frame (by index, not timestamp).
    pub distorted: String,
    /// Score every N-th frame (1: every frame).
    #[serde(default)]
    pub subsample: Option<u32>,
}

/// What to search for.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
pub struct SearchArgs {
    /// The source.
    pub path: String,
    /// Encoder adapter (libsvtav1, libx264, libx265, ...); the file's policy's when omitted.
    #[serde(default)]
    pub encoder: Option<String>,
    /// VMAF the result must reach (the mean unless the policy says otherwise); the policy's
    /// when omitted.
    #[serde(default)]
    pub target_vmaf: Option<f64>,
    /// Encoder preset; the policy's when omitted.
    #[serde(default)]
    pub preset: Option<String>,
    /// Number of samples (default: one per 8 s of source, 1 to 30).
    #[serde(default)]
    pub samples: Option<usize>,
    /// Length of each sample in seconds (default 2).
    #[serde(default)]
    pub sample_seconds: Option<f64>,
}

/// A search, then the whole file encoded at the chosen knob and verified.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
pub struct EncodeArgs {
    /// Where to write the encode (must not exist).
    pub output: String,
    /// The search.
    #[serde(flatten)]
    pub search: SearchArgs,
}

/// What ladder to measure.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
pub struct LadderArgs {
    /// The source.
    pub path: String,
    /// Encoder adapter (libsvtav1, libx264, libx265, ...).
    pub encoder: String,
    /// Encoder preset (the adapter's default when omitted).
    #[serde(default)]
    pub preset: Option<String>,
    /// Picture heights (the source's and the usual streaming heights below it when omitted).
    #[serde(default)]
    pub resolutions: Vec<u32>,
    /// Knob values (six around the encoder's default when omitted).
    #[serde(default)]
    pub knobs: Vec<f64>,
    /// Most rungs (default 5).
    #[serde(default)]
    pub rungs: Option<usize>,
    /// VMAF the top rung must reach (default 95).
    #[serde(default)]
    pub top_vmaf: Option<f64>,
    /// Number of samples (default: one per 8 s of source, 1 to 30).
    #[serde(default)]
    pub samples: Option<usize>,
    /// Directory to write ladder.json, master.m3u8 and ladder.svg into.
    #[serde(default)]
    pub out: Option<String>,
}

fn failed(e: impl std::fmt::Display) -> ErrorData {
    ErrorData::internal_error(e.to_string(), None)
}

fn answer(v: &impl serde::Serialize) -> Result<CallToolResult, ErrorData> {
    Ok(CallToolResult::structured(
        serde_json::to_value(v).map_err(failed)?,
    ))
}

/// Search events carried out of the blocking search to the client as progress notifications.
struct Forward(tokio::sync::mpsc::UnboundedSender<String>);

impl mediaforce::events::EventSink for Forward {
    fn emit(&mut self, event: mediaforce::events::Event) {
        use mediaforce::events::Event as E;
        let text = match event {
            E::SamplesPlaced { samples } => format!("{} samples ready", samples.len()),
            E::ProbeStarted { knob } => format!("probe at knob {knob}"),
            E::ProbeProgress { frames, total, fps } => {
                format!("probe: {frames}/{total} frames, {fps:.1} fps")
            }
            E::ProbeScored { knob, score, .. } => format!("knob {knob} scored {score:.2}"),
            E::SourceDamaged { errors, .. } => format!("{errors} damaged packets concealed"),
            E::FramesDone {
                label,
                frames,
                total,
                fps,
                ..
            } => match total {
                Some(t) => format!("{label}: {frames}/{t} frames, {fps:.1} fps"),
                None => format!("{label}: {frames} frames, {fps:.1} fps"),
            },
            other => other.kind().to_string(),
        };
        let _ = self.0.send(text);
    }
}

impl Tools {
    fn new(paths: mediaforce_app::Paths) -> Self {
        Self {
            paths,
            tool_router: Self::tool_router(),
        }
    }

    /// The search configuration for `a`: the file's policy, then the arguments, with the
    /// probe cache and (as the policy says) the knob model's first guess.
    fn config(&self, a: &SearchArgs) -> Result<mediaforce::search::SearchConfig, ErrorData> {
        let app = mediaforce_app::App::open(&self.paths).map_err(failed)?;
        let request = mediaforce_app::search::SearchRequest {
            overrides: mediaforce::policy::SearchOverrides {
                encoder: a.encoder.clone(),
                preset: a.preset.clone(),
                target: a.target_vmaf,
                samples: a.samples,
                sample_seconds: a.sample_seconds,
                ..Default::default()
            },
            ..Default::default()
        };
        app.search_config(&PathBuf::from(&a.path), &request)
            .map_err(|e| match e.kind {
                mediaforce_app::ErrorKind::Invalid => ErrorData::invalid_params(e.message, None),
                _ => failed(e),
            })
    }

    /// Run `work` on a blocking thread, forwarding its progress to the client when it sent
    /// a progress token.
    async fn with_progress<T: Send + 'static>(
        meta: &RequestMetaObject,
        client: &Peer<RoleServer>,
        work: impl FnOnce(Forward) -> T + Send + 'static,
    ) -> Result<T, ErrorData> {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let task = tokio::task::spawn_blocking(move || work(Forward(tx)));
        let token = meta.get_progress_token();
        let mut step = 0.0_f64;
        while let Some(message) = rx.recv().await {
            if let Some(token) = &token {
                // Progress must grow whatever the stage: one step per report, the detail
                // (frames, fps, knob, score) in the message.
                step += 1.0;
                let p = ProgressNotificationParam::new(token.clone(), step).with_message(message);
                let _ = client.notify_progress(p).await;
            }
        }
        task.await.map_err(failed)
    }
}

#[tool_router]
impl Tools {
    /// What a file contains.
    #[tool(
        description = "Probe a media file: container, duration, every stream (codec, resolution, frame rate, pixel format, HDR metadata, language), chapters and attachments."
    )]
    async fn probe(
        &self,
        Parameters(a): Parameters<FileArgs>,
    ) -> Result<CallToolResult, ErrorData> {
        let info = tokio::task::spawn_blocking(move || {
            mediaforce_core::probe::probe(std::path::Path::new(&a.path))
        })
        .await
        .map_err(failed)?
        .map_err(|e| ErrorData::invalid_params(e.to_string(), None))?;
        answer(&info)
    }

    /// VMAF of an encode against its original.
    #[tool(
        description = "Score DISTORTED against REFERENCE with VMAF, frames paired by index: mean, harmonic mean, 5th and 1st percentiles, minimum, and the worst frames."
    )]
    async fn score(
        &self,
        Parameters(a): Parameters<ScoreArgs>,
    ) -> Result<CallToolResult, ErrorData> {
        let report = tokio::task::spawn_blocking(move || {
            let opts = mediaforce_metrics::score::ScoreOptions {
                subsample: a.subsample.unwrap_or(1).max(1),
                ..Default::default()
            };
            mediaforce_metrics::score::score_files(
                std::path::Path::new(&a.reference),
                std::path::Path::new(&a.distorted),
                &opts,
                &mut mediaforce_core::NoProgress,
            )
        })
        .await
        .map_err(failed)?
        .map_err(|e| ErrorData::invalid_params(e.to_string(), None))?;
        answer(&report)
    }

    /// The knob a first probe would use.
    #[tool(
        description = "Recommend the quality knob to try first for a file: its policy's encoder, preset and target, and the first guess (the folder's calibration or override when it has one, else the defaults), with the layer each came from."
    )]
    async fn recommend_knob(
        &self,
        Parameters(a): Parameters<FileArgs>,
    ) -> Result<CallToolResult, ErrorData> {
        let paths = self.paths.clone();
        let v = tokio::task::spawn_blocking(move || -> Result<serde_json::Value, ErrorData> {
            let app = mediaforce_app::App::open(&paths).map_err(failed)?;
            let path = PathBuf::from(&a.path);
            let height = mediaforce_core::probe::probe_headers(&path)
                .ok()
                .and_then(|i| {
                    i.primary_video()
                        .and_then(|s| s.video.as_ref().map(|v| v.height))
                })
                .ok_or_else(|| {
                    ErrorData::invalid_params(format!("{}: no video stream", a.path), None)
                })?;
            let r = app.policy(&path);
            let p = &r.policy;
            let class = mediaforce::policy::resolution_class(height);
            let knob = p.start_knob(&p.encode.encoder, height);
            let source = r
                .sources
                .get(&format!("knob.{}.{class}", p.encode.encoder))
                .cloned()
                .unwrap_or_else(|| "the adapter's default".into());
            Ok(serde_json::json!({
                "path": path,
                "encoder": p.encode.encoder,
                "preset": p.encode.preset,
                "target_vmaf": p.encode.target_vmaf,
                "target_stat": p.encode.target_stat,
                "resolution_class": class,
                "knob": knob,
                "knob_source": source,
            }))
        })
        .await
        .map_err(failed)??;
        Ok(CallToolResult::structured(v))
    }

    /// Search the knob for a VMAF target on samples.
    #[tool(
        description = "Search the cheapest quality knob (CRF) that meets a VMAF target, on samples of the source held in memory: every probe with its VMAF statistics and predicted size, and the chosen one. Reports progress."
    )]
    async fn crf_search(
        &self,
        Parameters(a): Parameters<SearchArgs>,
        meta: RequestMetaObject,
        client: Peer<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let cfg = self.config(&a)?;
        let path = PathBuf::from(&a.path);
        let report = Self::with_progress(&meta, &client, move |mut fwd| {
            mediaforce::search::crf_search(&path, &cfg, &mut fwd)
        })
        .await?
        .map_err(failed)?;
        answer(&report)
    }

    /// Search, encode the whole file, verify.
    #[tool(
        description = "Encode a file to a VMAF target: search the knob on samples, encode the whole file at it (every other stream kept) while scoring the output in the same pass, and correct the knob if it missed (the cheapest encode meeting the target is kept). Reports progress."
    )]
    async fn encode_to_target(
        &self,
        Parameters(a): Parameters<EncodeArgs>,
        meta: RequestMetaObject,
        client: Peer<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let output = PathBuf::from(&a.output);
        if output.exists() {
            return Err(ErrorData::invalid_params(
                format!("{}: exists; name a new file", a.output),
                None,
            ));
        }
        let cfg = self.config(&a.search)?;
        let input = PathBuf::from(&a.search.path);
        let report = Self::with_progress(&meta, &client, move |mut fwd| {
            let base = mediaforce_core::transcode::TranscodeOptions::new(&cfg.encoder);
            mediaforce::search::encode_to_target(&input, &output, &cfg, &base, &mut fwd)
        })
        .await?
        .map_err(failed)?;
        answer(&report)
    }

    /// The Pareto ladder.
    #[tool(
        description = "Measure a streaming ladder: encode samples of the source at several picture heights over a knob range, score each upscaled to the source's size, take the upper convex hull of (bit rate, VMAF) and pick rungs on it (each about 1.5x cheaper and 6 VMAF below the one above). Returns every point, the hull and the rungs; writes JSON, an HLS master playlist skeleton and an SVG plot when out is given. Reports progress."
    )]
    async fn ladder(
        &self,
        Parameters(a): Parameters<LadderArgs>,
        meta: RequestMetaObject,
        client: Peer<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let defaults = mediaforce::ladder::RungRules::default();
        let opts = mediaforce_app::tuning::LadderOptions {
            encoder: a.encoder,
            preset: a.preset,
            resolutions: a.resolutions,
            knobs: a.knobs,
            rules: mediaforce::ladder::RungRules {
                rungs: a.rungs.unwrap_or(defaults.rungs),
                top_vmaf: a.top_vmaf.unwrap_or(defaults.top_vmaf),
                ..defaults
            },
            samples: a.samples,
            sample_seconds: None,
            out: a.out.map(PathBuf::from),
        };
        let paths = self.paths.clone();
        let input = PathBuf::from(&a.path);
        let view = Self::with_progress(&meta, &client, move |mut fwd| {
            let app = mediaforce_app::App::open(&paths)?;
            app.ladder(&input, &opts, &mut fwd)
        })
        .await?
        .map_err(failed)?;
        answer(&view)
    }
}

#[tool_handler]
impl ServerHandler for Tools {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("mediaforce", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "Encode video to a perceptual quality target: probe files, score encodes with \
                 VMAF, search the quality knob for a target on samples, recommend a first knob, \
                 and encode to a target with the result verified.",
            )
    }
}

/// Serve the tools on standard input and output until the client closes them.
pub fn serve(paths: &mediaforce_app::Paths) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let running = Tools::new(paths.clone())
            .serve(rmcp::transport::stdio())
            .await
            .map_err(|e| anyhow::anyhow!("mcp: {e}"))?;
        running
            .waiting()
            .await
            .map_err(|e| anyhow::anyhow!("mcp: {e}"))?;
        Ok(())
    })
}
