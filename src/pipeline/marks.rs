//! The end of a feed's pass, shared with the feeds that end at the same moment: their
//! files flushed with one `syncfs` and their entries marked written (their leases given
//! back) in one transaction.
//!
//! A cold pass of 200 feeds ended in 200 transactions of a few pages each (the feeds
//! table's page among them, every time) after a handful of shared flushes. Now a feed
//! queues its batch and waits without holding a thread: one recorder on the blocking pool
//! flushes and records everything queued, then whatever was queued meanwhile, until the
//! queue is empty. No entry is marked before the flush that holds its file has ended.
//!
//! The wait used to be a blocking call: with the blocking pool's four threads all inside
//! a `syncfs` or waiting for the one that was, no feed could be parsed or converted, and
//! a cold pass of 200 × 50 stood still for about a sixth of its time (no sample of the
//! process in `perf` for 50–150 ms at a time, each time the disk was flushed).

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use chrono::Utc;
use tokio::sync::oneshot;

use super::{Pipeline, PipelineError};
use crate::store::HeldLease;

/// Batches of written entries waiting to be flushed and marked.
#[derive(Debug, Default)]
pub struct WrittenMarks {
    queue: Mutex<MarkQueue>,
}

#[derive(Debug, Default)]
struct MarkQueue {
    /// Batches queued and not yet taken by the recorder.
    waiting: Vec<Batch>,
    /// A recorder is running and will take what is queued.
    recording: bool,
}

/// One feed's written entries and the lease to give back with them.
#[derive(Debug)]
struct Batch {
    ids: Vec<i64>,
    /// The feed whose lease goes back, and the holder's name.
    lease: (String, String),
    /// Told whether the group holding the batch was recorded.
    recorded: oneshot::Sender<bool>,
}

fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every change under this lock is a push or a take of plain data: a thread that
    // panicked while holding it left it whole.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Ends the recorder's turn if it panics, so that the next batch starts a new recorder
/// and the batches it held are told (their senders dropped) instead of waiting forever.
struct RecorderTurn<'a>(&'a WrittenMarks);

impl Drop for RecorderTurn<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let mut queue = locked(&self.0.queue);
            queue.recording = false;
            queue.waiting.clear();
        }
    }
}

impl Pipeline {
    /// Flushes the files of `ids` to disk and marks the entries written, with `lease`
    /// given back in the same transaction: for writes outside a feed's pass (`tidings
    /// render`, pending entries of an earlier run), whose flushes are shared through
    /// [`crate::output::SharedFlush`].
    pub(super) fn flush_and_mark(
        &self,
        ids: &[i64],
        lease: Option<HeldLease<'_>>,
    ) -> Result<(), PipelineError> {
        if !ids.is_empty() {
            self.flush.flush(&self.config.output.dir)?;
        }
        let lease: Vec<HeldLease<'_>> = lease.into_iter().collect();
        self.store().mark_written(ids, Utc::now(), &lease)?;
        Ok(())
    }

    /// Returns once the files of `ids` are on disk and the entries are marked written,
    /// with `feed`'s lease given back in the same transaction, recorded in one group with
    /// the batches of the feeds that end meanwhile. Waits without holding a thread.
    pub(super) async fn mark_in_group(
        self: &Arc<Self>,
        ids: Vec<i64>,
        feed: &str,
    ) -> Result<(), PipelineError> {
        let lease = (feed.to_string(), self.holder.clone());
        let (sender, receiver) = oneshot::channel();
        let start_recorder = {
            let mut queue = locked(&self.marks.queue);
            queue.waiting.push(Batch {
                ids: ids.clone(),
                lease: lease.clone(),
                recorded: sender,
            });
            !std::mem::replace(&mut queue.recording, true)
        };
        if start_recorder {
            let pipeline = Arc::clone(self);
            // Not awaited: the recorder tells each batch through its channel.
            drop(tokio::task::spawn_blocking(move || {
                pipeline.record_queued();
            }));
        }
        match receiver.await {
            Ok(true) => Ok(()),
            // The group failed (or its recorder did): recorded alone, so that this feed's
            // report carries its own error.
            Ok(false) | Err(_) => {
                self.blocking(move |p| {
                    let (feed, holder) = &lease;
                    p.flush_and_mark(&ids, Some(HeldLease { feed, holder }))
                })
                .await
            }
        }
    }

    /// The recorder: takes the queued batches as one group, flushes and records them, and
    /// again until nothing is queued.
    fn record_queued(&self) {
        let _turn = RecorderTurn(&self.marks);
        loop {
            let group = {
                let mut queue = locked(&self.marks.queue);
                if queue.waiting.is_empty() {
                    queue.recording = false;
                    return;
                }
                std::mem::take(&mut queue.waiting)
            };
            let recorded = self.record_group(&group).is_ok();
            for batch in group {
                // A batch whose feed stopped waiting has nobody to tell.
                let _ = batch.recorded.send(recorded);
            }
        }
    }

    /// One flush for the files of every batch, then one transaction for their marks.
    fn record_group(&self, group: &[Batch]) -> Result<(), PipelineError> {
        let ids: Vec<i64> = group
            .iter()
            .flat_map(|batch| batch.ids.iter().copied())
            .collect();
        if !ids.is_empty() {
            self.flush.flush(&self.config.output.dir).inspect_err(|error| {
                tracing::warn!(error = %crate::error::ErrorChain(error), "articles left pending: could not flush them to disk");
            })?;
        }
        let leases: Vec<HeldLease<'_>> = group
            .iter()
            .map(|batch| HeldLease {
                feed: &batch.lease.0,
                holder: &batch.lease.1,
            })
            .collect();
        self.store().mark_written(&ids, Utc::now(), &leases)?;
        Ok(())
    }
}
