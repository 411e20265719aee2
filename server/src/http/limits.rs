//! Per-credential rate limits: a token bucket per credential (governor's keyed limiter), so
//! one credential cannot hog the server. Past it: 429 with `Retry-After`.

use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// Credentials tracked before idle ones are forgotten (a forgotten one starts full again).
const MAX_TRACKED: usize = 100_000;

#[derive(Debug)]
pub struct RateLimit {
    limiter: DefaultKeyedRateLimiter<String>,
    clock: DefaultClock,
}

impl RateLimit {
    /// `per_second` on average, `burst` at once (both at least 1).
    pub fn new(per_second: u32, burst: u32) -> Self {
        let one = NonZeroU32::MIN;
        let quota = Quota::per_second(NonZeroU32::new(per_second).unwrap_or(one))
            .allow_burst(NonZeroU32::new(burst).unwrap_or(one));
        Self {
            limiter: RateLimiter::keyed(quota),
            clock: DefaultClock::default(),
        }
    }

    /// Counts one request of credential `key`; `Err(seconds)` to wait when over its rate.
    pub fn check(&self, key: &str) -> Result<(), u64> {
        if self.limiter.len() > MAX_TRACKED {
            self.limiter.retain_recent();
            self.limiter.shrink_to_fit();
        }
        self.limiter.check_key(&key.to_string()).map_err(|until| {
            until
                .wait_time_from(self.clock.now())
                .as_secs_f64()
                .ceil()
                .max(1.0) as u64
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_credential_past_its_burst_waits_and_others_do_not() {
        let r = RateLimit::new(1, 3);
        for _ in 0..3 {
            assert_eq!(r.check("a"), Ok(()));
        }
        assert_eq!(r.check("a"), Err(1));
        assert_eq!(r.check("b"), Ok(()));
    }
}
