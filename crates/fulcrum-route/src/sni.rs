//! Routing a passthrough connection by the server name in its ClientHello (`fulcrum-l4` reads
//! it; this table only compares names).

/// The server names a route matches. Compared case-insensitively, without a trailing dot.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SniPattern {
    /// Exactly this name, e.g. `app.example.com`.
    Exact(String),
    /// Any name under this suffix, given as `.example.com` (`*.example.com` is accepted too):
    /// matches `a.example.com` and `a.b.example.com`, not `example.com` — the rule of
    /// [`crate::HostPattern::Wildcard`].
    Wildcard(String),
}

impl SniPattern {
    /// Lowercase, no trailing dot, and a wildcard suffix that starts with exactly one `.`.
    fn canonical(self) -> SniPattern {
        match self {
            SniPattern::Exact(name) => {
                SniPattern::Exact(name.trim_end_matches('.').to_ascii_lowercase())
            }
            SniPattern::Wildcard(suffix) => {
                let suffix = suffix.trim_end_matches('.').trim_start_matches('*');
                let suffix = suffix.trim_start_matches('.');
                SniPattern::Wildcard(format!(".{}", suffix.to_ascii_lowercase()))
            }
        }
    }

    /// Whether `name` (as `fulcrum_l4::parse` returns it: lowercase, no trailing dot) matches
    /// this canonical pattern. Case is ignored anyway, for names from elsewhere.
    fn matches(&self, name: &str) -> bool {
        let name = name.strip_suffix('.').unwrap_or(name).as_bytes();
        match self {
            SniPattern::Exact(exact) => name.eq_ignore_ascii_case(exact.as_bytes()),
            SniPattern::Wildcard(suffix) => {
                let suffix = suffix.as_bytes();
                name.len() > suffix.len()
                    && name[name.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
                    && name[0] != b'.'
            }
        }
    }
}

/// An immutable table of passthrough routes: the first whose pattern matches wins, and a route
/// without a pattern matches any connection, with or without a server name (the default).
///
/// Built by the control plane from a listener's routes and swapped in whole; [`SniTable::find`]
/// does not allocate.
#[derive(Debug, Clone)]
pub struct SniTable<T> {
    routes: Vec<(Option<SniPattern>, T)>,
}

impl<T> SniTable<T> {
    /// A table of routes in priority order. Patterns are put in canonical form here.
    pub fn new(routes: impl IntoIterator<Item = (Option<SniPattern>, T)>) -> Self {
        let routes = routes
            .into_iter()
            .map(|(pattern, target)| (pattern.map(SniPattern::canonical), target))
            .collect();
        SniTable { routes }
    }

    /// The target of the first route matching `sni`; a connection without a server name only
    /// matches a route without a pattern.
    pub fn find(&self, sni: Option<&str>) -> Option<&T> {
        self.routes
            .iter()
            .find(|(pattern, _)| match (pattern, sni) {
                (None, _) => true,
                (Some(pattern), Some(name)) => pattern.matches(name),
                (Some(_), None) => false,
            })
            .map(|(_, target)| target)
    }

    pub fn len(&self) -> usize {
        self.routes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exact(s: &str) -> Option<SniPattern> {
        Some(SniPattern::Exact(s.into()))
    }
    fn wild(s: &str) -> Option<SniPattern> {
        Some(SniPattern::Wildcard(s.into()))
    }

    #[test]
    fn first_match_wins_and_default_catches_the_rest() {
        let table = SniTable::new([
            (exact("App.Example.com."), "app"),
            (wild("*.example.com"), "wild"),
            (exact("other.example.com"), "shadowed"),
            (None, "default"),
            (exact("late.test"), "unreachable"),
        ]);
        assert_eq!(table.find(Some("app.example.com")), Some(&"app"));
        assert_eq!(table.find(Some("APP.example.com.")), Some(&"app"));
        assert_eq!(table.find(Some("other.example.com")), Some(&"wild"));
        assert_eq!(table.find(Some("a.b.example.com")), Some(&"wild"));
        assert_eq!(table.find(Some("example.com")), Some(&"default"));
        assert_eq!(table.find(Some("late.test")), Some(&"default"));
        assert_eq!(table.find(None), Some(&"default"));
        assert_eq!(table.len(), 5);
    }

    #[test]
    fn no_default_means_no_route() {
        let table = SniTable::new([(wild(".example.com"), 1)]);
        assert_eq!(table.find(None), None);
        assert_eq!(table.find(Some("example.com")), None);
        assert_eq!(table.find(Some(".example.com")), None);
        assert_eq!(table.find(Some("aexample.com")), None);
        assert_eq!(table.find(Some("a.example.com.evil")), None);
        assert_eq!(table.find(Some("a.example.com")), Some(&1));
        assert!(SniTable::<u8>::new([]).is_empty());
    }

    #[test]
    fn wildcard_spellings_are_one_pattern() {
        for spelling in [
            "*.example.com",
            ".example.com",
            "example.com.",
            ".Example.COM",
        ] {
            let table = SniTable::new([(wild(spelling), ())]);
            assert!(table.find(Some("x.example.com")).is_some(), "{spelling}");
            assert!(table.find(Some("example.com")).is_none(), "{spelling}");
        }
    }

    #[test]
    fn non_ascii_names_do_not_panic() {
        let table = SniTable::new([(wild(".example.com"), ()), (exact("é"), ())]);
        assert!(table.find(Some("é.exämple.com")).is_none());
        assert!(table.find(Some("É")).is_none());
        assert!(table.find(Some("")).is_none());
        assert!(table.find(Some(".")).is_none());
    }
}
