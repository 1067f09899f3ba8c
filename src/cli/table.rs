//! Plain-text tables with aligned columns, and the cell formats the subcommands share.

use chrono::{DateTime, Utc};
use std::fmt::Write as _;

/// Columns are separated by this many spaces.
const GAP: usize = 2;

/// A table: a header row and data rows, printed with every column padded to its widest
/// cell. Cells are single-line text; [`cell`] makes any text safe to put in one.
#[derive(Debug)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// An empty table with these column names.
    pub fn new(header: &[&str]) -> Self {
        Self {
            header: header.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row; missing cells are blank, extra ones are dropped.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The table as text, one line per row, each ending in a newline; no trailing spaces.
    pub fn render(&self) -> String {
        let width = |row: &[String], i: usize| row.get(i).map_or(0, |c| c.chars().count());
        let widths: Vec<usize> = (0..self.header.len())
            .map(|i| {
                std::iter::once(&self.header)
                    .chain(&self.rows)
                    .map(|r| width(r, i))
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        for row in std::iter::once(&self.header).chain(&self.rows) {
            let mut line = String::new();
            for (i, w) in widths.iter().enumerate() {
                let text = row.get(i).map_or("", String::as_str);
                let _ = write!(line, "{text:<w$}{:GAP$}", "");
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// `text` as one table cell: control characters and runs of whitespace become one space,
/// and anything past `max` characters is cut, ending in `…`.
pub fn cell(text: &str, max: usize) -> String {
    let flat = text
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    if flat.chars().count() <= max {
        return flat;
    }
    let mut cut: String = flat.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// A time as `2024-05-01 12:00:03` (UTC).
pub fn time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// An optional time, `-` when absent.
pub fn maybe_time(at: Option<DateTime<Utc>>) -> String {
    at.map_or_else(|| "-".to_owned(), time)
}

/// A duration in milliseconds: `850ms`, `1.2s`; `-` when absent.
pub fn millis(ms: Option<i64>) -> String {
    match ms {
        None => "-".to_owned(),
        Some(ms) if ms < 1000 => format!("{ms}ms"),
        Some(ms) => format!("{:.1}s", ms as f64 / 1000.0),
    }
}

/// A share from 0.0 to 1.0 as a percentage, `-` when absent.
pub fn percent(share: Option<f64>) -> String {
    share.map_or_else(|| "-".to_owned(), |s| format!("{:.1}%", s * 100.0))
}

/// `yes` or `no`.
pub fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_padded_to_their_widest_cell() {
        let mut t = Table::new(&["ID", "URL"]);
        t.row(vec!["ep_1".into(), "http://a".into()]);
        t.row(vec!["ep_22222".into(), "h".into()]);
        assert_eq!(
            t.render(),
            "ID        URL\nep_1      http://a\nep_22222  h\n"
        );
    }

    #[test]
    fn cells_are_one_line_and_cut_to_length() {
        assert_eq!(cell("a\n  b\tc", 10), "a b c");
        assert_eq!(cell("0123456789abc", 5), "0123…");
        assert_eq!(cell("héllo", 5), "héllo");
    }

    #[test]
    fn numbers_read_naturally() {
        assert_eq!(millis(Some(850)), "850ms");
        assert_eq!(millis(Some(1240)), "1.2s");
        assert_eq!(millis(None), "-");
        assert_eq!(percent(Some(0.5)), "50.0%");
        assert_eq!(percent(None), "-");
    }
}
