//! The typed workflow domain: the states a plan item moves through, the operator's decision,
//! and the one table that says which state changes are allowed, with the words every front
//! end uses when it refuses one.

use serde::{Deserialize, Serialize};

/// Where a plan item stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemState {
    /// In a plan; no work done yet.
    Planned,
    /// Being searched and encoded.
    Encoding,
    /// Stopped by the operator mid-encode; a rerun resumes it.
    Interrupted,
    /// Encoding failed after its retries.
    Failed,
    /// No encode meets the target within the size guard.
    NoResult,
    /// Encoded into its staging path.
    Staged,
    /// The staged encode passed machine validation.
    Validated,
    /// The staged encode failed machine validation.
    Invalid,
    /// Being swapped into the library (journalled; resumable).
    Promoting,
    /// In the library; the original is archived.
    Promoted,
    /// Being taken back out of the library (journalled; resumable).
    RollingBack,
    /// The original is back; the encode is in staging again.
    RolledBack,
}

impl ItemState {
    /// Every state, in workflow order.
    pub const ALL: [ItemState; 12] = [
        ItemState::Planned,
        ItemState::Encoding,
        ItemState::Interrupted,
        ItemState::Failed,
        ItemState::NoResult,
        ItemState::Staged,
        ItemState::Validated,
        ItemState::Invalid,
        ItemState::Promoting,
        ItemState::Promoted,
        ItemState::RollingBack,
        ItemState::RolledBack,
    ];

    /// The stored and printed name (`"no_result"`).
    pub fn as_str(self) -> &'static str {
        match self {
            ItemState::Planned => "planned",
            ItemState::Encoding => "encoding",
            ItemState::Interrupted => "interrupted",
            ItemState::Failed => "failed",
            ItemState::NoResult => "no_result",
            ItemState::Staged => "staged",
            ItemState::Validated => "validated",
            ItemState::Invalid => "invalid",
            ItemState::Promoting => "promoting",
            ItemState::Promoted => "promoted",
            ItemState::RollingBack => "rolling_back",
            ItemState::RolledBack => "rolled_back",
        }
    }

    /// Whether the item's staged file is a finished encode in this state.
    pub fn has_encode(self) -> bool {
        matches!(
            self,
            ItemState::Staged
                | ItemState::Validated
                | ItemState::Invalid
                | ItemState::Promoted
                | ItemState::RolledBack
        )
    }

    /// Whether a promotion or rollback is under way (files may be mid-move).
    pub fn moving(self) -> bool {
        matches!(
            self,
            ItemState::Promoting | ItemState::Promoted | ItemState::RollingBack
        )
    }
}

impl std::fmt::Display for ItemState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ItemState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        ItemState::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| format!("unknown item state '{s}'"))
    }
}

/// The operator's review decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// May be promoted.
    Approved,
    /// Will not be promoted.
    Rejected,
}

impl Decision {
    /// The stored and printed name.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Approved => "approved",
            Decision::Rejected => "rejected",
        }
    }
}

impl std::fmt::Display for Decision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Decision {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "approved" => Ok(Decision::Approved),
            "rejected" => Ok(Decision::Rejected),
            other => Err(format!("unknown decision '{other}'")),
        }
    }
}

/// A state change the table refuses: why, and what to do instead, in the words every front
/// end shows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot go from {from} to {to}: {why}; {what_to_do}")]
pub struct Refusal {
    /// The current state.
    pub from: ItemState,
    /// The state asked for.
    pub to: ItemState,
    /// Why not.
    pub why: &'static str,
    /// What the operator can do.
    pub what_to_do: &'static str,
}

/// A size for people: `1.2 MB`, `3.40 GB`.
pub fn human_bytes(b: u64) -> String {
    let b = b as f64;
    if b >= 1e9 {
        format!("{:.2} GB", b / 1e9)
    } else if b >= 1e6 {
        format!("{:.1} MB", b / 1e6)
    } else if b >= 1e3 {
        format!("{:.1} kB", b / 1e3)
    } else {
        format!("{b} B")
    }
}

