//! Rules that approve an encode without a person (`automation.mode = "promote"`): a pure
//! decision over what validation measured, with every rule's wanted and measured value kept, so
//! the record of an automatic approval says exactly what allowed it.

use crate::policy::ApprovePolicy;
use serde::{Deserialize, Serialize};

/// What validation measured of one encode, as the rules read it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Measured {
    /// Validation passed (every check).
    pub validated: bool,
    /// The target statistic's name (`mean`, `p5`...).
    pub target_stat: String,
    /// The target.
    pub target: f64,
    /// The statistic as measured on the whole encode (`None`: not scored).
    pub achieved: Option<f64>,
    /// Saving in percent of the source.
    pub saving_percent: f64,
    /// The validation's stream check passed (every audio and subtitle stream kept).
    pub streams_kept: bool,
    /// Seconds the source and the encode play (`None`: not measured).
    pub source_seconds: Option<f64>,
    /// Seconds the encode plays.
    pub encode_seconds: Option<f64>,
    /// Damaged packets or frames of the source concealed in the encode.
    pub source_damage: u64,
    /// A repack: the picture was copied and every picture checked identical to the source's
    /// (the quality target holds without a score).
    pub picture_identical: bool,
}

/// One rule's verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleCheck {
    /// The rule (`validated`, `target`, `saving`, `streams`, `duration`, `source_damage`).
    pub rule: String,
    /// What the rule asks, in words (`mean >= 93.0`).
    pub wanted: String,
    /// What was measured, in words.
    pub measured: String,
    /// Whether it holds.
    pub passed: bool,
}

/// The decision and every rule behind it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// Every rule held: approved by rule.
    pub approved: bool,
    /// Each rule, in order.
    pub checks: Vec<RuleCheck>,
}

impl Verdict {
    /// The rules that did not hold, in words (`saving: wanted >= 10.0%, measured 4.2%`).
    pub fn missed(&self) -> Vec<String> {
        self.checks
            .iter()
            .filter(|c| !c.passed)
            .map(|c| format!("{}: wanted {}, measured {}", c.rule, c.wanted, c.measured))
            .collect()
    }
}

fn check(rule: &str, wanted: String, measured: String, passed: bool) -> RuleCheck {
    RuleCheck {
        rule: rule.into(),
        wanted,
        measured,
        passed,
    }
}

