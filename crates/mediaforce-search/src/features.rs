//! Source features for the learned first guess: ITU-T P.910 spatial and temporal information
//! (SI, TI) measured on the search's sample frames, and the source's bits per pixel, size,
//! rate, depth and HDR. Pure functions over luma planes; the search calls them on the frames
//! it already holds.

pub use crate::store::point::SourceFeatures;

/// A luma plane: `width` x `height` samples, rows `stride` samples apart, 8-bit or 16-bit
/// (with `depth` significant bits).
#[derive(Debug, Clone, Copy)]
pub struct Luma<'a> {
    /// Samples (bytes for 8-bit, little-endian pairs for deeper).
    pub data: &'a [u8],
    /// Row pitch in bytes.
    pub stride: usize,
    /// Width in samples.
    pub width: usize,
    /// Height in rows.
    pub height: usize,
    /// Bits per sample.
    pub depth: u32,
}

impl Luma<'_> {
    /// Sample (x, y) on the 8-bit scale.
    fn at(&self, x: usize, y: usize) -> f64 {
        if self.depth <= 8 {
            f64::from(self.data[y * self.stride + x])
        } else {
            let i = y * self.stride + 2 * x;
            let v = u16::from_le_bytes([self.data[i], self.data[i + 1]]);
            f64::from(v) / f64::from(1u32 << (self.depth - 8))
        }
    }
}

/// Population standard deviation of values given as (sum, sum of squares, count).
fn stddev(sum: f64, sq: f64, n: f64) -> f64 {
    if n < 1.0 {
        return 0.0;
    }
    let mean = sum / n;
    (sq / n - mean * mean).max(0.0).sqrt()
}

/// A frame's spatial information: the standard deviation of the Sobel gradient magnitude over
/// the frame's interior (the border row and column have no full neighbourhood).
pub fn spatial_information(f: &Luma<'_>) -> f64 {
    if f.width < 3 || f.height < 3 {
        return 0.0;
    }
    let (mut sum, mut sq, mut n) = (0.0, 0.0, 0.0);
    for y in 1..f.height - 1 {
        for x in 1..f.width - 1 {
            let p = |dx: usize, dy: usize| f.at(x + dx - 1, y + dy - 1);
            let gx = (p(2, 0) + 2.0 * p(2, 1) + p(2, 2)) - (p(0, 0) + 2.0 * p(0, 1) + p(0, 2));
            let gy = (p(0, 2) + 2.0 * p(1, 2) + p(2, 2)) - (p(0, 0) + 2.0 * p(1, 0) + p(2, 0));
            let m = (gx * gx + gy * gy).sqrt();
            sum += m;
            sq += m * m;
            n += 1.0;
        }
    }
    stddev(sum, sq, n)
}

/// Temporal information between two frames of one size: the standard deviation of their
/// luma difference.
pub fn temporal_information(now: &Luma<'_>, before: &Luma<'_>) -> f64 {
    let (w, h) = (now.width.min(before.width), now.height.min(before.height));
    let (mut sum, mut sq, mut n) = (0.0, 0.0, 0.0);
    for y in 0..h {
        for x in 0..w {
            let d = now.at(x, y) - before.at(x, y);
            sum += d;
            sq += d * d;
            n += 1.0;
        }
    }
    stddev(sum, sq, n)
}

