//! Reading a TOML table: type check, unknown keys, required and defaulted keys.

use std::ops::Range;

use toml::de::{DeTable, DeValue};

use super::{kind, one_of, Ctx, Value, Where};

/// A table whose keys have been checked against the schema.
pub(crate) struct Table<'a, 'i> {
    entries: &'a DeTable<'i>,
    /// The whole table (for `[headers]`, starting at the header).
    pub(crate) span: Range<usize>,
    /// The table's own path.
    pub(crate) at: Where,
}

impl<'a, 'i> Table<'a, 'i> {
    /// Checks that `value` is a table; reports every key not in `allowed`.
    pub(crate) fn open(
        ctx: &mut Ctx<'_>,
        value: &'a Value<'i>,
        at: Where,
        allowed: &[&str],
    ) -> Option<Self> {
        let DeValue::Table(entries) = value.get_ref() else {
            ctx.error(
                &value.span(),
                &at,
                format!("expected a table, found {}", kind(value)),
            );
            return None;
        };
        Some(Table::from_entries(ctx, entries, value.span(), at, allowed))
    }

    /// As [`Table::open`], for a table already known to be one (the document root).
    pub(crate) fn from_entries(
        ctx: &mut Ctx<'_>,
        entries: &'a DeTable<'i>,
        span: Range<usize>,
        at: Where,
        allowed: &[&str],
    ) -> Self {
        Table::check_keys(ctx, entries, &at, allowed, &[], "");
        Table { entries, span, at }
    }

    /// As [`Table::open`], for a table of which only `allowed` keys may be used here although
    /// the schema knows more: a key in `refused` is reported at its key as "not allowed" with
    /// `why`; any other unknown key as unknown, listing `allowed`.
    pub(crate) fn open_restricted(
        ctx: &mut Ctx<'_>,
        value: &'a Value<'i>,
        at: Where,
        allowed: &[&str],
        refused: &[&str],
        why: &str,
    ) -> Option<Self> {
        let DeValue::Table(entries) = value.get_ref() else {
            ctx.error(
                &value.span(),
                &at,
                format!("expected a table, found {}", kind(value)),
            );
            return None;
        };
        Table::check_keys(ctx, entries, &at, allowed, refused, why);
        Some(Table {
            entries,
            span: value.span(),
            at,
        })
    }

    fn check_keys(
        ctx: &mut Ctx<'_>,
        entries: &DeTable<'_>,
        at: &Where,
        allowed: &[&str],
        refused: &[&str],
        why: &str,
    ) {
        for (key, _) in entries.iter() {
            let name: &str = key.get_ref().as_ref();
            if allowed.contains(&name) {
                continue;
            }
            if refused.contains(&name) {
                ctx.error(
                    &key.span(),
                    &at.key(name),
                    format!("not allowed here: {why}"),
                );
            } else {
                ctx.error(
                    &key.span(),
                    at,
                    format!(
                        "unknown key \"{name}\" (expected one of: {})",
                        one_of(allowed)
                    ),
                );
            }
        }
    }

    /// A view of `value` if it is a table, without any checks or errors: for peeking at a
    /// name before the table is read properly.
    pub(crate) fn open_quiet(value: &'a Value<'i>) -> Option<Self> {
        match value.get_ref() {
            DeValue::Table(entries) => Some(Table {
                entries,
                span: value.span(),
                at: Where::root(),
            }),
            _ => None,
        }
    }

    /// The raw string under `key`, if there is one (no interpolation, no errors).
    pub(crate) fn peek_str(value: &'a Value<'i>, key: &str) -> Option<&'a str> {
        Table::open_quiet(value)?.get(key)?.get_ref().as_str()
    }

    pub(crate) fn get(&self, key: &str) -> Option<&'a Value<'i>> {
        self.entry(key).map(|(_, v)| v)
    }

    /// The span of `key` itself (not its value).
    pub(crate) fn key_span(&self, key: &str) -> Option<Range<usize>> {
        self.entry(key).map(|(k, _)| k)
    }

    fn entry(&self, key: &str) -> Option<(Range<usize>, &'a Value<'i>)> {
        self.entries
            .iter()
            .find(|(k, _)| k.get_ref() == key)
            .map(|(k, v)| (k.span(), v))
    }

    /// Every entry, in file order: `(key, key span, value)`.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&'a str, Range<usize>, &'a Value<'i>)> {
        self.entries
            .iter()
            .map(|(k, v)| (k.get_ref().as_ref(), k.span(), v))
    }

    pub(crate) fn at(&self, key: &str) -> Where {
        self.at.key(key)
    }

    /// The value of a key that must be present; reports its absence at the table.
    pub(crate) fn required<T>(
        &self,
        ctx: &mut Ctx<'_>,
        key: &str,
        read: impl FnOnce(&mut Ctx<'_>, &'a Value<'i>, Where) -> Option<T>,
    ) -> Option<T> {
        match self.get(key) {
            Some(v) => read(ctx, v, self.at(key)),
            None => {
                ctx.error(
                    &self.span,
                    &self.at,
                    format!("missing required key \"{key}\""),
                );
                None
            }
        }
    }

    /// The value of an optional key, or `default` when it is absent.
    pub(crate) fn or<T>(
        &self,
        ctx: &mut Ctx<'_>,
        key: &str,
        default: T,
        read: impl FnOnce(&mut Ctx<'_>, &'a Value<'i>, Where) -> Option<T>,
    ) -> Option<T> {
        match self.get(key) {
            Some(v) => read(ctx, v, self.at(key)),
            None => Some(default),
        }
    }
}
