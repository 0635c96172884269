//! What a plan item does to its file ([`ItemKind`]), and for a remux or audio item what
//! happens to each stream ([`StreamStep`]). The plan (the `manifest` module) carries them;
//! the repack analyzer (the `repack` module) decides them.

use serde::{Deserialize, Serialize};

/// What a plan item does to its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ItemKind {
    /// The video re-encoded to the quality target (searched, scored).
    #[default]
    Encode,
    /// Every stream copied into a modern container; the picture is not touched.
    Remux,
    /// The picture copied; audio tracks converted to Opus or left out as the policy says.
    Audio,
}

impl ItemKind {
    /// `encode`, `remux` or `audio`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Encode => "encode",
            Self::Remux => "remux",
            Self::Audio => "audio",
        }
    }

    /// Whether the item re-encodes the picture.
    pub fn is_encode(&self) -> bool {
        *self == Self::Encode
    }
}

/// What a remux or audio item does with one stream of its source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamStep {
    /// Stream index in the source.
    pub index: usize,
    /// Copy, convert to Opus, or leave out.
    pub action: crate::core::repack::StreamAction,
    /// The stream and what happens to it, in words (`eng pcm_s16le 2 ch -> Opus 96 kb/s`).
    pub what: String,
}
