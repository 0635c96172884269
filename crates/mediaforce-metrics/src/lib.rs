//! mediaforce's quality metrics: VMAF (and PSNR, SSIM, MS-SSIM, CAMBI, CIEDE2000, PSNR-HVS)
//! computed in-process by libvmaf 3.2.
//!
//! - [`vmaf`]: owning wrappers over libvmaf's context, model and picture.
//! - [`score`]: pairs two files' frames and pools the scores, worst frames included.

pub mod error;
pub mod score;
pub mod vmaf;

pub use error::{Error, Result};
pub use score::{
    score_files, FrameScorer, FrameScores, Pooled, Scale, ScoreOptions, ScoreReport, WorstFrame,
};
