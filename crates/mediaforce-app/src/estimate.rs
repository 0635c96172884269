//! Why a plan expects what it expects of a file: `plan --explain N`.

use crate::{App, AppError, ErrorKind, Result};
use mediaforce::model::{SizeAccuracy, SizeObservation, SIZE_TERMS};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// The size model behind an estimate, or the one that was fitted and not used.
#[derive(Debug, Clone, Serialize)]
pub struct SizeModelView {
    /// Encoder, preset, statistic and target it is for.
    pub encoder: String,
    /// The preset.
    pub preset: String,
    /// The target statistic.
    pub stat: mediaforce::search::TargetStat,
    /// The target.
    pub target: f64,
    /// Its terms and their coefficients (of ln(size percent)).
    pub coefficients: Vec<(&'static str, f64)>,
    /// Sources it was fitted on, and how many are shipped public clips.
    pub sources: usize,
    /// Shipped public clips among them.
    pub shipped_sources: usize,
    /// Its error on each source left out in turn.
    pub leave_one_out: SizeAccuracy,
    /// The codec table's error on the same sources.
    pub codec_table: Option<SizeAccuracy>,
    /// Whether plans use it (it beats the table).
    pub used: bool,
    /// The measured sources nearest this file.
    pub nearest: Vec<SizeObservation>,
}

/// What an estimate rests on.
#[derive(Debug, Clone, Serialize)]
pub struct EstimateView {
    /// Index in the plan.
    pub index: usize,
    /// The file.
    pub source: PathBuf,
    /// Its video codec, height and bits per pixel.
    pub codec: String,
    /// Its height.
    pub height: u32,
    /// Its video's bits per pixel.
    pub bits_per_pixel: f64,
    /// What estimated it (`size model`, `learned ratios`, `codec table`).
    pub estimator: &'static str,
    /// The estimate in words.
    pub reason: String,
    /// Expected saving, percent of the source.
    pub expected_saving_percent: f64,
    /// The saving at the pessimistic end of the range.
    pub pessimistic_saving_percent: f64,
    /// The bucket.
    pub bucket: &'static str,
    /// The size model for the item's encoder, preset and target, when enough sources bracket it.
    pub model: Option<SizeModelView>,
    /// A remux or audio item: each stream and what happens to it (the estimate is the
    /// streams' declared bit rates, not a model).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub repack: Vec<String>,
}

impl EstimateView {
    /// The explanation in words, a line each (sub-lines of the size model indented by two
    /// spaces): what `plan --explain` prints and the item page shows.
    pub fn lines(&self) -> Vec<String> {
        let mut out = vec![
            format!(
                "{} {}p at {:.3} bit/pixel; expected saving {:.0}% ({:.0}% at the pessimistic end), {}",
                self.codec,
                self.height,
                self.bits_per_pixel,
                self.expected_saving_percent,
                self.pessimistic_saving_percent,
                self.bucket
            ),
            format!("estimated by the {}: {}", self.estimator, self.reason),
        ];
        if !self.repack.is_empty() {
            out.extend(self.repack.iter().map(|l| format!("  {l}")));
            return out;
        }
        let Some(m) = &self.model else {
            out.push(
                "size model: too few measured sources bracket the target (the codec table estimates)"
                    .into(),
            );
            return out;
        };
        out.push(format!(
            "size model for {} preset {} at {:?} VMAF {}: {} sources ({} public clips), {}",
            m.encoder,
            m.preset,
            m.stat,
            m.target,
            m.sources,
            m.shipped_sources,
            if m.used {
                "used"
            } else {
                "not used: the codec table does better on its sources"
            }
        ));
        let terms: Vec<String> = m
            .coefficients
            .iter()
            .map(|(t, c)| format!("{t} {c:+.3}"))
            .collect();
        out.push(format!("  ln(size %) = {}", terms.join(", ")));
        let l = &m.leave_one_out;
        out.push(format!(
            "  left out in turn: mean error {:.1} points, rank correlation {:.2} (spread {:.2} in ln size)",
            l.mean_abs_error_points, l.rank_correlation, l.rms_ln_error
        ));
        if let Some(t) = &m.codec_table {
            out.push(format!(
                "  codec table on the same sources: mean error {:.1} points, rank correlation {:.2}",
                t.mean_abs_error_points, t.rank_correlation
            ));
        }
        for o in &m.nearest {
            out.push(format!(
                "  near: {} ({} {}p, {:.3} bit/pixel) needed {:.0}% at the target",
                o.name, o.codec, o.height, o.bits_per_pixel, o.percent
            ));
        }
        out
    }
}

impl App {
    /// Explain item `index` of the plan at `manifest` (the latest plan when `None`).
    pub fn explain_estimate(&self, manifest: Option<&Path>, index: usize) -> Result<EstimateView> {
        let mpath = self.plan_path(manifest)?;
        let m = mediaforce::manifest::load(&self.catalog, &mpath)?;
        let item = m.items.iter().find(|i| i.index == index).ok_or_else(|| {
            AppError::new(
                ErrorKind::NotFound,
                format!("{}: no item {index}", mpath.display()),
            )
        })?;
        let file = self.catalog.file(item.file_id)?.ok_or_else(|| {
            AppError::new(
                ErrorKind::NotFound,
                format!("{}: not in the catalog", item.source.display()),
            )
        })?;
        let (codec, height, bits_per_pixel) =
            mediaforce::rank::estimate_inputs(&file).ok_or_else(|| {
                AppError::new(
                    ErrorKind::Invalid,
                    format!("{}: no readable video stream", item.source.display()),
                )
            })?;
        if !item.kind.is_encode() {
            return Ok(EstimateView {
                index,
                source: item.source.clone(),
                codec,
                height,
                bits_per_pixel,
                estimator: "streams' declared bit rates",
                reason: item.reason.clone(),
                expected_saving_percent: item.expected_saving_percent,
                pessimistic_saving_percent: item.expected_saving_percent,
                bucket: item.kind.as_str(),
                model: None,
                repack: item
                    .streams
                    .iter()
                    .map(|s| format!("stream {}: {}", s.index, s.what))
                    .collect(),
            });
        }
        let policy = &item.policy;
        let sizes = mediaforce::rank::SizeModels::new(&self.catalog);
        let learned =
            |src: &str, enc: &str| self.catalog.learned_ratios(src, enc).unwrap_or_default();
        let ranking = mediaforce::rank::rank_with(
            &file,
            policy,
            &mediaforce::rank::Evidence {
                learned: &learned,
                sizes: &|p| sizes.for_policy(p),
            },
        );
        let model = sizes.fitted(policy);
        let model = model.map(|m| SizeModelView {
            coefficients: SIZE_TERMS.iter().copied().zip(m.coefficients).collect(),
            codec_table: mediaforce::rank::table_accuracy(&m),
            used: mediaforce::rank::better_than_table(&m),
            nearest: m
                .neighbours(bits_per_pixel, height, 3)
                .into_iter()
                .cloned()
                .collect(),
            encoder: m.encoder.clone(),
            preset: m.preset.clone(),
            stat: m.stat,
            target: m.target,
            sources: m.sources,
            shipped_sources: m.shipped_sources,
            leave_one_out: m.leave_one_out,
        });
        Ok(EstimateView {
            index,
            source: item.source.clone(),
            codec,
            height,
            bits_per_pixel,
            estimator: ranking.estimator,
            reason: ranking.reason,
            expected_saving_percent: ranking.expected_saving_percent,
            pessimistic_saving_percent: ranking.pessimistic_saving_percent,
            bucket: ranking.bucket.label(),
            model,
            repack: Vec::new(),
        })
    }
}
