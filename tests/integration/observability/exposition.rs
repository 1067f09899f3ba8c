//! A strict reader of the Prometheus text exposition format (0.0.4): every line is checked
//! against the grammar, every sample must belong to a family announced by `# HELP` and
//! `# TYPE` before it, a family's samples are contiguous, and histograms are cumulative and
//! end in `+Inf` equal to their `_count`. Test failures name the offending line.

use std::collections::{BTreeMap, BTreeSet};

/// One parsed scrape: sample values by series, and each family's type.
#[derive(Debug)]
pub struct Exposition {
    /// `name{k="v",…}` (labels sorted) → value.
    samples: BTreeMap<String, f64>,
    /// Family name → `counter`, `gauge`, `histogram`, …
    pub types: BTreeMap<String, String>,
}

fn is_name(s: &str, colons: bool) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || (colons && c == ':'))
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || (colons && c == ':'))
}

fn value(s: &str) -> Option<f64> {
    match s {
        "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        _ => s.parse().ok().filter(|_| !s.eq_ignore_ascii_case("inf")),
    }
}

/// Parses `k="v",…}` (after the `{`), returning the labels and the rest of the line.
fn labels(mut rest: &str, line: &str) -> (BTreeMap<String, String>, String) {
    let mut out = BTreeMap::new();
    loop {
        if let Some(after) = rest.strip_prefix('}') {
            return (out, after.to_owned());
        }
        let (name, after) = rest
            .split_once("=\"")
            .unwrap_or_else(|| panic!("label without =\"…\" in {line:?}"));
        assert!(is_name(name, false), "bad label name {name:?} in {line:?}");
        let mut v = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next() {
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => v.push('\n'),
                    Some((_, c @ ('\\' | '"'))) => v.push(c),
                    other => panic!("bad escape {other:?} in {line:?}"),
                },
                Some((i, '"')) => break i,
                Some((_, '\n')) => panic!("raw newline in a label value: {line:?}"),
                Some((_, c)) => v.push(c),
                None => panic!("unterminated label value in {line:?}"),
            }
        };
        assert!(
            out.insert(name.to_owned(), v).is_none(),
            "duplicate label {name} in {line:?}"
        );
        rest = &after[end + 1..];
        rest = rest.strip_prefix(',').unwrap_or(rest);
    }
}

/// The series key of a sample.
pub fn key(name: &str, labels: &[(&str, &str)]) -> String {
    let sorted: BTreeMap<&str, &str> = labels.iter().copied().collect();
    let inner: Vec<String> = sorted.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{name}{{{}}}", inner.join(","))
}

/// The family a sample name belongs to, given the families announced so far.
fn family_of<'a>(name: &'a str, types: &BTreeMap<String, String>) -> &'a str {
    if types.contains_key(name) {
        return name;
    }
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = name.strip_suffix(suffix) {
            if types
                .get(base)
                .is_some_and(|t| t == "histogram" || t == "summary")
            {
                return base;
            }
        }
    }
    name
}

