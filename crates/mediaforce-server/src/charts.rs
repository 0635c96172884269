//! Charts drawn on the server as SVG with plotters (its SVG backend only: no fonts are loaded,
//! text is left to the browser), embedded in the page so they read without JavaScript.

use plotters::prelude::*;

/// A drawing error as text (a chart that cannot be drawn is left as far as it got).
fn text(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Width and height of every chart, in pixels.
const SIZE: (u32, u32) = (720, 260);

/// A line of `(x, y)` points over labelled x positions: `labels[i]` names x = i. The y axis
/// is formatted by `y_label`. An empty series draws the axes and says there is no data.
pub fn line(title: &str, labels: &[String], ys: &[f64], y_label: &dyn Fn(f64) -> String) -> String {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        let _ = draw_line(&root, title, labels, ys, y_label);
        let _ = root.present();
    }
    svg
}

fn draw_line(
    root: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    title: &str,
    labels: &[String],
    ys: &[f64],
    y_label: &dyn Fn(f64) -> String,
) -> Result<(), String> {
    root.fill(&WHITE).map_err(text)?;
    let top = ys.iter().copied().fold(0.0_f64, f64::max).max(1.0) * 1.1;
    let bottom = ys.iter().copied().fold(0.0_f64, f64::min).min(0.0);
    // Points sit at whole x; half a step of margin on each side keeps one point off the axis.
    let n = ys.len().max(1);
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 15))
        .margin(10)
        .x_label_area_size(28)
        .y_label_area_size(70)
        .build_cartesian_2d(-0.5..n as f64 - 0.5, bottom..top)
        .map_err(text)?;
    chart
        .configure_mesh()
        .x_labels(n.min(6) + 1)
        .y_labels(5)
        .x_label_formatter(&|x| {
            // Only whole positions name a point.
            if (x - x.round()).abs() > 0.01 || *x < 0.0 {
                return String::new();
            }
            labels.get(x.round() as usize).cloned().unwrap_or_default()
        })
        .y_label_formatter(&|y| y_label(*y))
        .light_line_style(WHITE)
        .draw()
        .map_err(text)?;
    if ys.is_empty() {
        return Ok(());
    }
    let points: Vec<(f64, f64)> = ys.iter().enumerate().map(|(i, y)| (i as f64, *y)).collect();
    chart
        .draw_series(LineSeries::new(points.clone(), BLUE.stroke_width(2)))
        .map_err(text)?;
    // A mark per point while they are few enough to tell apart.
    if points.len() <= 62 {
        chart
            .draw_series(points.iter().map(|p| Circle::new(*p, 3, BLUE.filled())))
            .map_err(text)?;
    }
    Ok(())
}

/// Bars, one per labelled value.
pub fn bars(title: &str, labels: &[String], values: &[f64]) -> String {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        let _ = draw_bars(&root, title, labels, values);
        let _ = root.present();
    }
    svg
}

fn draw_bars(
    root: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    title: &str,
    labels: &[String],
    values: &[f64],
) -> Result<(), String> {
    root.fill(&WHITE).map_err(text)?;
    let top = values.iter().copied().fold(0.0_f64, f64::max).max(1.0) * 1.15;
    let n = values.len().max(1) as u32;
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 15))
        .margin(10)
        .x_label_area_size(28)
        .y_label_area_size(50)
        .build_cartesian_2d((0u32..n).into_segmented(), 0.0..top)
        .map_err(text)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n as usize)
        // Counts: whole numbers only.
        .y_labels((top as usize + 1).min(6))
        // At most about eight labels, evenly spaced.
        .x_label_formatter(&|x| match x {
            SegmentValue::CenterOf(i) if i % n.div_ceil(8) == 0 => {
                labels.get(*i as usize).cloned().unwrap_or_default()
            }
            _ => String::new(),
        })
        .y_label_formatter(&|y| format!("{y:.0}"))
        .light_line_style(WHITE)
        .draw()
        .map_err(text)?;
    chart
        .draw_series(
            Histogram::vertical(&chart)
                .style(BLUE.mix(0.7).filled())
                .margin(6)
                .data(values.iter().enumerate().map(|(i, v)| (i as u32, *v))),
        )
        .map_err(text)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_chart_is_one_svg_with_a_mark_per_point() {
        let labels: Vec<String> = (1..=4).map(|d| format!("2026-12-0{d}")).collect();
        let svg = line("saved", &labels, &[0.0, 10.0, 10.0, 25.0], &|y| {
            format!("{y:.0} B")
        });
        assert!(
            svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"),
            "{svg}"
        );
        assert_eq!(svg.matches("<circle").count(), 4, "{svg}");
        // The series is the one line two pixels wide, through the four points.
        let series: Vec<&str> = svg
            .lines()
            .filter(|l| l.starts_with("<polyline") && l.contains("stroke-width=\"2\""))
            .collect();
        assert_eq!(series.len(), 1, "{svg}");
        let points = series[0].split("points=\"").nth(1).unwrap();
        assert_eq!(
            points
                .split_whitespace()
                .filter(|p| p.contains(','))
                .count(),
            4
        );
        assert!(
            svg.contains(">\nsaved\n</text>"),
            "the title is text: {svg}"
        );
        assert!(svg.contains(">\n2026-12-01\n</text>"), "x labels: {svg}");
    }

    #[test]
    fn a_bar_chart_has_a_bar_per_value() {
        let labels: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let svg = bars("bands", &labels, &[3.0, 0.0, 7.0]);
        assert!(svg.starts_with("<svg"), "{svg}");
        // The background, then one rectangle per bar (a zero bar has no height but is drawn).
        assert!(svg.matches("<rect").count() >= 4, "{svg}");
        for l in ["a", "b", "c"] {
            assert!(svg.contains(&format!(">\n{l}\n</text>")), "{svg}");
        }
    }
}
