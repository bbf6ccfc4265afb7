//! Summaries of repeated measurements: median and p95 by the nearest-rank method (p95 of 20
//! samples is the 19th smallest; of 5 or fewer, the largest), plus min and max.

use serde::Serialize;

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Summary {
    pub n: usize,
    pub median: f64,
    pub p95: f64,
    pub min: f64,
    pub max: f64,
}

/// The nearest-rank percentile `p` (0-100] of sorted `v`.
fn rank(sorted: &[f64], p: f64) -> f64 {
    let n = sorted.len();
    let k = ((p / 100.0) * n as f64).ceil().max(1.0) as usize;
    sorted[k.min(n) - 1]
}

/// The nearest-rank percentile `p` (0-100] of unsorted `values`; None for an empty sample.
pub fn percentile(values: &[f64], p: f64) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    v.sort_by(|a, b| a.total_cmp(b));
    (!v.is_empty()).then(|| rank(&v, p))
}

/// None for an empty sample.
pub fn summarize(values: &[f64]) -> Option<Summary> {
    if values.is_empty() {
        return None;
    }
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    // The median of an even count is the mean of the two middle values.
    let n = v.len();
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    Some(Summary {
        n,
        median,
        p95: rank(&v, 95.0),
        min: v[0],
        max: v[n - 1],
    })
}

/// A number with sensible precision for a table cell.
pub fn fmt_num(x: f64) -> String {
    let a = x.abs();
    if a >= 1000.0 {
        format!("{x:.0}")
    } else if a >= 100.0 {
        format!("{x:.1}")
    } else if a >= 1.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.3}")
    }
}
