//! Sends AWS requests: no more than `--concurrency` at once, each attempt
//! bounded in time, and transient failures retried with exponential
//! backoff and full jitter until the `--timeout` deadline cuts them short.
//!
//! The SDK's own retries are disabled (see [`super::Plan::fetch`]) in
//! favour of this loop. Its standard mode stops after 3 attempts, and its
//! retry quota (a token bucket shared by a client's requests) can stop
//! retries early, whereas a fleet starting at once can be throttled many
//! times in a row and should keep trying, spread out, for as long as the
//! deadline allows. This loop also keeps the last failure, so that the
//! deadline's error can say what was still being retried.

use std::cell::{Cell, RefCell};
use std::error::Error;
use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use aws_sdk_secretsmanager::config::http::HttpResponse;
use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};
use tokio::sync::Semaphore;

use super::FetchError;
use crate::log;
use crate::proxy;

/// The first backoff's upper bound; each retry doubles it.
const BASE_BACKOFF: Duration = Duration::from_millis(100);
/// The most any one backoff may be.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// The longest an attempt may go unanswered before it is abandoned and
/// retried; with a short `--timeout`, a third of it, to leave time for
/// retries, but no less than [`MIN_ATTEMPT`].
const MAX_ATTEMPT: Duration = Duration::from_secs(5);
/// Below this, a slow but healthy answer (a new connection, KMS decrypting
/// a SecureString) could be abandoned only to be asked for again.
const MIN_ATTEMPT: Duration = Duration::from_secs(1);

/// The error codes that mean "too many requests, slow down", which
/// Secrets Manager and Parameter Store send with HTTP 400.
const THROTTLING: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "TooManyRequestsException",
    "RequestLimitExceeded",
];

/// The requests of one resolution: the bound on how many are in flight,
/// and how long one attempt may take.
pub struct Calls {
    permits: Semaphore,
    attempt_timeout: Duration,
    /// Whether the GetParameter fallback was logged already: once a run
    /// is enough to explain the extra calls.
    fallback_logged: Cell<bool>,
}

impl Calls {
    /// Allows `concurrency` requests in flight at once, for a resolution
    /// that must finish within `timeout`.
    pub fn new(concurrency: usize, timeout: Duration) -> Calls {
        Calls {
            permits: Semaphore::new(concurrency.clamp(1, Semaphore::MAX_PERMITS)),
            attempt_timeout: (timeout / 3).clamp(MIN_ATTEMPT, MAX_ATTEMPT),
            fallback_logged: Cell::new(false),
        }
    }

    /// Tells whether this is the first GetParameter fallback of the run.
    pub fn first_fallback(&self) -> bool {
        !self.fallback_logged.replace(true)
    }

    /// Sends one request, made afresh by `attempt` for every try, and
    /// retries it while it fails in a way that may pass: throttling, HTTP
    /// 5xx or 429, a connection error, or no answer within the attempt's
    /// time. Any other failure (not found, access denied, a validation
    /// error) is returned at once, after exactly one request. `what`
    /// names the call in the debug log; each retried failure is recorded
    /// in `progress`. Nothing here gives up: the caller's deadline does.
    pub async fn send<T, E, F>(
        &self,
        what: &str,
        progress: &Progress,
        mut attempt: impl FnMut() -> F,
    ) -> Result<T, FetchError>
    where
        F: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + Error + 'static,
    {
        let mut retries: u32 = 0;
        loop {
            let answer = {
                // The semaphore is never closed, so a permit always comes;
                // it is held for the attempt only, not for the backoff.
                let _permit = self.permits.acquire().await.ok();
                tokio::time::timeout(self.attempt_timeout, attempt()).await
            };
            let error = match answer {
                Ok(Ok(output)) => return Ok(output),
                Ok(Err(error)) if !retryable(&error) => return Err(FetchError::from_sdk(error)),
                Ok(Err(error)) => FetchError::from_sdk(error),
                Err(_) => FetchError::AttemptTimeout(self.attempt_timeout),
            };
            let wait = backoff(retries);
            retries = retries.saturating_add(1);
            log::debug!(
                "{what}: {error}; retry {retries} in {} ms",
                wait.as_millis()
            );
            progress.record(error);
            tokio::time::sleep(wait).await;
        }
    }
}

