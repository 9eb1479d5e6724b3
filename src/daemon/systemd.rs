//! Talking to systemd (`Type=notify`): READY, STATUS, WATCHDOG, RELOADING and STOPPING.
//! Every call is a no-op when not started by systemd (no `NOTIFY_SOCKET`).

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use chrono::Utc;

use super::Counters;
use super::plan::Plan;

/// Sends states to systemd.
pub fn notify(states: &[sd_notify::NotifyState<'_>]) {
    if let Err(error) = sd_notify::notify(false, states) {
        tracing::debug!(%error, "sd_notify failed");
    }
}

/// RELOADING with the monotonic time systemd wants next to it.
pub fn notify_reloading() {
    match sd_notify::NotifyState::monotonic_usec_now() {
        Ok(now) => notify(&[sd_notify::NotifyState::Reloading, now]),
        Err(_) => notify(&[sd_notify::NotifyState::Reloading]),
    }
}

/// The one-line STATUS (`systemctl status`): feeds, passes, articles, and the next feed.
pub fn status_line(plan: &Plan, in_flight: &HashSet<String>, counters: &Counters) -> String {
    let next = plan
        .next(in_flight)
        .map(|p| format!("; next: {} at {}", p.feed.name, p.due.format("%H:%M:%S")))
        .unwrap_or_default();
    format!(
        "{} feeds, {} in flight, {} passes, {} new articles, {} failed passes{next}",
        plan.len(),
        in_flight.len(),
        counters.passes,
        counters.new_articles,
        counters.failed_passes
    )
}

/// Pings systemd's watchdog at half its interval, but only while the scheduler loop keeps
/// beating (`heartbeat`, in milliseconds, refreshed at least every `tick`): a stuck loop
/// stops the pings and systemd restarts the service.
pub fn start_watchdog(heartbeat: Arc<AtomicI64>, tick: Duration) {
    let mut usec = 0;
    if !sd_notify::watchdog_enabled(false, &mut usec) || usec == 0 {
        return;
    }
    let period = Duration::from_micros(usec / 2);
    let stale_after = i64::try_from(period.max(tick * 5).as_millis()).unwrap_or(i64::MAX);
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(period);
        loop {
            ticker.tick().await;
            let age = Utc::now().timestamp_millis() - heartbeat.load(Ordering::Relaxed);
            if age <= stale_after {
                notify(&[sd_notify::NotifyState::Watchdog]);
            } else {
                tracing::error!(
                    age_ms = age,
                    "scheduler loop is stuck; not pinging the watchdog"
                );
            }
        }
    });
}
