//! Per-client rate limits on public routes (sign-in, and later resident
//! reports and one-click calls), keyed by client address and route.

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::num::NonZeroU32;
use std::sync::Arc;

#[derive(Debug, Clone)]
pub struct RateLimits {
    /// Sign-in: slow enough to make guessing passwords from one address useless.
    sign_in: Arc<DefaultKeyedRateLimiter<String>>,
    /// Everything else public: generous, only against floods.
    public: Arc<DefaultKeyedRateLimiter<String>>,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits::new(20, 300)
    }
}

fn per_minute(n: u32) -> Quota {
    Quota::per_minute(NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN))
}

impl RateLimits {
    /// `sign_in` and `public` requests per minute per client, with bursts of
    /// the same size.
    pub fn new(sign_in: u32, public: u32) -> Self {
        RateLimits {
            sign_in: Arc::new(RateLimiter::keyed(per_minute(sign_in))),
            public: Arc::new(RateLimiter::keyed(per_minute(public))),
        }
    }

    pub fn allow(&self, client: Option<&str>, route: &str) -> bool {
        let key = format!("{}|{route}", client.unwrap_or("local"));
        let limiter = if route == "/api/v1/session" || route == "/login" { &self.sign_in } else { &self.public };
        limiter.check_key(&key).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_over_its_quota_is_refused_and_others_are_not() {
        let limits = RateLimits::new(3, 100);
        for _ in 0..3 {
            assert!(limits.allow(Some("10.0.0.1"), "/login"));
        }
        assert!(!limits.allow(Some("10.0.0.1"), "/login"));
        assert!(limits.allow(Some("10.0.0.2"), "/login"), "another client has its own quota");
        assert!(limits.allow(Some("10.0.0.1"), "/healthz"), "another route has its own quota");
    }
}
