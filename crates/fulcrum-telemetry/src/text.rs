//! Prometheus text format 0.0.4: HELP/TYPE lines, label sets, escaping and number formatting.

use std::fmt::{Display, Write};

use crate::desc::Kind;

/// `# HELP name text` (backslash and newline escaped) and `# TYPE name kind`.
pub(crate) fn write_header(out: &mut String, name: &str, help: &str, kind: Kind) {
    out.push_str("# HELP ");
    out.push_str(name);
    out.push(' ');
    for c in help.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push_str("\n# TYPE ");
    out.push_str(name);
    out.push(' ');
    out.push_str(kind.as_str());
    out.push('\n');
}

/// The parts of one sample line: `name{labels,extra} value`.
pub(crate) struct Series<'a> {
    pub(crate) name: &'a str,
    pub(crate) labels: &'a [String],
    pub(crate) values: &'a [String],
}

impl Series<'_> {
    /// Writes `name<suffix>{labels[,extra]} value\n`.
    pub(crate) fn write(
        &self,
        out: &mut String,
        suffix: &str,
        extra: Option<(&str, &str)>,
        value: impl Display,
    ) {
        out.push_str(self.name);
        out.push_str(suffix);
        let pairs = self
            .labels
            .iter()
            .map(String::as_str)
            .zip(self.values.iter().map(String::as_str))
            .chain(extra);
        let mut first = true;
        for (label, value) in pairs {
            out.push(if first { '{' } else { ',' });
            first = false;
            out.push_str(label);
            out.push_str("=\"");
            escape_label_value(out, value);
            out.push('"');
        }
        if !first {
            out.push('}');
        }
        // Writing into a String cannot fail.
        let _ = writeln!(out, " {value}");
    }
}

/// Label values escape backslash, double quote and newline.
fn escape_label_value(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Integer nanoseconds as exact decimal seconds: `1500000` → `0.0015`, `2000000000` → `2`.
pub(crate) fn seconds(nanos: u64) -> String {
    let (secs, frac) = (nanos / 1_000_000_000, nanos % 1_000_000_000);
    if frac == 0 {
        return secs.to_string();
    }
    let frac = format!("{frac:09}");
    format!("{secs}.{}", frac.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_formats() {
        let labels = ["a".to_owned(), "b".to_owned()];
        let values = ["x\\y".to_owned(), "q\"\nz".to_owned()];
        let series = Series {
            name: "m",
            labels: &labels,
            values: &values,
        };
        let mut out = String::new();
        series.write(&mut out, "_bucket", Some(("le", "+Inf")), 3);
        assert_eq!(
            out,
            "m_bucket{a=\"x\\\\y\",b=\"q\\\"\\nz\",le=\"+Inf\"} 3\n"
        );

        let mut out = String::new();
        let bare = Series {
            name: "m",
            labels: &[],
            values: &[],
        };
        bare.write(&mut out, "", None, -1);
        assert_eq!(out, "m -1\n");

        let mut out = String::new();
        write_header(&mut out, "m", "a \\ b\nc \"d\"", Kind::Gauge);
        assert_eq!(out, "# HELP m a \\\\ b\\nc \"d\"\n# TYPE m gauge\n");
    }

    #[test]
    fn seconds_are_exact() {
        assert_eq!(seconds(0), "0");
        assert_eq!(seconds(1), "0.000000001");
        assert_eq!(seconds(1_500_000), "0.0015");
        assert_eq!(seconds(2_000_000_000), "2");
        assert_eq!(seconds(12_345_000_000), "12.345");
        assert_eq!(seconds(u64::MAX), "18446744073.709551615");
    }
}
