//! The report: one block of `key: value` lines per run (and one of medians over runs), plus
//! a Markdown table row, so results paste straight into a table.

use crate::args::Args;
use std::time::Duration;

/// The measured numbers of one run, in print order: (key, value, decimals).
#[derive(Debug, Clone, Default)]
pub struct Metrics(pub Vec<(String, f64, usize)>);

impl Metrics {
    /// Appends a number.
    pub fn push(&mut self, key: impl Into<String>, value: f64, decimals: usize) {
        self.0.push((key.into(), value, decimals));
    }

    fn get(&self, key: &str) -> Option<f64> {
        self.0.iter().find(|(k, _, _)| k == key).map(|(_, v, _)| *v)
    }

    /// The per-key median over `runs` (keys taken from the first run; a key missing from a
    /// run is left out of that key's median).
    pub fn median(runs: &[Metrics]) -> Metrics {
        let Some(first) = runs.first() else {
            return Metrics::default();
        };
        let mut out = Metrics::default();
        for (key, _, decimals) in &first.0 {
            let mut values: Vec<f64> = runs.iter().filter_map(|m| m.get(key)).collect();
            values.sort_by(f64::total_cmp);
            let n = values.len();
            let median = if n % 2 == 1 {
                values[n / 2]
            } else {
                (values[n / 2 - 1] + values[n / 2]) / 2.0
            };
            out.push(key.clone(), median, *decimals);
        }
        out
    }
}

/// The nearest-rank percentile `p` (0..=1) of an ascending slice, in milliseconds.
pub fn percentile_ms(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((sorted.len() as f64) * p).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1].as_secs_f64() * 1e3
}

/// Prints the setup lines shared by every block.
pub fn print_setup(args: &Args, label: &str) {
    println!("--- hookline e2e bench: {label}");
    println!("store:                  {}", args.store.name());
    println!(
        "workers:                {} ({})",
        args.workers,
        if args.workers == 0 {
            "one `hookline serve`".to_owned()
        } else {
            format!("one `hookline api` + {} `hookline worker`", args.workers)
        }
    );
    println!("clients:                {}", args.clients);
    println!("endpoints:              {}", args.endpoints);
    println!(
        "receiver_delay_ms:      {}",
        args.receiver_delay.as_millis()
    );
    println!("seconds:                {}", args.seconds);
}

/// Prints one block of metrics.
pub fn print_metrics(metrics: &Metrics) {
    for (key, value, decimals) in &metrics.0 {
        let key = format!("{key}:");
        println!("{key:<24}{value:.decimals$}");
    }
}

/// Prints a Markdown table row: store | workers | clients | endpoints | ingest msgs/s |
/// API p50/p99 ms | deliveries/s | creation-to-receipt p50/p99 ms | peak RSS MiB.
pub fn print_row(args: &Args, m: &Metrics) {
    let v = |k: &str| m.get(k).unwrap_or(f64::NAN);
    let rss: Vec<String> =
        m.0.iter()
            .filter_map(|(k, value, _)| {
                let name = k.strip_prefix("peak_rss_mib_")?;
                Some(format!("{name} {value:.0}"))
            })
            .collect();
    println!(
        "row: | {} | {} | {} | {} | {:.0} | {:.1} / {:.1} | {:.0} | {:.1} / {:.1} | {} |",
        args.store.name(),
        args.workers,
        args.clients,
        args.endpoints,
        v("ingest_msgs_per_s"),
        v("api_p50_ms"),
        v("api_p99_ms"),
        v("deliveries_per_s"),
        v("e2e_p50_ms"),
        v("e2e_p99_ms"),
        rss.join(", "),
    );
}
