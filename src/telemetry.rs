//! What a delivery tells the operator: one tracing span per delivery, a rate-limited warning
//! per rejection, the `metrics` counters and histograms, and a DEBUG event per rejection.
//! Nothing here ever sees the secret, the token or the payload: only sizes, names and kinds.

#[cfg(feature = "axum")]
use std::sync::{Arc, OnceLock};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use tracing::Span;
use tracing::field::Empty;

use crate::rejection::{REJECTION_TARGET, Rejection};
use crate::signature::VerifiedClaims;

/// At most one WARN about rejections per this interval; the ones in between are counted.
const WARN_INTERVAL: Duration = Duration::from_secs(10);

/// What the extractor tells the layer about a verified delivery: the event, once parsed. It
/// rides in the request extensions beside [`VerifiedWebhook`](crate::VerifiedWebhook).
#[cfg(feature = "axum")]
#[derive(Debug)]
pub(crate) struct Delivery {
    span: Span,
    event: OnceLock<&'static str>,
}

#[cfg(feature = "axum")]
impl Delivery {
    /// Notes the delivery's event: its name on the span, its metric label for the layer.
    pub(crate) fn record_event(&self, name: &str, label: &'static str) {
        self.span.record("event", name);
        let _ = self.event.set(label);
    }
}

/// A WARN for the first of a kind of event, then at most one per [`WARN_INTERVAL`], whose
/// `suppressed_since_last_warning` counts the events since the previous WARN that got no line
/// of their own: a wrong secret, or a server at its connection cap, is visible at the default
/// level, and a flood cannot flood the log.
#[derive(Debug, Default)]
pub(crate) struct RateLimitedWarning {
    /// When the next WARN may be written (none yet: now), and the events not warned about.
    state: Mutex<(Option<Instant>, u64)>,
}

impl RateLimitedWarning {
    /// `Some(events not warned about since the last WARN)` when this one is to be warned
    /// about; else `None`, and it is counted.
    pub(crate) fn check(&self) -> Option<u64> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let (next, suppressed) = &mut *state;
        let now = Instant::now();
        if next.is_some_and(|next| now < next) {
            *suppressed += 1;
            return None;
        }
        *next = Some(now + WARN_INTERVAL);
        Some(std::mem::take(suppressed))
    }
}

/// The rejection WARN, rate-limited; one per layer.
#[derive(Debug, Default)]
pub(crate) struct RejectionWarnings(RateLimitedWarning);

impl RejectionWarnings {
    fn warn(&self, rejection: &Rejection) {
        let Some(suppressed_count) = self.0.check() else { return };
        tracing::warn!(
            target: REJECTION_TARGET,
            status = rejection.status().as_u16(),
            kind = rejection.kind(),
            reason = %rejection,
            suppressed_since_last_warning = suppressed_count,
            "rejected webhook request"
        );
    }
}

/// One delivery through the layer, from the request to the answer. When nobody listens (no
/// subscriber for the span, no `metrics` feature) it does nothing but the rejection logs.
#[derive(Debug)]
pub(crate) struct Observer {
    /// The span, to enter while the inner service runs.
    pub(crate) span: Span,
    /// When the layer got the request, if anyone will be told how long it took.
    started: Option<Instant>,
    /// The record the extractor notes the event in, when anyone listens.
    #[cfg(feature = "axum")]
    pub(crate) delivery: Option<Arc<Delivery>>,
    /// Accepted without a signature check (unsigned deliveries).
    unverified: bool,
}

impl Observer {
    pub(crate) fn start() -> Self {
        let span = tracing::info_span!(
            target: "meshagent_webhooks",
            "meshagent_webhook",
            event = Empty,
            outcome = Empty,
            reason = Empty,
            payload_bytes = Empty,
            secret_index = Empty,
            elapsed_us = Empty,
        );
        let observed = !span.is_disabled() || cfg!(feature = "metrics");
        Self {
            started: observed.then(Instant::now),
            span,
            #[cfg(feature = "axum")]
            delivery: None,
            unverified: false,
        }
    }

    /// The payload verified (or, unsigned, accepted unverified): its size, which secret signed
    /// it, how long reading and verifying took.
    pub(crate) fn verified(&mut self, payload_bytes: usize, claims: &VerifiedClaims) {
        self.unverified = !claims.is_verified();
        let Some(started) = self.started else { return };
        self.span.record("payload_bytes", payload_bytes);
        if claims.is_verified() {
            self.span.record("secret_index", claims.secret_index());
        }
        #[cfg(feature = "metrics")]
        {
            metrics::histogram!("meshagent_webhooks_payload_bytes").record(payload_bytes as f64);
            metrics::histogram!("meshagent_webhooks_verify_seconds")
                .record(started.elapsed().as_secs_f64());
        }
        #[cfg(not(feature = "metrics"))]
        let _ = started;
        #[cfg(feature = "axum")]
        {
            let delivery = Delivery { span: self.span.clone(), event: OnceLock::new() };
            self.delivery = Some(Arc::new(delivery));
        }
    }

    /// The answer is ready: accepted, or rejected by the layer or the extractor.
    pub(crate) fn finish(&mut self, rejection: Option<&Rejection>, warnings: &RejectionWarnings) {
        let (outcome, reason) = match rejection {
            None if self.unverified => ("unverified", "none"),
            None => ("accepted", "none"),
            Some(rejection) => ("rejected", rejection.kind()),
        };
        // Recorded before the warning, which then carries them in its span.
        if let Some(started) = self.started {
            self.span.record("outcome", outcome);
            self.span.record("reason", reason);
            let elapsed = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
            self.span.record("elapsed_us", elapsed);
        }
        if let Some(rejection) = rejection {
            let _entered = self.span.enter();
            warnings.warn(rejection);
        }
        #[cfg(feature = "metrics")]
        {
            #[cfg(feature = "axum")]
            let event = self.delivery.as_ref().and_then(|delivery| delivery.event.get().copied());
            #[cfg(feature = "axum")]
            let event = event.unwrap_or("unknown");
            // Without the extractor no event is read.
            #[cfg(not(feature = "axum"))]
            let event = "unknown";
            metrics::counter!(
                "meshagent_webhooks_requests_total",
                "outcome" => outcome,
                "reason" => reason,
                "event" => event
            )
            .increment(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rejection::{InvalidJwt, SignatureRejection};

    #[test]
    fn only_the_first_rejection_of_an_interval_is_warned_about() {
        let warnings = RejectionWarnings::default();
        let rejection = Rejection::from(SignatureRejection::from(InvalidJwt::new()));
        for _ in 0..5 {
            warnings.warn(&rejection);
        }
        assert_eq!(warnings.0.state.lock().unwrap().1, 4);
        // The next interval starts: the next rejection is warned about, with the count.
        warnings.0.state.lock().unwrap().0 = Some(Instant::now());
        assert_eq!(warnings.0.check(), Some(4));
        assert_eq!(warnings.0.state.lock().unwrap().1, 0);
    }
}
