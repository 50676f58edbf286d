//! Plain tables, rendered as aligned text for the terminal or as Markdown, and the number
//! formatting every table and plot shares.

/// A table with a title, a header row, body rows and footnotes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Table {
    /// Shown above the table.
    pub title: String,
    /// Column names.
    pub header: Vec<String>,
    /// Rows (each as long as `header`).
    pub rows: Vec<Vec<String>>,
    /// Shown below the table.
    pub footer: Vec<String>,
}

impl Table {
    fn widths(&self) -> Vec<usize> {
        let mut w: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, c) in row.iter().enumerate() {
                if i < w.len() {
                    w[i] = w[i].max(c.chars().count());
                }
            }
        }
        w
    }

    /// Aligned text: first column left-aligned, the others right-aligned.
    pub fn render_text(&self) -> String {
        let w = self.widths();
        let line = |cells: &[String]| {
            cells
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let pad = w[i].saturating_sub(c.chars().count());
                    if i == 0 {
                        format!("{c}{}", " ".repeat(pad))
                    } else {
                        format!("{}{c}", " ".repeat(pad))
                    }
                })
                .collect::<Vec<_>>()
                .join("  ")
                .trim_end()
                .to_string()
        };
        let mut out = String::new();
        if !self.title.is_empty() {
            out.push_str(&format!("== {} ==\n", self.title));
        }
        out.push_str(&line(&self.header));
        out.push('\n');
        out.push_str(&"-".repeat(w.iter().sum::<usize>() + 2 * w.len().saturating_sub(1)));
        out.push('\n');
        for r in &self.rows {
            out.push_str(&line(r));
            out.push('\n');
        }
        for f in &self.footer {
            out.push_str(&format!("  * {f}\n"));
        }
        out
    }

    /// A Markdown table (title as a bold line, footnotes as a list).
    pub fn render_markdown(&self) -> String {
        let esc = |s: &str| s.replace('|', "\\|");
        let mut out = String::new();
        if !self.title.is_empty() {
            out.push_str(&format!("**{}**\n\n", esc(&self.title)));
        }
        out.push_str(&format!(
            "| {} |\n",
            self.header.iter().map(|h| esc(h)).collect::<Vec<_>>().join(" | ")
        ));
        out.push_str(&format!(
            "|{}\n",
            self.header
                .iter()
                .enumerate()
                .map(|(i, _)| if i == 0 { " --- |" } else { " ---: |" })
                .collect::<String>()
        ));
        for r in &self.rows {
            out.push_str(&format!("| {} |\n", r.iter().map(|c| esc(c)).collect::<Vec<_>>().join(" | ")));
        }
        if !self.footer.is_empty() {
            out.push('\n');
            for f in &self.footer {
                out.push_str(&format!("- {}\n", f));
            }
        }
        out
    }
}