/// SI and TI over runs of consecutive frames (one run per sample; TI pairs frames within a
/// run only). At most `budget` frames get SI (spread over the runs); TI is measured for the
/// same frames against the frame before them. Returns (si max, si mean, ti max, ti mean,
/// frames measured).
pub fn si_ti(runs: &[Vec<Luma<'_>>], budget: usize) -> (f64, f64, f64, f64, u64) {
    let total: usize = runs.iter().map(Vec::len).sum();
    let step = total.div_ceil(budget.max(1)).max(1);
    let (mut si_max, mut si_sum, mut ti_max, mut ti_sum, mut n, mut nt) =
        (0.0f64, 0.0, 0.0f64, 0.0, 0u64, 0u64);
    let mut i = 0usize;
    for run in runs {
        for (j, f) in run.iter().enumerate() {
            if i.is_multiple_of(step) {
                let si = spatial_information(f);
                si_max = si_max.max(si);
                si_sum += si;
                n += 1;
                if j > 0 {
                    let ti = temporal_information(f, &run[j - 1]);
                    ti_max = ti_max.max(ti);
                    ti_sum += ti;
                    nt += 1;
                }
            }
            i += 1;
        }
    }
    (
        si_max,
        if n > 0 { si_sum / n as f64 } else { 0.0 },
        ti_max,
        if nt > 0 { ti_sum / nt as f64 } else { 0.0 },
        n,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plane(w: usize, h: usize, f: impl Fn(usize, usize) -> u8) -> Vec<u8> {
        (0..h)
            .flat_map(|y| (0..w).map(move |x| (x, y)))
            .map(|(x, y)| f(x, y))
            .collect()
    }

    fn luma(data: &[u8], w: usize, h: usize) -> Luma<'_> {
        Luma {
            data,
            stride: w,
            width: w,
            height: h,
            depth: 8,
        }
    }

    #[test]
    fn spatial_information_by_hand() {
        // Flat: no gradient anywhere.
        let flat = plane(8, 8, |_, _| 100);
        assert_eq!(spatial_information(&luma(&flat, 8, 8)), 0.0);
        // A ramp of 10 per column: every interior gradient is 4 x 10 x 2 = 80, so no spread.
        let ramp = plane(8, 8, |x, _| (x * 10) as u8);
        assert_eq!(spatial_information(&luma(&ramp, 8, 8)), 0.0);
        // One vertical edge (0 | 200) between columns 3 and 4 of an 8x4 frame: interior
        // columns 1..=6, of which columns 3 and 4 see 4 x 200 = 800 and the rest 0; a third of
        // the values are 800, so the deviation is 800 x sqrt(1/3 x 2/3).
        let edge = plane(8, 4, |x, _| if x >= 4 { 200 } else { 0 });
        let want = 800.0 * (1.0f64 / 3.0 * 2.0 / 3.0).sqrt();
        assert!((spatial_information(&luma(&edge, 8, 4)) - want).abs() < 1e-9);
    }

    #[test]
    fn temporal_information_by_hand() {
        let a = plane(4, 4, |_, _| 50);
        // A uniform change has no spread.
        let b = plane(4, 4, |_, _| 60);
        assert_eq!(temporal_information(&luma(&b, 4, 4), &luma(&a, 4, 4)), 0.0);
        // Half the picture changes by 40: deviation 20.
        let c = plane(4, 4, |x, _| if x < 2 { 90 } else { 50 });
        assert!((temporal_information(&luma(&c, 4, 4), &luma(&a, 4, 4)) - 20.0).abs() < 1e-9);
        // Deeper samples are put on the 8-bit scale: 10-bit 400 is 8-bit 100.
        let deep: Vec<u8> = (0..16).flat_map(|_| 400u16.to_le_bytes()).collect();
        let l = Luma {
            data: &deep,
            stride: 8,
            width: 4,
            height: 4,
            depth: 10,
        };
        assert_eq!(l.at(3, 3), 100.0);
    }

    #[test]
    fn si_ti_pair_frames_within_a_run_only() {
        let a = plane(4, 4, |_, _| 50);
        let c = plane(4, 4, |x, _| if x < 2 { 90 } else { 50 });
        // Two runs: [a, c] and [c]: one TI (20), none across the runs.
        let runs = vec![vec![luma(&a, 4, 4), luma(&c, 4, 4)], vec![luma(&c, 4, 4)]];
        let (_, _, ti, ti_mean, n) = si_ti(&runs, 100);
        assert_eq!(n, 3);
        assert!((ti - 20.0).abs() < 1e-9 && (ti_mean - 20.0).abs() < 1e-9);
        // A budget of one frame measures the first only.
        assert_eq!(si_ti(&runs, 1).4, 1);
    }
}
