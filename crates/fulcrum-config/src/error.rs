//! Error types: one [`ConfigError`] per problem, all of them in [`ConfigErrors`].

use std::fmt;

/// One problem in a configuration file, at a 1-based line and column.
///
/// `line` and `column` are 0 when the problem has no position (the file could not be read).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{column}: {message}")]
pub struct ConfigError {
    /// The file name as given by the caller (e.g. `fulcrum.toml`).
    pub file: String,
    pub line: usize,
    pub column: usize,
    /// The key path and what is wrong, e.g. `pool "api": unknown balance "x" (expected one of: ...)`.
    pub message: String,
}

/// Every problem found in a configuration file, in file order. Never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors {
    pub errors: Vec<ConfigError>,
}

impl fmt::Display for ConfigErrors {
    /// One error per line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Turns byte offsets into 1-based line and column (the column counts characters).
pub(crate) struct LineIndex<'a> {
    src: &'a str,
    /// Byte offset at which each line starts.
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    pub(crate) fn new(src: &'a str) -> Self {
        let starts = std::iter::once(0)
            .chain(src.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        LineIndex { src, starts }
    }

    /// `(line, column)`, both 1-based, of the byte at `offset`.
    pub(crate) fn position(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.src.len());
        let line = self.starts.partition_point(|&s| s <= offset).max(1);
        let start = self.starts[line - 1];
        let column = match self.src.get(start..offset) {
            Some(text) => text.chars().count(),
            None => offset - start,
        };
        (line, column + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_and_count_characters() {
        let idx = LineIndex::new("ab\nçd = 1\n\nx");
        assert_eq!(idx.position(0), (1, 1));
        assert_eq!(idx.position(1), (1, 2));
        assert_eq!(idx.position(3), (2, 1));
        // 'ç' is two bytes: the 'd' at byte 5 is the second character.
        assert_eq!(idx.position(5), (2, 2));
        assert_eq!(idx.position(11), (3, 1));
        assert_eq!(idx.position(12), (4, 1));
        assert_eq!(idx.position(13), (4, 2));
        assert_eq!(idx.position(999), (4, 2));
    }

    #[test]
    fn display_is_one_error_per_line() {
        let e = |line, message: &str| ConfigError {
            file: "f.toml".into(),
            line,
            column: 3,
            message: message.into(),
        };
        let all = ConfigErrors {
            errors: vec![e(1, "a"), e(2, "b")],
        };
        assert_eq!(all.to_string(), "f.toml:1:3: a\nf.toml:2:3: b");
    }
}
