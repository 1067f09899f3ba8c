//! The report: one block of `key: value` lines per run (and one of medians over runs), plus
//! a Markdown table row, so results paste straight into a table.

use crate::args::{Args, Scenario};
use std::time::Duration;

/// The measured numbers of one run, in print order: (key, value, decimals).
#[derive(Debug, Clone, Default)]
pub struct Metrics(pub Vec<(String, f64, usize)>);

impl Metrics {
    /// Appends a number.
    pub fn push(&mut self, key: impl Into<String>, value: f64, decimals: usize) {
        self.0.push((key.into(), value, decimals));
    }

    /// The value of `key`, if measured.
    pub fn get(&self, key: &str) -> Option<f64> {
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
    println!("scenario:               {}", args.scenario.name());
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
    if args.rate > 0 {
        println!("rate_msgs_per_s:        {}", args.rate);
    }
    if args.scenario == Scenario::Isolation {
        println!("healthy_endpoints:      {}", args.endpoints);
    } else {
        println!("endpoints:              {}", args.endpoints);
    }
    println!(
        "receiver_delay_ms:      {}",
        args.receiver_delay.as_millis()
    );
    println!("payload_bytes:          {}", args.payload_bytes);
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

/// The isolation scenario's comparison of one baseline run `alone` and one run `beside`
/// the bad receivers: the healthy endpoints' creation-to-receipt p50/p99 in each, the ratio
/// of the p99s, and what the bad receivers saw.
pub fn compare(alone: &Metrics, beside: &Metrics) -> Metrics {
    let v = |m: &Metrics, k: &str| m.get(k).unwrap_or(f64::NAN);
    let mut out = Metrics::default();
    out.push("alone_p50_ms", v(alone, "e2e_p50_ms"), 1);
    out.push("alone_p99_ms", v(alone, "e2e_p99_ms"), 1);
    out.push("beside_bad_p50_ms", v(beside, "e2e_p50_ms"), 1);
    out.push("beside_bad_p99_ms", v(beside, "e2e_p99_ms"), 1);
    out.push(
        "p99_ratio",
        v(beside, "e2e_p99_ms") / v(alone, "e2e_p99_ms"),
        2,
    );
    out.push("alone_ingest_per_s", v(alone, "ingest_msgs_per_s"), 0);
    out.push("beside_bad_ingest_per_s", v(beside, "ingest_msgs_per_s"), 0);
    for key in [
        "hang_requests",
        "fail_requests",
        "hang_messages_reached",
        "fail_messages_reached",
    ] {
        out.push(key, v(beside, key), 0);
    }
    out
}

/// Prints the isolation scenario's Markdown table row: store | workers | clients | healthy
/// endpoints | alone p50/p99 ms | beside bad p50/p99 ms | p99 ratio | hanging requests |
/// failing requests.
pub fn print_comparison_row(args: &Args, c: &Metrics) {
    let v = |k: &str| c.get(k).unwrap_or(f64::NAN);
    println!(
        "row: | {} | {} | {} | {} | {:.1} / {:.1} | {:.1} / {:.1} | {:.2} | {:.0} | {:.0} |",
        args.store.name(),
        args.workers,
        args.clients,
        args.endpoints,
        v("alone_p50_ms"),
        v("alone_p99_ms"),
        v("beside_bad_p50_ms"),
        v("beside_bad_p99_ms"),
        v("p99_ratio"),
        v("hang_requests"),
        v("fail_requests"),
    );
}