impl Exposition {
    /// Parses and checks `text`, failing the test on the first violation.
    pub fn parse(text: &str) -> Self {
        assert!(text.ends_with('\n'), "the exposition ends with a newline");
        let mut samples = BTreeMap::new();
        let mut types: BTreeMap<String, String> = BTreeMap::new();
        let mut helps = BTreeSet::new();
        let mut finished: BTreeSet<String> = BTreeSet::new();
        let mut current: Option<String> = None;
        let mut buckets: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
        for line in text.lines() {
            if line.is_empty() {
                continue;
            }
            if let Some(comment) = line.strip_prefix('#') {
                let mut parts = comment.trim_start().splitn(3, ' ');
                match (parts.next(), parts.next(), parts.next()) {
                    (Some("HELP"), Some(name), Some(help)) => {
                        assert!(is_name(name, true), "bad name in {line:?}");
                        assert!(!help.trim().is_empty(), "empty help in {line:?}");
                        assert!(helps.insert(name.to_owned()), "second HELP: {line:?}");
                    }
                    (Some("TYPE"), Some(name), Some(kind)) => {
                        assert!(is_name(name, true), "bad name in {line:?}");
                        assert!(
                            ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                            "bad type in {line:?}"
                        );
                        assert!(
                            helps.contains(name),
                            "TYPE before HELP (or without one): {line:?}"
                        );
                        assert!(
                            types.insert(name.to_owned(), kind.to_owned()).is_none(),
                            "second TYPE: {line:?}"
                        );
                        if let Some(prev) = current.replace(name.to_owned()) {
                            finished.insert(prev);
                        }
                    }
                    (Some("HELP" | "TYPE"), ..) => panic!("incomplete descriptor {line:?}"),
                    _ => {}
                }
                continue;
            }
            let name_end = line.find(['{', ' ']).unwrap_or(line.len());
            let name = &line[..name_end];
            assert!(is_name(name, true), "bad metric name in {line:?}");
            let (labels, rest) = match line[name_end..].strip_prefix('{') {
                Some(rest) => labels(rest, line),
                None => (BTreeMap::new(), line[name_end..].to_owned()),
            };
            let fields: Vec<&str> = rest.split_whitespace().collect();
            assert!(
                rest.starts_with(' ') && (1..=2).contains(&fields.len()),
                "expected ` value [timestamp]` in {line:?}"
            );
            let v = value(fields[0]).unwrap_or_else(|| panic!("bad value in {line:?}"));
            if let Some(ts) = fields.get(1) {
                assert!(ts.parse::<i64>().is_ok(), "bad timestamp in {line:?}");
            }
            let family = family_of(name, &types);
            assert!(
                types.contains_key(family) && helps.contains(family),
                "sample without HELP and TYPE for its family: {line:?}"
            );
            assert_eq!(
                current.as_deref(),
                Some(family),
                "samples of a family are not contiguous: {line:?}"
            );
            assert!(
                !finished.contains(family),
                "family {family} resumed: {line:?}"
            );
            if types[family] == "histogram" {
                let mut series: Vec<(&str, &str)> = labels
                    .iter()
                    .filter(|(k, _)| *k != "le")
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                series.sort_unstable();
                let id = key(family, &series);
                if name.ends_with("_bucket") {
                    let le = labels
                        .get("le")
                        .and_then(|le| value(le))
                        .unwrap_or_else(|| panic!("bucket without a numeric le: {line:?}"));
                    buckets.entry(id).or_default().push((le, v));
                }
            }
            let pairs: Vec<(&str, &str)> = labels
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            assert!(
                samples.insert(key(name, &pairs), v).is_none(),
                "duplicate series: {line:?}"
            );
        }
        let out = Self { samples, types };
        for (series, bs) in &buckets {
            assert!(
                bs.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1),
                "{series}: buckets are not ascending and cumulative: {bs:?}"
            );
            let last = bs.last().expect("at least one bucket");
            assert_eq!(last.0, f64::INFINITY, "{series}: the last bucket is +Inf");
            let count_key = series.replacen('{', "_count{", 1);
            assert_eq!(
                out.samples.get(&count_key),
                Some(&last.1),
                "{series}: +Inf bucket equals _count"
            );
        }
        out
    }

    /// The value of one series, if exposed.
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.samples.get(&key(name, labels)).copied()
    }

    /// The value of one series; an unexposed counter series counts as 0.
    pub fn counter(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.get(name, labels).unwrap_or(0.0)
    }

    /// Every series of `name` with its labels rendered, e.g. `name{a="b"}`.
    pub fn series(&self, name: &str) -> Vec<String> {
        self.samples
            .keys()
            .filter(|k| k.split('{').next() == Some(name))
            .cloned()
            .collect()
    }
}

#[test]
fn the_checker_refuses_what_prometheus_would() {
    let ok = "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"1\"} 2\n";
    assert_eq!(
        Exposition::parse(ok).get("a_total", &[("x", "1")]),
        Some(2.0)
    );
    for bad in [
        "a_total 1\n",
        "# HELP a_total A.\n# TYPE a_total counter\na_total{x=1} 2\n",
        "# HELP a_total A.\n# TYPE a_total counter\na_total two\n",
        "# HELP a_total A.\n# TYPE a_total counter\na_total 1",
        "# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_count 1\n",
    ] {
        assert!(
            std::panic::catch_unwind(|| Exposition::parse(bad)).is_err(),
            "accepted {bad:?}"
        );
    }
}