/// What a request's retries have met so far, shared with whoever reports
/// the deadline.
#[derive(Clone, Default)]
pub struct Progress(Rc<RefCell<Option<FetchError>>>);

impl Progress {
    fn record(&self, error: FetchError) {
        *self.0.borrow_mut() = Some(error);
    }

    /// The last failure that was retried, if any was.
    pub fn last(&self) -> Option<FetchError> {
        self.0.borrow().clone()
    }
}

/// Tells whether `error` may pass if the request is sent again.
fn retryable<E: ProvideErrorMetadata>(error: &SdkError<E, HttpResponse>) -> bool {
    match error {
        SdkError::TimeoutError(_) => true,
        // A connection refused, reset or closed early, or a connect
        // timeout; not a request the SDK could not build or sign.
        // A certificate the trusted CAs do not vouch for fails the same
        // way on every attempt, and so do credentials a proxy refuses
        // (407), so they fail at once. Any other refusal of a CONNECT
        // tunnel is retried: its status is not known, and a 502 or 503 of
        // a proxy whose upstream is briefly down would pass.
        SdkError::DispatchFailure(failure) => {
            let rejected = failure.as_connector_error().is_some_and(|error| {
                certificate_rejected(error)
                    || proxy::tunnel_failure(error) == Some(proxy::Tunnel::AuthRequired)
            });
            (failure.is_io() || failure.is_timeout()) && !rejected
        }
        SdkError::ConstructionFailure(_) => false,
        // By status rather than by code: a 5xx may come with a body that
        // cannot be parsed. A 200 whose body cannot be read would fail the
        // same way again, so it is not retried.
        _ => {
            let status = error.raw_response().map(|raw| raw.status().as_u16());
            matches!(status, Some(429 | 500..=599))
                || error.code().is_some_and(|code| THROTTLING.contains(&code))
        }
    }
}

/// Tells whether TLS rejected the server's certificate somewhere in the
/// chain of causes of `error`. rustls's error reaches here nested in
/// io::Errors, whose `source` skips the error they wrap, so the walk steps
/// into an io::Error's payload instead.
fn certificate_rejected(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(error) = next {
        if let Some(rustls::Error::InvalidCertificate(_)) = error.downcast_ref::<rustls::Error>() {
            return true;
        }
        next = match error.downcast_ref::<std::io::Error>() {
            Some(io) => io
                .get_ref()
                .map(|inner| inner as &(dyn std::error::Error + 'static)),
            None => error.source(),
        };
    }
    false
}

/// How long to wait before retry `retries` + 1: a uniformly random time up
/// to a bound that doubles with each retry, to [`MAX_BACKOFF`] ("full
/// jitter"), so that a fleet throttled at once does not retry at once.
fn backoff(retries: u32) -> Duration {
    let bound = BASE_BACKOFF
        .saturating_mul(2_u32.saturating_pow(retries))
        .min(MAX_BACKOFF);
    let millis = u64::try_from(bound.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(fastrand::u64(0..=millis))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_stays_under_a_bound_that_doubles_up_to_the_cap() {
        for (retries, bound) in [
            (0, 100),
            (1, 200),
            (2, 400),
            (5, 3200),
            (6, 5000),
            (40, 5000),
        ] {
            for _ in 0..200 {
                let wait = backoff(retries);
                assert!(wait <= Duration::from_millis(bound), "{retries}: {wait:?}");
            }
        }
    }

    #[test]
    fn backoff_is_spread_over_its_range() {
        let waits: Vec<Duration> = (0..200).map(|_| backoff(6)).collect();
        assert!(waits.iter().any(|wait| *wait < Duration::from_millis(2500)));
        assert!(waits.iter().any(|wait| *wait > Duration::from_millis(2500)));
    }

    #[test]
    fn an_attempt_gets_a_third_of_the_timeout_within_bounds() {
        let attempt = |timeout| Calls::new(1, timeout).attempt_timeout;
        assert_eq!(attempt(Duration::from_secs(30)), MAX_ATTEMPT);
        assert_eq!(attempt(Duration::from_secs(6)), Duration::from_secs(2));
        assert_eq!(attempt(Duration::from_millis(300)), MIN_ATTEMPT);
    }
}
