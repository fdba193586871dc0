//! The one error type of this crate: what can go wrong when registering a metric.

use std::fmt;

/// A metric could not be registered. Recording never fails.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MetricError {
    /// The name is not `[a-zA-Z_:][a-zA-Z0-9_:]*`.
    InvalidMetricName(String),
    /// A label name is not `[a-zA-Z_][a-zA-Z0-9_]*`, starts with `__`, or is reserved (`le`
    /// on a histogram).
    InvalidLabelName {
        /// The metric being registered.
        metric: String,
        /// The offending label name.
        label: String,
    },
    /// The same label name appears twice.
    DuplicateLabel {
        /// The metric being registered.
        metric: String,
        /// The repeated label name.
        label: String,
    },
    /// The registry already has a family of this name.
    AlreadyRegistered(String),
    /// Histogram bounds must be finite, positive and strictly increasing (at 1 ns resolution).
    InvalidBuckets(String),
}

impl fmt::Display for MetricError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetricError::InvalidMetricName(name) => write!(f, "invalid metric name {name:?}"),
            MetricError::InvalidLabelName { metric, label } => {
                write!(f, "metric {metric:?}: invalid label name {label:?}")
            }
            MetricError::DuplicateLabel { metric, label } => {
                write!(f, "metric {metric:?}: label {label:?} given twice")
            }
            MetricError::AlreadyRegistered(name) => {
                write!(f, "metric {name:?} is already registered")
            }
            MetricError::InvalidBuckets(why) => write!(f, "invalid histogram buckets: {why}"),
        }
    }
}

impl std::error::Error for MetricError {}