fn sig(v: f64) -> String {
    let a = v.abs();
    if a >= 100.0 || a == 0.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// Formats `v` in `unit` for a table cell: `1.32M/s`, `48 ns`, `1.2 ms`, `64 B`, `0.4%`.
pub fn fmt_value(v: f64, unit: &str) -> String {
    if !v.is_finite() {
        return "-".into();
    }
    match unit {
        "tasks/s" => {
            if v >= 1e6 {
                format!("{:.2}M/s", v / 1e6)
            } else if v >= 1e3 {
                format!("{:.1}k/s", v / 1e3)
            } else {
                format!("{v:.0}/s")
            }
        }
        "ns" | "ns/op" => {
            if v >= 1e6 {
                format!("{:.2} ms", v / 1e6)
            } else if v >= 1e4 {
                format!("{:.1} us", v / 1e3)
            } else {
                format!("{} ns", sig(v))
            }
        }
        "us" => {
            if v >= 1e6 {
                format!("{:.2} s", v / 1e6)
            } else if v >= 1e3 {
                format!("{} ms", sig(v / 1e3))
            } else {
                format!("{} us", sig(v))
            }
        }
        "ms" => {
            if v >= 1e3 {
                format!("{} s", sig(v / 1e3))
            } else {
                format!("{} ms", sig(v))
            }
        }
        "s" => {
            if v < 1.0 {
                format!("{} ms", sig(v * 1e3))
            } else {
                format!("{} s", sig(v))
            }
        }
        "KiB" => {
            if v >= 10.0 * 1024.0 {
                format!("{} MiB", sig(v / 1024.0))
            } else {
                format!("{} KiB", sig(v))
            }
        }
        "%" => format!("{}%", sig(v)),
        "/s" => format!("{}/s", sig(v)),
        "tasks" => format!("{v:.0}"),
        "" => sig(v),
        u => format!("{} {u}", sig(v)),
    }
}

/// The spread over rounds for a "min-max" column: `10.00-12.00M/s`, `48.0 ns-1.20 us`;
/// `one round` when a single round measured it.
///
/// ```
/// use kairos_bench::report::fmt_range;
/// assert_eq!(fmt_range(10e6, 12e6, 3, "tasks/s"), "10.00-12.00M/s");
/// assert_eq!(fmt_range(48.0, 52.0, 3, "ns"), "48.0-52.0 ns");
/// assert_eq!(fmt_range(5.0, 5.0, 1, "ns"), "one round");
/// ```
pub fn fmt_range(min: f64, max: f64, rounds: usize, unit: &str) -> String {
    if rounds <= 1 {
        return "one round".into();
    }
    let (lo, hi) = (fmt_value(min, unit), fmt_value(max, unit));
    let number_end =
        |s: &str| s.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-')).unwrap_or(s.len());
    let (lo_num, lo_unit) = lo.split_at(number_end(&lo));
    let (_, hi_unit) = hi.split_at(number_end(&hi));
    if lo_unit == hi_unit {
        format!("{lo_num}-{hi}")
    } else {
        format!("{lo}-{hi}")
    }
}

/// A ratio for the "kairos vs best other" column: `2.31x`.
pub fn fmt_ratio(r: f64) -> String {
    if !r.is_finite() {
        "-".into()
    } else if r >= 100.0 {
        format!("{r:.0}x")
    } else if r >= 10.0 {
        format!("{r:.1}x")
    } else {
        format!("{r:.2}x")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_units() {
        assert_eq!(fmt_value(1_320_000.0, "tasks/s"), "1.32M/s");
        assert_eq!(fmt_value(5_555.0, "tasks/s"), "5.6k/s");
        assert_eq!(fmt_value(48.0, "ns"), "48.0 ns");
        assert_eq!(fmt_value(1047.0, "ns/op"), "1047 ns");
        assert_eq!(fmt_value(2433.0, "us"), "2.43 ms");
        assert_eq!(fmt_value(8.5, "us"), "8.50 us");
        assert_eq!(fmt_value(64.0, "B"), "64.0 B");
        assert_eq!(fmt_value(0.25, "%"), "0.250%");
        assert_eq!(fmt_value(20480.0, "KiB"), "20.0 MiB");
        assert_eq!(fmt_value(0.5, "s"), "500 ms");
        assert_eq!(fmt_value(f64::NAN, "s"), "-");
        assert_eq!(fmt_ratio(2.3456), "2.35x");
        assert_eq!(fmt_ratio(123.4), "123x");
        assert_eq!(fmt_range(48.0, 12_000.0, 3, "ns"), "48.0 ns-12.0 us");
        assert_eq!(fmt_range(0.0, 4.0, 3, "B"), "0-4.00 B");
        assert_eq!(fmt_range(9.5e5, 1.2e6, 5, "tasks/s"), "950.0k/s-1.20M/s");
    }

    #[test]
    fn renders_text_and_markdown() {
        let t = Table {
            title: "spawn".into(),
            header: vec!["figure".into(), "tokio".into()],
            rows: vec![vec!["tasks/s".into(), "1.3M/s".into()]],
            footer: vec!["a|b".into()],
        };
        let txt = t.render_text();
        assert!(txt.contains("== spawn =="));
        assert!(txt.contains("tasks/s  1.3M/s"));
        let md = t.render_markdown();
        assert!(md.contains("| figure | tokio |"));
        assert!(md.contains("| --- | ---: |"));
        assert!(md.contains("- a|b"));
    }
}
