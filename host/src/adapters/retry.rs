//! Waiting for a data source that is not up yet: attempts with doubling
//! waits between them, a bounded number of times, logging each wait. The
//! REST adapter sends every request this way; the PostgreSQL adapter makes
//! its first connection this way.

use std::future::Future;
use std::time::Duration;

/// How many times to try again, and how long to wait before each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Attempts after the first one.
    pub retries: u32,
    /// The wait before the first retry; each later one doubles it.
    pub first: Duration,
    /// The longest wait between two attempts.
    pub max: Duration,
}

impl Default for Backoff {
    /// 4 retries, waiting 0.2, 0.4, 0.8 and 1.6 s; at most 5 s each.
    fn default() -> Self {
        Self {
            retries: 4,
            first: Duration::from_millis(200),
            max: Duration::from_secs(5),
        }
    }
}

impl Backoff {
    /// The wait before retry number `retry` (0 for the first): `first`
    /// doubled `retry` times, at least `at_least`, at most `max`.
    pub fn wait(&self, retry: u32, at_least: Option<Duration>) -> Duration {
        self.first
            .saturating_mul(2u32.saturating_pow(retry.min(16)))
            .max(at_least.unwrap_or_default())
            .min(self.max)
    }

    /// Makes `attempt` until `retry_after` finds its outcome final (`None`)
    /// or the retries are spent, sleeping between attempts (at least what
    /// `retry_after` gives) and calling `log` before each sleep with the
    /// outcome, the number of the attempt (from 1) and the wait. Returns
    /// the last outcome and the number of attempts made.
    pub async fn retry<T, Fut>(
        &self,
        mut attempt: impl FnMut() -> Fut,
        retry_after: impl Fn(&T) -> Option<Option<Duration>>,
        log: impl Fn(&T, u32, Duration),
    ) -> (T, u32)
    where
        Fut: Future<Output = T>,
    {
        let mut made = 0;
        loop {
            let outcome = attempt().await;
            made += 1;
            match retry_after(&outcome) {
                Some(at_least) if made <= self.retries => {
                    let wait = self.wait(made - 1, at_least);
                    log(&outcome, made, wait);
                    tokio::time::sleep(wait).await;
                }
                _ => return (outcome, made),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_and_stay_within_the_cap() {
        let backoff = Backoff::default();
        assert_eq!(backoff.wait(0, None), Duration::from_millis(200));
        assert_eq!(backoff.wait(2, None), Duration::from_millis(800));
        assert_eq!(backoff.wait(10, None), Duration::from_secs(5));
        assert_eq!(
            backoff.wait(0, Some(Duration::from_secs(2))),
            Duration::from_secs(2)
        );
        assert_eq!(
            backoff.wait(0, Some(Duration::from_secs(60))),
            Duration::from_secs(5)
        );
    }

    #[test]
    fn attempts_stop_at_a_final_outcome_or_when_the_retries_are_spent() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let backoff = Backoff {
            retries: 3,
            first: Duration::from_millis(1),
            max: Duration::from_millis(2),
        };
        let run = |last_failing: u32| {
            let logged = std::cell::RefCell::new(Vec::new());
            let mut made = 0;
            let outcome = runtime.block_on(backoff.retry(
                || {
                    made += 1;
                    std::future::ready(made)
                },
                |n| (*n <= last_failing).then_some(None),
                |n, attempt, wait| logged.borrow_mut().push((*n, attempt, wait)),
            ));
            (outcome, logged.into_inner())
        };
        // Succeeds at the second attempt: one wait logged.
        let (outcome, logged) = run(1);
        assert_eq!(outcome, (2, 2));
        assert_eq!(logged, [(1, 1, Duration::from_millis(1))]);
        // Never succeeds: the first attempt and three retries.
        let (outcome, logged) = run(u32::MAX);
        assert_eq!(outcome, (4, 4));
        assert_eq!(logged.len(), 3);
        assert_eq!(logged[2].2, Duration::from_millis(2));
    }
}
