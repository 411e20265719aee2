//! A token bucket for endpoints limited for all callers together (`/enroll`, web sign-in):
//! up to `per_minute` at once, then one every 60/`per_minute` seconds.

use std::sync::Mutex;
use std::time::Instant;

#[derive(Debug)]
pub struct PerMinute {
    per_minute: f64,
    state: Mutex<(f64, Instant)>,
}

impl PerMinute {
    pub fn new(per_minute: u32) -> Self {
        let per_minute = f64::from(per_minute.max(1));
        Self {
            per_minute,
            state: Mutex::new((per_minute, Instant::now())),
        }
    }

    /// The configured rate.
    pub fn per_minute(&self) -> u32 {
        self.per_minute as u32
    }

    /// Takes one, or says in how many seconds one is there.
    pub fn take(&self) -> Result<(), u64> {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let per_sec = self.per_minute / 60.0;
        let now = Instant::now();
        s.0 = (s.0 + now.duration_since(s.1).as_secs_f64() * per_sec).min(self.per_minute);
        s.1 = now;
        if s.0 >= 1.0 {
            s.0 -= 1.0;
            return Ok(());
        }
        Err(((1.0 - s.0) / per_sec).ceil().max(1.0) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_bucket_gives_its_size_then_says_when_to_come_back() {
        let b = PerMinute::new(3);
        assert!(b.take().is_ok() && b.take().is_ok() && b.take().is_ok());
        let wait = b.take().expect_err("empty");
        assert!((1..=20).contains(&wait), "{wait}");
    }
}