/// The transition table: whether an item in `from` may move to `to`.
///
/// Encoding may start (again) from anything that is not in the library or on its way in or
/// out; validation follows an encode; promotion follows validation and resumes itself;
/// rollback follows (or interrupts) a promotion and resumes itself.
pub fn transition(from: ItemState, to: ItemState) -> Result<(), Refusal> {
    use ItemState::*;
    let refuse = |why, what_to_do| {
        Err(Refusal {
            from,
            to,
            why,
            what_to_do,
        })
    };
    match (from, to) {
        // An encode (re)starts from any state whose files are not in the library.
        (
            Planned | Encoding | Interrupted | Failed | NoResult | Staged | Validated | Invalid
            | RolledBack,
            Encoding,
        ) => Ok(()),
        (Promoting | Promoted | RollingBack, Encoding) => refuse(
            "its encode is in the library or on its way in or out",
            "roll it back first (mediaforce rollback)",
        ),
        // An encode ends one of four ways.
        (Encoding, Staged | NoResult | Failed | Interrupted) => Ok(()),
        // An encode that cannot start (source changed or unreadable, no staging folder) fails
        // at once, from any state an encode may start from.
        (
            Planned | Interrupted | Failed | NoResult | Staged | Validated | Invalid | RolledBack,
            Failed,
        ) => Ok(()),
        (_, Staged | NoResult | Interrupted) => refuse(
            "only an encode in progress ends that way",
            "encode it (mediaforce encode)",
        ),
        // Validation judges a finished encode, again as often as asked.
        (Staged | Validated | Invalid | RolledBack, Validated | Invalid) => Ok(()),
        (_, Validated | Invalid) => refuse(
            "there is no finished encode to validate, or it is in the library",
            "encode it first, or roll it back",
        ),
        // Promotion needs a validated encode and resumes an interrupted promotion.
        (Validated | Promoting | RolledBack, Promoting) => Ok(()),
        (Promoting, Promoted) => Ok(()),
        (_, Promoting | Promoted) => refuse(
            "only a validated encode is promoted",
            "validate it (mediaforce validate), then approve it",
        ),
        // Rollback undoes a promotion, finished or not, and resumes itself.
        (Promoting | Promoted | RollingBack, RollingBack) => Ok(()),
        (RollingBack, RolledBack) => Ok(()),
        (_, RollingBack | RolledBack) => refuse("it was never promoted", "nothing to roll back"),
        (_, Failed) => refuse(
            "its encode is in the library or on its way in or out",
            "roll it back first (mediaforce rollback)",
        ),
        (_, Planned) => refuse(
            "an item enters the plan once",
            "plan again to start over (mediaforce plan)",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::ItemState::{self, *};
    use super::{transition, Decision};

    /// Every pair of states, allowed or refused, in one table.
    #[test]
    fn transition_table_covers_every_pair() {
        // (from, [allowed targets]); every other target is refused.
        let allowed: &[(ItemState, &[ItemState])] = &[
            (Planned, &[Encoding, Failed]),
            (Encoding, &[Encoding, Staged, NoResult, Failed, Interrupted]),
            (Interrupted, &[Encoding, Failed]),
            (Failed, &[Encoding, Failed]),
            (NoResult, &[Encoding, Failed]),
            (Staged, &[Encoding, Failed, Validated, Invalid]),
            (
                Validated,
                &[Encoding, Failed, Validated, Invalid, Promoting],
            ),
            (Invalid, &[Encoding, Failed, Validated, Invalid]),
            (Promoting, &[Promoting, Promoted, RollingBack]),
            (Promoted, &[RollingBack]),
            (RollingBack, &[RollingBack, RolledBack]),
            (
                RolledBack,
                &[Encoding, Failed, Validated, Invalid, Promoting],
            ),
        ];
        assert_eq!(allowed.len(), ItemState::ALL.len());
        let mut pairs = 0;
        for (from, targets) in allowed {
            for to in ItemState::ALL {
                let got = transition(*from, to);
                pairs += 1;
                if targets.contains(&to) {
                    assert!(got.is_ok(), "{from} -> {to}: {got:?}");
                } else {
                    let r = got.expect_err(&format!("{from} -> {to} must be refused"));
                    assert!(!r.why.is_empty() && !r.what_to_do.is_empty());
                    assert!(r
                        .to_string()
                        .starts_with(&format!("cannot go from {from} to {to}")));
                }
            }
        }
        assert_eq!(pairs, 144);
    }

    #[test]
    fn names_round_trip() {
        for s in ItemState::ALL {
            assert_eq!(s.as_str().parse::<ItemState>().unwrap(), s);
            assert_eq!(
                serde_json::to_string(&s).unwrap(),
                format!("\"{}\"", s.as_str())
            );
        }
        assert!("queued".parse::<ItemState>().is_err());
        assert_eq!("approved".parse::<Decision>().unwrap(), Decision::Approved);
        assert!("maybe".parse::<Decision>().is_err());
    }
}
