//! What a family is: name, help, type and label names, validated once at registration.

use crate::error::MetricError;

/// The Prometheus type of a family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// A validated family description.
#[derive(Debug)]
pub(crate) struct Desc<const N: usize> {
    pub(crate) name: String,
    pub(crate) help: String,
    pub(crate) kind: Kind,
    pub(crate) labels: [String; N],
}

impl<const N: usize> Desc<N> {
    pub(crate) fn try_new(
        name: &str,
        help: &str,
        kind: Kind,
        labels: [&str; N],
    ) -> Result<Self, MetricError> {
        if !is_metric_name(name) {
            return Err(MetricError::InvalidMetricName(name.to_owned()));
        }
        for (i, label) in labels.iter().enumerate() {
            let reserved = kind == Kind::Histogram && *label == "le";
            if !is_label_name(label) || reserved {
                return Err(MetricError::InvalidLabelName {
                    metric: name.to_owned(),
                    label: (*label).to_owned(),
                });
            }
            if labels[..i].contains(label) {
                return Err(MetricError::DuplicateLabel {
                    metric: name.to_owned(),
                    label: (*label).to_owned(),
                });
            }
        }
        Ok(Desc {
            name: name.to_owned(),
            help: help.to_owned(),
            kind,
            labels: labels.map(str::to_owned),
        })
    }
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`
fn is_metric_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_' || b == b':')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`, not starting with `__` (reserved for Prometheus itself).
fn is_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    !name.starts_with("__")
        && bytes
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(is_metric_name("fulcrum_requests_total"));
        assert!(is_metric_name("a:b_c1"));
        for bad in ["", "1abc", "a-b", "a b", "é"] {
            assert!(!is_metric_name(bad), "{bad:?}");
        }
        assert!(is_label_name("pool"));
        assert!(is_label_name("_x1"));
        for bad in ["", "__name", "a:b", "9x", "a-b"] {
            assert!(!is_label_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn labels_are_checked() {
        let err = Desc::try_new("h", "", Kind::Histogram, ["le"]).err();
        assert!(matches!(err, Some(MetricError::InvalidLabelName { .. })));
        assert!(Desc::try_new("g", "", Kind::Gauge, ["le"]).is_ok());
        let err = Desc::try_new("c", "", Kind::Counter, ["a", "b", "a"]).err();
        assert!(matches!(err, Some(MetricError::DuplicateLabel { .. })));
        let err = Desc::try_new("c-1", "", Kind::Counter, []).err();
        assert!(matches!(err, Some(MetricError::InvalidMetricName(_))));
    }
}
