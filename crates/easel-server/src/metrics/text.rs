//! The Prometheus text exposition format (0.0.4): family headers, samples with escaped
//! label values, and histograms kept in atomics.

use std::fmt::{Display, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// `# HELP` and `# TYPE` of a family.
pub fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = write!(out, "# HELP {name} ");
    // HELP text escapes only the backslash and the line feed.
    for c in help.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    let _ = write!(out, "\n# TYPE {name} {kind}\n");
}

/// One sample: `name{label="value",…} value`.
pub fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: impl Display) {
    out.push_str(name);
    labelled(out, labels, None);
    let _ = writeln!(out, " {value}");
}

/// `{a="x",b="y"}` (nothing without labels), with `extra` (a histogram's `le`) last.
fn labelled(out: &mut String, labels: &[(&str, &str)], extra: Option<(&str, &str)>) {
    if labels.is_empty() && extra.is_none() {
        return;
    }
    out.push('{');
    for (i, (name, value)) in labels.iter().copied().chain(extra).enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(name);
        out.push_str("=\"");
        escape(out, value);
        out.push('"');
    }
    out.push('}');
}

/// A label value: backslash, double quote and line feed are escaped.
fn escape(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Upper bounds for request latencies, in seconds: API calls take milliseconds, worker
/// long polls and `Prefer: wait` up to a minute.
pub const REQUEST_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// Upper bounds for job run times, in seconds: a sandbox image takes milliseconds, a
/// video on a GPU many minutes.
pub const RUN_BUCKETS: &[f64] = &[
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0,
];

/// A histogram in atomics: a count per bucket (not cumulative; rendering adds them up)
/// and the sum in microseconds, so an observation is two atomic additions.
pub struct Histogram {
    bounds: &'static [f64],
    /// One per bound, and the last for observations above every bound.
    counts: Box<[AtomicU64]>,
    sum_micros: AtomicU64,
}

impl Histogram {
    pub fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_micros: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, took: Duration) {
        let seconds = took.as_secs_f64();
        let i = self.bounds.partition_point(|b| *b < seconds);
        if let Some(count) = self.counts.get(i) {
            count.fetch_add(1, Ordering::Relaxed);
        }
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// `_bucket` (cumulative, `le` last), `_sum` and `_count` samples. The count is the
    /// `+Inf` bucket's, so the two always agree even while observations land meanwhile.
    pub fn render(&self, out: &mut String, name: &str, labels: &[(&str, &str)]) {
        let bucket = format!("{name}_bucket");
        let mut cumulative = 0u64;
        let mut le = String::new();
        for (i, count) in self.counts.iter().enumerate() {
            cumulative += count.load(Ordering::Relaxed);
            le.clear();
            match self.bounds.get(i) {
                Some(bound) => {
                    let _ = write!(le, "{bound:?}");
                }
                None => le.push_str("+Inf"),
            }
            out.push_str(&bucket);
            labelled(out, labels, Some(("le", &le)));
            let _ = writeln!(out, " {cumulative}");
        }
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        sample(out, &format!("{name}_sum"), labels, sum);
        sample(out, &format!("{name}_count"), labels, cumulative);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_and_help_are_escaped() {
        let mut out = String::new();
        family(&mut out, "m", "gauge", "a \\ b\nc \"q\"");
        sample(&mut out, "m", &[("route", "/a\"b\\c\nd"), ("x", "")], 1);
        assert_eq!(
            out,
            "# HELP m a \\\\ b\\nc \"q\"\n# TYPE m gauge\nm{route=\"/a\\\"b\\\\c\\nd\",x=\"\"} 1\n"
        );
    }

    #[test]
    fn a_histogram_counts_each_observation_in_its_bucket_and_every_one_above() {
        let h = Histogram::new(&[0.1, 1.0]);
        h.observe(Duration::from_millis(100));
        h.observe(Duration::from_millis(500));
        h.observe(Duration::from_secs(3));
        let mut out = String::new();
        h.render(&mut out, "t_seconds", &[("m", "x")]);
        assert_eq!(
            out,
            "t_seconds_bucket{m=\"x\",le=\"0.1\"} 1\nt_seconds_bucket{m=\"x\",le=\"1.0\"} 2\n\
             t_seconds_bucket{m=\"x\",le=\"+Inf\"} 3\nt_seconds_sum{m=\"x\"} 3.6\nt_seconds_count{m=\"x\"} 3\n"
        );
    }
}
