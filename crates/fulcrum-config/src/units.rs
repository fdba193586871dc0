//! Durations (`"250ms"`, `"10s"`, `"1.5m"`) and sizes (`"16KiB"`, `"10MB"`).

use std::time::Duration;

const DURATION_UNITS: &[(&str, u128)] = &[
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60 * 1_000_000_000),
    ("h", 3600 * 1_000_000_000),
];

pub(crate) const DURATION_HELP: &str =
    "expected a number followed by one of the units ms, s, m, h, e.g. \"10s\"";

/// Parses a duration: a non-negative number, optionally with a decimal fraction, followed by
/// one of the units `ms`, `s`, `m`, `h` (`"250ms"`, `"10s"`, `"1.5s"`, `"5m"`, `"1h"`, `"0s"`).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    if number.is_empty() {
        return Err(format!("invalid duration \"{s}\" ({DURATION_HELP})"));
    }
    if unit.is_empty() {
        return Err(format!(
            "missing unit in duration \"{s}\" ({DURATION_HELP})"
        ));
    }
    let Some(&(_, unit_nanos)) = DURATION_UNITS.iter().find(|(name, _)| *name == unit) else {
        return Err(format!(
            "unknown unit \"{unit}\" in duration \"{s}\" ({DURATION_HELP})"
        ));
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let digits_ok = |d: &str| d.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || (number.contains('.') && fraction.is_empty()) || !digits_ok(fraction) {
        return Err(format!("invalid duration \"{s}\" ({DURATION_HELP})"));
    }
    let too_long = || format!("duration \"{s}\" is too long");
    let whole: u128 = whole.parse().map_err(|_| too_long())?;
    let mut nanos = whole.checked_mul(unit_nanos).ok_or_else(too_long)?;
    // Nanosecond precision is the most a Duration holds; ignore further digits.
    let fraction = &fraction[..fraction.len().min(12)];
    if !fraction.is_empty() {
        let numerator: u128 = fraction.parse().map_err(|_| too_long())?;
        nanos += numerator * unit_nanos / 10u128.pow(fraction.len() as u32);
    }
    let secs = u64::try_from(nanos / 1_000_000_000).map_err(|_| too_long())?;
    Ok(Duration::new(secs, (nanos % 1_000_000_000) as u32))
}

const SIZE_UNITS: &[(&str, u64)] = &[
    ("b", 1),
    ("kb", 1_000),
    ("kib", 1 << 10),
    ("mb", 1_000_000),
    ("mib", 1 << 20),
    ("gb", 1_000_000_000),
    ("gib", 1 << 30),
    ("tb", 1_000_000_000_000),
    ("tib", 1 << 40),
];

const SIZE_HELP: &str =
    "expected an integer followed by one of the units B, KB, KiB, MB, MiB, GB, GiB, TB, TiB, e.g. \"16KiB\"";

/// Parses a size in bytes: a non-negative integer, optionally followed by a unit
/// (`"512B"`, `"16KiB"`, `"10MiB"`, `"1GiB"`, `"10KB"` = 10 000, `"10MB"`). Units are
/// case-insensitive and may be preceded by a space; a bare number is bytes.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    if number.is_empty() {
        return Err(format!("invalid size \"{s}\" ({SIZE_HELP})"));
    }
    let unit = unit.strip_prefix(' ').unwrap_or(unit);
    let multiplier = if unit.is_empty() {
        1
    } else {
        match SIZE_UNITS
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(unit))
        {
            Some(&(_, m)) => m,
            None => {
                return Err(format!(
                    "unknown unit \"{unit}\" in size \"{s}\" ({SIZE_HELP})"
                ))
            }
        }
    };
    let too_large = || format!("size \"{s}\" is too large");
    let n: u64 = number.parse().map_err(|_| too_large())?;
    n.checked_mul(multiplier).ok_or_else(too_large)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        let ms = Duration::from_millis;
        assert_eq!(parse_duration("250ms").unwrap(), ms(250));
        assert_eq!(parse_duration("10s").unwrap(), ms(10_000));
        assert_eq!(parse_duration("5m").unwrap(), ms(300_000));
        assert_eq!(parse_duration("1h").unwrap(), ms(3_600_000));
        assert_eq!(parse_duration("0s").unwrap(), Duration::ZERO);
        assert_eq!(parse_duration("1.5s").unwrap(), ms(1500));
        assert_eq!(parse_duration("0.25m").unwrap(), ms(15_000));
    }

    #[test]
    fn durations_reject_garbage() {
        for bad in [
            "", "s", "10", "10d", "-1s", "1.s", ".5s", "1.2.3s", "10 s", "10S", "ten s",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should be rejected");
        }
        assert!(parse_duration("99999999999999999999999h").is_err());
    }

    #[test]
    fn duration_errors_teach_the_units() {
        let err = parse_duration("10").unwrap_err();
        assert!(
            err.contains("missing unit") && err.contains("ms, s, m, h"),
            "{err}"
        );
        let err = parse_duration("3d").unwrap_err();
        assert!(err.contains("unknown unit \"d\""), "{err}");
    }

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("512B").unwrap(), 512);
        assert_eq!(parse_size("512").unwrap(), 512);
        assert_eq!(parse_size("16KiB").unwrap(), 16 * 1024);
        assert_eq!(parse_size("10MiB").unwrap(), 10 * 1024 * 1024);
        assert_eq!(parse_size("1GiB").unwrap(), 1 << 30);
        assert_eq!(parse_size("10KB").unwrap(), 10_000);
        assert_eq!(parse_size("10MB").unwrap(), 10_000_000);
        assert_eq!(parse_size("10 mib").unwrap(), 10 << 20);
        assert_eq!(parse_size("0B").unwrap(), 0);
    }

    #[test]
    fn sizes_reject_garbage() {
        for bad in ["", "KiB", "1.5KiB", "-1B", "10XB", "10  KiB", "ten"] {
            assert!(parse_size(bad).is_err(), "{bad:?} should be rejected");
        }
        assert!(parse_size("99999999999TiB")
            .unwrap_err()
            .contains("too large"));
    }
}
