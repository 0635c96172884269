//! How well a plan's expected saving matches the saving the search measured, on the shipped
//! corpus of public clips: each clip's size at the target (read off its own measured curve)
//! against what the plan would have expected for it, with the size model fitted on the other
//! clips (leave one out), and with the codec table. Prints the mean absolute error in
//! percentage points of the source, the rank correlation of expected and measured savings, and
//! which of the two a plan uses (the size model only where it beats the table).
//!
//! ```sh
//! cargo run --release --example estimate_bench
//! ```

use mediaforce::model::{shipped_points, size_observations, SizeModel};
use mediaforce::search::TargetStat;

fn main() {
    let points = shipped_points().to_vec();
    println!(
        "| encoder, preset, target | clips | size model: mean abs error | codec table: mean abs error | size model: rank correlation | codec table: rank correlation | a plan uses |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (encoder, preset) in [("libsvtav1", "8"), ("libx264", "medium")] {
        for target in [93.0, 95.0] {
            let obs = size_observations(&points, encoder, preset, TargetStat::Mean, target);
            let Some(model) = SizeModel::fit(&points, encoder, preset, TargetStat::Mean, target)
            else {
                println!(
                    "| {encoder} {preset}, VMAF {target} | {} | too few clips | | | | codec table |",
                    obs.len()
                );
                continue;
            };
            let table = mediaforce::rank::table_accuracy(&model).expect("two or more clips");
            let m = model.leave_one_out;
            let used = if mediaforce::rank::better_than_table(&model) {
                "size model"
            } else {
                "codec table"
            };
            // The model's leave-one-out pairs are of sizes; the error in points is the same for
            // savings, and so is the rank correlation.
            println!(
                "| {encoder} {preset}, VMAF {target} | {} | {:.1} points | {:.1} points | {:.2} | {:.2} | {used} |",
                m.sources,
                m.mean_abs_error_points,
                table.mean_abs_error_points,
                m.rank_correlation,
                table.rank_correlation
            );
        }
    }
}
