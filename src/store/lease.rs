//! Which process is fetching a feed: a lease in the feed's row, named `pid@host`, with an
//! expiry. The daemon and hand-run fetches share one database; the lease keeps two of
//! them from fetching or writing one feed at once, and a lease whose process is gone from
//! this host is free at once, so a crash never blocks a feed for long.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::{Store, StoreError, parse_timestamp, timestamp};
use crate::runtime::{process_is_alive, this_host};

/// A lease this process holds, to give back with the last write of the feed's pass.
#[derive(Debug, Clone, Copy)]
pub struct HeldLease<'a> {
    /// The feed it is for.
    pub feed: &'a str,
    /// This process (`pid@host`).
    pub holder: &'a str,
}

impl Store {
    /// Takes the right to fetch `feed` for `ttl`, unless another live process holds it.
    /// `holder` names this process (`pid@host`); a lease of a process that is gone from
    /// this host is free at once, so a crash never blocks a feed for long.
    pub fn try_lease(
        &mut self,
        feed: &str,
        url: &str,
        holder: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let current: Option<(Option<String>, Option<String>)> = tx
            .prepare_cached("SELECT lease_holder, lease_until FROM feeds WHERE name = ?1")?
            .query_row([feed], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let free = match &current {
            None | Some((None, _)) => true,
            Some((Some(other), until)) => {
                other == holder
                    || until.as_deref().is_none_or(|u| parse_timestamp(u) <= now)
                    || !lease_holder_alive(other)
            }
        };
        if free {
            let until = now
                + chrono::Duration::from_std(ttl).unwrap_or_else(|_| chrono::Duration::minutes(10));
            tx.prepare_cached(
                "INSERT INTO feeds (name, url, lease_holder, lease_until) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (name) DO UPDATE SET lease_holder = excluded.lease_holder, lease_until = excluded.lease_until",
            )?
            .execute(params![feed, url, holder, timestamp(until)])?;
        }
        tx.commit()?;
        Ok(free)
    }

    /// Gives the lease back (only if `holder` still has it).
    pub fn release_lease(&self, feed: &str, holder: &str) -> Result<(), StoreError> {
        release(&self.conn, feed, holder)
    }
}

/// Gives `holder`'s lease of `feed` back, inside the caller's transaction: the last write
/// of a feed's pass carries it, so the pass costs one commit fewer.
pub(super) fn release(
    conn: &rusqlite::Connection,
    feed: &str,
    holder: &str,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE feeds SET lease_holder = NULL, lease_until = NULL WHERE name = ?1 AND lease_holder = ?2",
    )?
    .execute(params![feed, holder])?;
    Ok(())
}

/// Whether the process named by a lease (`pid@host`) still runs. A lease from another
/// host is trusted until it expires.
fn lease_holder_alive(holder: &str) -> bool {
    let Some((pid, host)) = holder.split_once('@') else {
        return true;
    };
    host != this_host() || pid.parse::<u32>().map_or(true, process_is_alive)
}

/// This process's name in leases.
pub fn lease_holder_name() -> String {
    format!("{}@{}", std::process::id(), this_host())
}
