//! Results: every figure with its runs, medians and spread, the goals judged from them, and
//! the Markdown and JSON they are written as.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;

/// One figure measured once per run.
#[derive(Debug, Clone, Serialize)]
pub struct Metric {
    pub key: String,
    pub label: String,
    pub unit: String,
    pub runs: Vec<f64>,
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Goal {
    pub scenario: String,
    pub goal: String,
    pub measured: String,
    /// None: could not be measured here (the reason is in `measured`).
    pub met: Option<bool>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cores: usize,
    pub memory_gib: f64,
    pub cpu: String,
    pub kernel: String,
}

#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub date: String,
    pub commit: String,
    pub quick: bool,
    /// The scenarios of a partial run (`--only`); empty: every scenario.
    pub only: Vec<String>,
    pub machine: Option<Machine>,
    pub settings: BTreeMap<String, String>,
    /// Keyed `scenario.target.figure`, in the order first measured.
    pub metrics: Vec<Metric>,
    pub goals: Vec<Goal>,
    pub notes: Vec<String>,
    pub seconds: f64,
}

pub fn median(values: &[f64]) -> f64 {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    }
}

impl Report {
    /// Adds one run's value of a figure.
    pub fn add(&mut self, key: &str, label: &str, unit: &str, value: f64) {
        let i = match self.metrics.iter().position(|m| m.key == key) {
            Some(i) => i,
            None => {
                self.metrics.push(Metric {
                    key: key.to_string(),
                    label: label.to_string(),
                    unit: unit.to_string(),
                    runs: Vec::new(),
                    median: f64::NAN,
                    min: f64::NAN,
                    max: f64::NAN,
                });
                self.metrics.len() - 1
            }
        };
        let m = &mut self.metrics[i];
        m.runs.push(value);
        m.median = median(&m.runs);
        m.min = m.runs.iter().copied().fold(f64::INFINITY, f64::min);
        m.max = m.runs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    }

    pub fn get(&self, key: &str) -> Option<f64> {
        self.metrics
            .iter()
            .find(|m| m.key == key)
            .map(|m| m.median)
            .filter(|v| v.is_finite())
    }

    pub fn note(&mut self, text: impl Into<String>) {
        self.notes.push(text.into());
    }

    pub fn goal(&mut self, scenario: &str, goal: &str, measured: String, met: Option<bool>) {
        let status = match met {
            Some(true) => "met",
            Some(false) => "NOT MET",
            None => "not measured",
        };
        eprintln!("goal  {status:<12} {scenario}: {goal} — {measured}");
        self.goals.push(Goal {
            scenario: scenario.to_string(),
            goal: goal.to_string(),
            measured,
            met,
        });
    }

    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "## {}, `scripts/bench{}{}` at {}\n",
            self.date,
            if self.quick { " --quick" } else { "" },
            if self.only.is_empty() {
                String::new()
            } else {
                format!(" --only {}", self.only.join(","))
            },
            self.commit
        );
        if let Some(m) = &self.machine {
            let _ = writeln!(
                out,
                "Machine: {} cores ({}), {:.0} GiB, Linux {}. The load generator, Easel, the \
                 baselines, PostgreSQL and Redis share these cores. Whole run: {:.0} s.\n",
                m.cores, m.cpu, m.memory_gib, m.kernel, self.seconds
            );
        }
        for (k, v) in &self.settings {
            let _ = writeln!(out, "- {k}: {v}");
        }
        let _ = writeln!(out, "\n### Goals\n");
        let _ = writeln!(out, "| scenario | goal | measured (median) | |");
        let _ = writeln!(out, "|---|---|---|---|");
        for g in &self.goals {
            let status = match g.met {
                Some(true) => "met",
                Some(false) => "**not met**",
                None => "not measured",
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {status} |",
                g.scenario, g.goal, g.measured
            );
        }
        let _ = writeln!(out, "\n### Figures\n");
        let _ = writeln!(out, "| figure | median | min – max | runs |");
        let _ = writeln!(out, "|---|---|---|---|");
        for m in &self.metrics {
            let _ = writeln!(
                out,
                "| {} | {} {} | {} – {} | {} |",
                m.label,
                fmt(m.median),
                m.unit,
                fmt(m.min),
                fmt(m.max),
                m.runs.len()
            );
        }
        if !self.notes.is_empty() {
            let _ = writeln!(out, "\n### Notes from this run\n");
            for n in &self.notes {
                let _ = writeln!(out, "- {n}");
            }
        }
        out
    }
}

/// A figure with sensible precision: 12,345 / 123 / 1.23 / 0.012.
pub fn fmt(v: f64) -> String {
    if !v.is_finite() {
        return "–".into();
    }
    let a = v.abs();
    if a >= 1000.0 {
        let whole = v.round() as i64;
        let s = whole.abs().to_string();
        let mut grouped = String::new();
        for (i, c) in s.chars().enumerate() {
            if i > 0 && (s.len() - i).is_multiple_of(3) {
                grouped.push(',');
            }
            grouped.push(c);
        }
        if whole < 0 {
            format!("-{grouped}")
        } else {
            grouped
        }
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_figures() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
        assert_eq!(fmt(1234567.4), "1,234,567");
        assert_eq!(fmt(-1234.0), "-1,234");
        assert_eq!(fmt(12.345), "12.35");
        assert_eq!(fmt(0.01234), "0.012");
    }
}
