//! Human units on the command line: durations (`90s`, `15m`, `1h`, `7d`, `never`) and sizes
//! (`512`, `10K`, `5M`, `1G`). Both parse into plain numbers the core works with.

use std::time::Duration;

use crate::Error;

/// A link or slot lifetime: a duration from now, or no expiry at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifetime {
    /// Expires this long after it is created (or edited).
    For(Duration),
    /// Never expires.
    Never,
}

impl std::str::FromStr for Lifetime {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("never") {
            return Ok(Lifetime::Never);
        }
        let bad = || {
            Error::InvalidInput(format!(
                "invalid duration {text:?}: use a number with s, m, h, d or w (90s, 15m, 1h, 7d) or `never`"
            ))
        };
        let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        let (number, unit) = text.split_at(split);
        let number: u64 = number.parse().map_err(|_| bad())?;
        let seconds_per_unit = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            "w" => 7 * 86_400,
            _ => return Err(bad()),
        };
        let seconds = number
            .checked_mul(seconds_per_unit)
            .filter(|s| *s > 0 && *s <= 100 * 365 * 86_400)
            .ok_or_else(|| Error::InvalidInput(format!("duration {text:?} must be between 1s and 100 years")))?;
        Ok(Lifetime::For(Duration::from_secs(seconds)))
    }
}

impl Lifetime {
    /// The unix time this lifetime ends at when it starts at `now`, or `None` for never.
    pub fn expires_at(self, now: i64) -> Option<i64> {
        match self {
            Lifetime::For(d) => Some(now.saturating_add(d.as_secs() as i64)),
            Lifetime::Never => None,
        }
    }
}

/// Parses a size: plain bytes, or a number with K, M, G or T (powers of 1024; `KiB`, `MB` and
/// lower case are accepted too).
pub fn parse_size(text: &str) -> Result<u64, Error> {
    let trimmed = text.trim();
    let bad =
        || Error::InvalidInput(format!("invalid size {text:?}: use bytes or a number with K, M, G or T (10K, 5M, 1G)"));
    let split = trimmed.find(|c: char| !c.is_ascii_digit()).unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let number: u64 = number.parse().map_err(|_| bad())?;
    let unit = unit.trim().to_ascii_uppercase();
    let shift = match unit.trim_end_matches("IB").trim_end_matches('B') {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        _ => return Err(bad()),
    };
    number.checked_mul(1 << shift).ok_or_else(bad)
}

/// Formats a byte count for people: `0 B`, `1.5 KiB`, `3.2 GiB`.
pub fn format_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if value < 10.0 { format!("{value:.1} {}", UNITS[unit]) } else { format!("{value:.0} {}", UNITS[unit]) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!("90s".parse::<Lifetime>().unwrap(), Lifetime::For(Duration::from_secs(90)));
        assert_eq!("15m".parse::<Lifetime>().unwrap(), Lifetime::For(Duration::from_secs(900)));
        assert_eq!("1h".parse::<Lifetime>().unwrap(), Lifetime::For(Duration::from_secs(3600)));
        assert_eq!("7d".parse::<Lifetime>().unwrap(), Lifetime::For(Duration::from_secs(604_800)));
        assert_eq!("never".parse::<Lifetime>().unwrap(), Lifetime::Never);
        for bad in ["", "h", "1", "1y", "-1h", "0s", "1.5h", "99999999999999999d", "1 h"] {
            assert!(bad.parse::<Lifetime>().is_err(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("512").unwrap(), 512);
        assert_eq!(parse_size("10K").unwrap(), 10 * 1024);
        assert_eq!(parse_size("5M").unwrap(), 5 << 20);
        assert_eq!(parse_size("1G").unwrap(), 1 << 30);
        assert_eq!(parse_size("2gib").unwrap(), 2 << 30);
        assert_eq!(parse_size("3MB").unwrap(), 3 << 20);
        for bad in ["", "K", "1X", "-5", "1.5M", "99999999999T"] {
            assert!(parse_size(bad).is_err(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn human_sizes() {
        assert_eq!(format_size(0), "0 B");
        assert_eq!(format_size(1023), "1023 B");
        assert_eq!(format_size(1536), "1.5 KiB");
        assert_eq!(format_size(200 << 20), "200 MiB");
    }
}