/// Judge one encode against the rules. Validation must always have passed; the other rules
/// are each turned on or bounded by `rules`.
pub fn judge(rules: &ApprovePolicy, m: &Measured) -> Verdict {
    let mut checks = vec![check(
        "validated",
        "passed".into(),
        if m.validated { "passed" } else { "failed" }.into(),
        m.validated,
    )];
    if rules.require_target {
        let measured = match m.achieved {
            _ if m.picture_identical => "picture copied, every picture identical".to_string(),
            Some(a) => format!("{a:.2}"),
            None => "not scored".to_string(),
        };
        checks.push(check(
            "target",
            format!("{} >= {:.2}", m.target_stat, m.target),
            measured,
            m.picture_identical || m.achieved.is_some_and(|a| a >= m.target),
        ));
    }
    checks.push(check(
        "saving",
        format!(">= {:.1}%", rules.min_saving_percent),
        format!("{:.1}%", m.saving_percent),
        m.saving_percent >= rules.min_saving_percent,
    ));
    if rules.keep_all_streams {
        checks.push(check(
            "streams",
            "every audio and subtitle stream kept".into(),
            if m.streams_kept {
                "kept"
            } else {
                "not all kept"
            }
            .into(),
            m.streams_kept,
        ));
    }
    let (measured, passed) = match (m.source_seconds, m.encode_seconds) {
        (Some(s), Some(e)) => (
            format!("{:.3} s apart", (s - e).abs()),
            (s - e).abs() <= rules.duration_tolerance_seconds,
        ),
        _ => ("not measured".to_string(), false),
    };
    checks.push(check(
        "duration",
        format!(
            "within {:.3} s of the source",
            rules.duration_tolerance_seconds
        ),
        measured,
        passed,
    ));
    checks.push(check(
        "source_damage",
        if rules.allow_source_damage {
            "any".into()
        } else {
            "none".into()
        },
        format!("{} damaged packet(s) or frame(s)", m.source_damage),
        rules.allow_source_damage || m.source_damage == 0,
    ));
    Verdict {
        approved: checks.iter().all(|c| c.passed),
        checks,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> ApprovePolicy {
        ApprovePolicy {
            require_target: true,
            min_saving_percent: 10.0,
            keep_all_streams: true,
            duration_tolerance_seconds: 0.5,
            allow_source_damage: false,
        }
    }

    fn good() -> Measured {
        Measured {
            validated: true,
            target_stat: "mean".into(),
            target: 93.0,
            achieved: Some(93.4),
            saving_percent: 42.0,
            streams_kept: true,
            source_seconds: Some(10.0),
            encode_seconds: Some(10.02),
            source_damage: 0,
            picture_identical: false,
        }
    }

    #[test]
    fn each_rule_alone_holds_an_encode_for_review() {
        type Change = fn(&mut Measured, &mut ApprovePolicy);
        let table: &[(&str, Change, Option<&str>)] = &[
            ("all good", |_, _| {}, None),
            (
                "validation failed",
                |m, _| m.validated = false,
                Some("validated"),
            ),
            (
                "below target",
                |m, _| m.achieved = Some(92.99),
                Some("target"),
            ),
            ("not scored", |m, _| m.achieved = None, Some("target")),
            (
                "a repack: not scored, every picture identical",
                |m, _| {
                    m.achieved = None;
                    m.picture_identical = true;
                },
                None,
            ),
            (
                "below target, rule off",
                |m, r| {
                    m.achieved = Some(80.0);
                    r.require_target = false;
                },
                None,
            ),
            (
                "small saving",
                |m, _| m.saving_percent = 9.9,
                Some("saving"),
            ),
            (
                "bigger than source",
                |m, _| m.saving_percent = -3.0,
                Some("saving"),
            ),
            (
                "stream lost",
                |m, _| m.streams_kept = false,
                Some("streams"),
            ),
            (
                "stream lost, rule off",
                |m, r| {
                    m.streams_kept = false;
                    r.keep_all_streams = false;
                },
                None,
            ),
            (
                "shorter",
                |m, _| m.encode_seconds = Some(9.4),
                Some("duration"),
            ),
            (
                "duration unknown",
                |m, _| m.source_seconds = None,
                Some("duration"),
            ),
            (
                "damaged source",
                |m, _| m.source_damage = 3,
                Some("source_damage"),
            ),
            (
                "damaged source allowed",
                |m, r| {
                    m.source_damage = 3;
                    r.allow_source_damage = true;
                },
                None,
            ),
        ];
        for (name, change, missed) in table {
            let (mut m, mut r) = (good(), rules());
            change(&mut m, &mut r);
            let v = judge(&r, &m);
            let failed: Vec<&str> = v
                .checks
                .iter()
                .filter(|c| !c.passed)
                .map(|c| c.rule.as_str())
                .collect();
            assert_eq!(v.approved, missed.is_none(), "{name}: {v:?}");
            assert_eq!(failed, missed.iter().copied().collect::<Vec<_>>(), "{name}");
        }
    }

    #[test]
    fn the_record_says_what_was_wanted_and_measured() {
        let mut m = good();
        m.saving_percent = 4.25;
        let v = judge(&rules(), &m);
        assert_eq!(v.missed(), vec!["saving: wanted >= 10.0%, measured 4.2%"]);
        let target = v.checks.iter().find(|c| c.rule == "target").unwrap();
        assert_eq!(
            (target.wanted.as_str(), target.measured.as_str()),
            ("mean >= 93.00", "93.40")
        );
        let text = serde_json::to_string(&v).unwrap();
        let back: Verdict = serde_json::from_str(&text).unwrap();
        assert_eq!(back, v);
    }
}
