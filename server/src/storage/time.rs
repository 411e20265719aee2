//! Times as stored: RFC 3339 UTC strings with millisecond precision
//! (`2026-11-21T08:15:00.000Z`), fixed width so they compare and sort correctly as text.

/// Current time as stored: RFC 3339 UTC with milliseconds.
pub fn now_str() -> String {
    time_str(chrono::Utc::now())
}

/// A time as stored.
pub fn time_str(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
