//! The end of a feed's pass, shared with the feeds that end at the same moment: their
//! files flushed with one `syncfs` and their entries marked written (their leases given
//! back) in one transaction.
//!
//! A cold pass of 200 feeds ended in 200 transactions of a few pages each (the feeds
//! table's page among them, every time) after a handful of shared flushes. Now the first
//! feed to finish flushes and records its batch; the feeds that finish meanwhile queue
//! theirs, and the next of them flushes and records the whole queue at once. No entry is
//! marked before the flush that holds its file has ended, as before.

use std::collections::HashSet;
use std::sync::{Mutex, MutexGuard, PoisonError};

use chrono::Utc;

use super::{Pipeline, PipelineError};
use crate::output::sync_filesystem;
use crate::store::HeldLease;

/// Batches of written entries waiting to be flushed and marked.
#[derive(Debug, Default)]
pub struct WrittenMarks {
    queue: Mutex<MarkQueue>,
    /// Held by the one thread that flushes and records a group, so groups go one at a
    /// time and the batches queued meanwhile make the next group.
    recording: Mutex<()>,
}

#[derive(Debug, Default)]
struct MarkQueue {
    /// The ticket of the last batch queued; tickets count up from 1.
    last_ticket: u64,
    /// Batches queued and not yet taken by a group.
    waiting: Vec<Batch>,
    /// Every batch with a ticket up to this one has been taken by a group.
    taken_up_to: u64,
    /// Tickets of batches whose group failed: each is recorded again on its own.
    failed: HashSet<u64>,
}

/// One feed's written entries and the lease to give back with them.
#[derive(Debug)]
struct Batch {
    ticket: u64,
    ids: Vec<i64>,
    /// The feed whose lease goes back, and the holder's name.
    lease: Option<(String, String)>,
}

/// How a batch was recorded.
enum Recorded {
    Done,
    /// The group it was in failed; nothing of the group was marked.
    GroupFailed,
}

fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every change under these locks is a push or a take of plain data: a thread that
    // panicked while holding one left it whole.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Pipeline {
    /// Returns once the files of `ids` are on disk and the entries are marked written,
    /// with `lease` given back in the same transaction.
    pub(super) fn flush_and_mark(
        &self,
        ids: &[i64],
        lease: Option<HeldLease<'_>>,
    ) -> Result<(), PipelineError> {
        let owned_lease = lease.map(|l| (l.feed.to_string(), l.holder.to_string()));
        match self.record_in_group(ids.to_vec(), owned_lease)? {
            Recorded::Done => Ok(()),
            // Recorded alone, so that this feed's report carries its own error.
            Recorded::GroupFailed => {
                if !ids.is_empty() {
                    self.flush.flush(&self.config.output.dir)?;
                }
                let lease: Vec<HeldLease<'_>> = lease.into_iter().collect();
                self.store().mark_written(ids, Utc::now(), &lease)?;
                Ok(())
            }
        }
    }

    fn record_in_group(
        &self,
        ids: Vec<i64>,
        lease: Option<(String, String)>,
    ) -> Result<Recorded, PipelineError> {
        let marks = &self.marks;
        let ticket = {
            let mut queue = locked(&marks.queue);
            queue.last_ticket += 1;
            let ticket = queue.last_ticket;
            queue.waiting.push(Batch { ticket, ids, lease });
            ticket
        };
        let _recording = locked(&marks.recording);
        let group = {
            let mut queue = locked(&marks.queue);
            if queue.taken_up_to >= ticket {
                // A group recorded while this thread waited took the batch.
                return Ok(if queue.failed.remove(&ticket) {
                    Recorded::GroupFailed
                } else {
                    Recorded::Done
                });
            }
            queue.taken_up_to = queue.last_ticket;
            std::mem::take(&mut queue.waiting)
        };
        let result = self.record_group(&group);
        if result.is_err() {
            let mut queue = locked(&marks.queue);
            queue.failed.extend(
                group
                    .iter()
                    .map(|batch| batch.ticket)
                    .filter(|&other| other != ticket),
            );
        }
        result.map(|()| Recorded::Done)
    }

    /// One flush for the files of every batch, then one transaction for their marks.
    fn record_group(&self, group: &[Batch]) -> Result<(), PipelineError> {
        let ids: Vec<i64> = group
            .iter()
            .flat_map(|batch| batch.ids.iter().copied())
            .collect();
        if !ids.is_empty() {
            sync_filesystem(&self.config.output.dir).inspect_err(|error| {
                tracing::warn!(error = %crate::error::ErrorChain(error), "articles left pending: could not flush them to disk");
            })?;
        }
        let leases: Vec<HeldLease<'_>> = group
            .iter()
            .filter_map(|batch| batch.lease.as_ref())
            .map(|(feed, holder)| HeldLease { feed, holder })
            .collect();
        self.store().mark_written(&ids, Utc::now(), &leases)?;
        Ok(())
    }
}
