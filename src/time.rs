//! Time as the core keeps it (unix seconds) and as people and HTTP read it (RFC 3339, HTTP dates).

use serde::{Deserialize, Deserializer, Serializer};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The current unix time in seconds. Called at the edges; logic takes `now` as a parameter.
pub fn now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

/// RFC 3339 in UTC, e.g. `2026-11-23T10:00:00Z`.
pub fn rfc3339(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| unix.to_string())
}

/// Serialises unix seconds as RFC 3339.
pub fn serialize<S: Serializer>(unix: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&rfc3339(*unix))
}

/// Reads RFC 3339 back into unix seconds (for records kept as JSON).
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let text = String::deserialize(d)?;
    parse(&text).map_err(serde::de::Error::custom)
}

/// Serialises optional unix seconds as RFC 3339 or `null`.
pub fn serialize_option<S: Serializer>(unix: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
    match unix {
        Some(t) => s.serialize_str(&rfc3339(*t)),
        None => s.serialize_none(),
    }
}

/// `#[serde(with = "crate::time::option")]`: optional unix seconds as RFC 3339 or `null`.
pub mod option {
    pub use super::serialize_option as serialize;
    use serde::{Deserialize, Deserializer};

    /// Reads RFC 3339 or `null` back into optional unix seconds.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(None),
            Some(text) => super::parse(&text).map(Some).map_err(serde::de::Error::custom),
        }
    }
}

/// Reads an RFC 3339 time into unix seconds.
pub fn parse_rfc3339(text: &str) -> Result<i64, time::error::Parse> {
    parse(text)
}

fn parse(text: &str) -> Result<i64, time::error::Parse> {
    OffsetDateTime::parse(text, &Rfc3339).map(|t| t.unix_timestamp())
}

/// A duration for people: `in 3 days`, `in 5 hours`, `2 minutes ago`.
pub fn relative(unix: i64, now: i64) -> String {
    // Saturating: a damaged record may hold any number, and listing it must not overflow.
    let delta = unix.saturating_sub(now);
    let abs = delta.unsigned_abs();
    let (n, unit) = match abs {
        0..=59 => (abs, "second"),
        60..=3599 => (abs / 60, "minute"),
        3600..=86_399 => (abs / 3600, "hour"),
        _ => (abs / 86_400, "day"),
    };
    let plural = if n == 1 { "" } else { "s" };
    if delta >= 0 { format!("in {n} {unit}{plural}") } else { format!("{n} {unit}{plural} ago") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(relative(100 + 3 * 86_400, 100), "in 3 days");
        assert_eq!(relative(100 + 3600, 100), "in 1 hour");
        assert_eq!(relative(100 - 120, 100), "2 minutes ago");
        assert!(relative(i64::MIN, 100).ends_with("days ago"));
        assert!(relative(i64::MAX, -100).starts_with("in "));
    }
}
