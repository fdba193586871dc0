//! The walker's toolkit: a context that collects errors with positions, key paths, and
//! readers for tables and scalar values of the spanned TOML tree.

mod table;
mod value;

use std::fmt;
use std::ops::Range;

pub(crate) use table::Table;
pub(crate) use value::*;

use crate::env::Redactions;
use crate::error::{ConfigError, LineIndex};

/// The TOML tree as parsed by `toml`, with byte spans.
pub(crate) type Value<'i> = toml::Spanned<toml::de::DeValue<'i>>;

/// State shared by the whole walk: where errors go and how strings are interpolated.
pub(crate) struct Ctx<'a> {
    file: &'a str,
    lines: LineIndex<'a>,
    env: &'a dyn Fn(&str) -> Option<String>,
    errors: Vec<ConfigError>,
    /// Every value that came from the environment, kept out of error messages.
    redactions: Redactions,
    /// Span starts of interpolated values, with (value, as written).
    interpolated: Vec<(usize, String, String)>,
}

impl<'a> Ctx<'a> {
    pub(crate) fn new(
        src: &'a str,
        file: &'a str,
        env: &'a dyn Fn(&str) -> Option<String>,
    ) -> Self {
        Ctx {
            file,
            lines: LineIndex::new(src),
            env,
            errors: Vec::new(),
            redactions: Redactions::default(),
            interpolated: Vec::new(),
        }
    }

    /// Records an error at the start of `span`, prefixed by the key path `at`.
    pub(crate) fn error(&mut self, span: &Range<usize>, at: &Where, msg: impl fmt::Display) {
        let (line, column) = self.lines.position(span.start);
        let message = if at.is_empty() {
            msg.to_string()
        } else {
            format!("{at}: {msg}")
        };
        // An environment value is never echoed: the error prints `${VAR}` instead.
        let own = self
            .interpolated
            .iter()
            .find(|(start, _, _)| *start == span.start)
            .map(|(_, v, w)| (v.as_str(), w.as_str()));
        let message = self.redactions.apply_with(&message, own);
        self.errors.push(ConfigError {
            file: self.file.to_owned(),
            line,
            column,
            message,
        });
    }

    pub(crate) fn env(&self) -> &'a dyn Fn(&str) -> Option<String> {
        self.env
    }

    /// The string at `span_start`, written as `written`, interpolated to `value`.
    pub(crate) fn interpolated(&mut self, span_start: usize, value: &str, written: &str) {
        if value != written {
            self.redactions.add(value, written);
            self.interpolated
                .push((span_start, value.to_owned(), written.to_owned()));
        }
    }

    /// What came from the environment so far.
    pub(crate) fn redactions(&self) -> &Redactions {
        &self.redactions
    }

    pub(crate) fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }

    /// All errors, in file order.
    pub(crate) fn into_errors(mut self) -> Vec<ConfigError> {
        self.errors.sort_by_key(|e| (e.line, e.column));
        self.errors
    }
}

/// The path of a key for error messages: a named entity (`listener "web": route "api"`)
/// followed by dotted keys inside it (`timeouts.header`, `backends[2].address`).
#[derive(Debug, Clone, Default)]
pub(crate) struct Where {
    entity: String,
    keys: String,
}

impl Where {
    /// The document root: errors carry no prefix.
    pub(crate) fn root() -> Self {
        Where::default()
    }

    /// A nested named entity, e.g. `route "api"` inside `listener "web"`.
    pub(crate) fn entity(&self, name: impl fmt::Display) -> Self {
        let name = name.to_string();
        let mut entity = self.to_string();
        if !entity.is_empty() {
            entity.push_str(": ");
        }
        entity.push_str(&name);
        Where {
            entity,
            keys: String::new(),
        }
    }

    /// A key inside this one; quoted when it is not a bare TOML key.
    pub(crate) fn key(&self, key: &str) -> Self {
        let mut keys = self.keys.clone();
        if !keys.is_empty() {
            keys.push('.');
        }
        let bare = !key.is_empty()
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if bare {
            keys.push_str(key);
        } else {
            keys.push_str(&format!("{key:?}"));
        }
        Where {
            entity: self.entity.clone(),
            keys,
        }
    }

    /// An array element, `backends[2]` (0-based, as TOML users index arrays).
    pub(crate) fn index(&self, i: usize) -> Self {
        Where {
            entity: self.entity.clone(),
            keys: format!("{}[{i}]", self.keys),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entity.is_empty() && self.keys.is_empty()
    }
}

impl fmt::Display for Where {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.entity.is_empty(), self.keys.is_empty()) {
            (false, false) => write!(f, "{}: {}", self.entity, self.keys),
            (false, true) => f.write_str(&self.entity),
            _ => f.write_str(&self.keys),
        }
    }
}

/// `a, b, c` for "expected one of" lists.
pub(crate) fn one_of(names: &[&str]) -> String {
    names.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_read_like_the_file() {
        let root = Where::root();
        assert_eq!(
            root.key("runtime").key("workers").to_string(),
            "runtime.workers"
        );
        let pool = root.entity("pool \"api\"");
        assert_eq!(pool.to_string(), "pool \"api\"");
        assert_eq!(
            pool.key("backends").index(2).key("address").to_string(),
            "pool \"api\": backends[2].address"
        );
        let route = root.entity("listener \"web\"").entity("route \"#2\"");
        assert_eq!(
            route.key("headers").key("X Bad").to_string(),
            "listener \"web\": route \"#2\": headers.\"X Bad\""
        );
    }
}
