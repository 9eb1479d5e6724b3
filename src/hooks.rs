//! Telling the next tool: after a pass that wrote or rewrote files, run the configured
//! command (`hooks.after_pass`) with the paths on its stdin, and POST the articles to
//! `hooks.webhook`, signed.
//!
//! Neither can lose or rewrite an article: both run after the files are written and
//! marked written. A hook that fails or hangs is logged and recorded for `tidings status`;
//! one that runs too long is killed with its whole process group. In the daemon
//! ([`HookRunner`]) at most one command runs at a time, and the passes that finish while
//! it runs are folded into one more run; the webhook has its own queue, so a slow
//! receiver never holds up a pass.

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use crate::config::HooksConfig;
use crate::error::ErrorChain;
use crate::fetch::FetchError;
use crate::pipeline::{Pipeline, WrittenArticle};

/// The name `status` shows for the command hook.
pub const AFTER_PASS: &str = "after_pass";
/// The name `status` shows for the webhook.
pub const WEBHOOK: &str = "webhook";

/// The most output of a hook kept for the log.
const MAX_OUTPUT_BYTES: usize = 16 * 1024;

/// Attempts of one webhook delivery, and the first wait between them (doubling).
const WEBHOOK_ATTEMPTS: u32 = 4;
const WEBHOOK_FIRST_BACKOFF: Duration = Duration::from_secs(1);

/// Why a hook did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    /// The program could not be started.
    #[error("cannot start {program:?}")]
    Start {
        /// `after_pass[0]`.
        program: String,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// It ran longer than `hooks.timeout_secs` and was killed.
    #[error("killed after {0:?} (hooks.timeout_secs)")]
    TimedOut(Duration),
    /// It exited with a failure.
    #[error("exited with {status}: {stderr}")]
    Failed {
        /// How it ended.
        status: std::process::ExitStatus,
        /// The end of what it wrote on stderr.
        stderr: String,
    },
    /// Waiting for it failed.
    #[error("lost track of the hook")]
    Wait(#[source] std::io::Error),
    /// The webhook request failed.
    #[error("webhook request failed")]
    Request(#[source] FetchError),
    /// The webhook answered with an error status.
    #[error("webhook answered HTTP {0}")]
    Status(u16),
}

/// Runs `hooks.after_pass` once for `files`: paths on stdin, one per line;
/// `TIDINGS_NEW` and `TIDINGS_UPDATED` (counts) in its environment.
pub async fn run_command(hooks: &HooksConfig, files: &[WrittenArticle]) -> Result<(), HookError> {
    let Some((program, args)) = hooks.after_pass.split_first() else {
        return Ok(());
    };
    let updated = files.iter().filter(|f| f.updated).count();
    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .env("TIDINGS_NEW", (files.len() - updated).to_string())
        .env("TIDINGS_UPDATED", updated.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so a timeout kills whatever it started too.
        .process_group(0)
        .kill_on_drop(true);
    let mut child = command.spawn().map_err(|source| HookError::Start {
        program: program.clone(),
        source,
    })?;
    // If this run is abandoned (the daemon stops) or times out, the whole group goes.
    let mut group = ProcessGroup(child.id().and_then(|id| i32::try_from(id).ok()));
    let mut paths = String::new();
    for file in files {
        paths.push_str(&file.path.to_string_lossy());
        paths.push('\n');
    }
    let stdin = child.stdin.take();
    // A hook that does not read its stdin must not block on a full pipe, nor fail us.
    let feed = tokio::spawn(async move {
        if let Some(mut stdin) = stdin {
            let _ = stdin.write_all(paths.as_bytes()).await;
        }
    });
    let stdout = tokio::spawn(read_capped(child.stdout.take()));
    let stderr = tokio::spawn(read_capped(child.stderr.take()));
    let status = match tokio::time::timeout(hooks.timeout, child.wait()).await {
        Ok(status) => status.map_err(HookError::Wait)?,
        Err(_) => {
            group.kill();
            let _ = child.kill().await;
            feed.abort();
            return Err(HookError::TimedOut(hooks.timeout));
        }
    };
    // It ended by itself; what it left running in its group is its own business.
    group.0 = None;
    feed.abort();
    let stdout = stdout.await.unwrap_or_default();
    let stderr = stderr.await.unwrap_or_default();
    for line in stdout.lines().filter(|l| !l.trim().is_empty()) {
        tracing::info!(hook = AFTER_PASS, "{line}");
    }
    for line in stderr.lines().filter(|l| !l.trim().is_empty()) {
        tracing::warn!(hook = AFTER_PASS, "{line}");
    }
    if status.success() {
        Ok(())
    } else {
        Err(HookError::Failed {
            status,
            stderr: last_line(&stderr),
        })
    }
}

/// A hook's process group, killed when dropped unless it ended by itself.
struct ProcessGroup(Option<i32>);

impl ProcessGroup {
    fn kill(&mut self) {
        if let Some(group) = self.0.take() {
            // SAFETY: killpg only sends a signal, to the group the hook leads.
            unsafe {
                libc::killpg(group, libc::SIGKILL);
            }
        }
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn read_capped(pipe: Option<impl AsyncRead + Unpin>) -> String {
    let Some(pipe) = pipe else {
        return String::new();
    };
    let mut kept = Vec::new();
    // Read to the end (so the hook never blocks on a full pipe), keep the first bytes.
    let mut limited = pipe.take(64 * MAX_OUTPUT_BYTES as u64);
    let _ = limited.read_to_end(&mut kept).await;
    kept.truncate(MAX_OUTPUT_BYTES);
    String::from_utf8_lossy(&kept).into_owned()
}

fn last_line(text: &str) -> String {
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .chars()
        .take(300)
        .collect()
}

/// The webhook's body: the new and updated articles.
#[derive(serde::Serialize)]
struct WebhookBody<'a> {
    event: &'static str,
    articles: &'a [WrittenArticle],
}

/// The `X-Tidings-Signature` of `body`: hex HMAC-SHA256 under `secret`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(body);
    crate::article::hex(&mac.finalize().into_bytes())
}

/// POSTs `files` to `hooks.webhook`, retrying network errors, 429 and 5xx with a doubling
/// wait; other answers are final.
pub async fn post_webhook(
    pipeline: &Pipeline,
    hooks: &HooksConfig,
    files: &[WrittenArticle],
) -> Result<(), HookError> {
    let Some(url) = &hooks.webhook else {
        return Ok(());
    };
    let body = serde_json::to_vec(&WebhookBody {
        event: "articles",
        articles: files,
    })
    .unwrap_or_default();
    let mut headers = vec![("Content-Type".to_string(), "application/json".to_string())];
    if let Some(secret) = &hooks.secret {
        headers.push(("X-Tidings-Signature".to_string(), signature(secret, &body)));
    }
    let mut wait = WEBHOOK_FIRST_BACKOFF;
    let mut attempt = 1;
    loop {
        let result = pipeline.fetcher().post(url, body.clone(), &headers).await;
        let retry = match &result {
            Ok(status) if (200..300).contains(status) => return Ok(()),
            Ok(status) => *status == 429 || *status >= 500,
            Err(_) => true,
        };
        if !retry || attempt >= WEBHOOK_ATTEMPTS {
            return Err(match result {
                Ok(status) => HookError::Status(status),
                Err(error) => HookError::Request(error),
            });
        }
        tracing::info!(hook = WEBHOOK, attempt, "webhook delivery failed; retrying");
        tokio::time::sleep(wait).await;
        wait *= 2;
        attempt += 1;
    }
}

/// Runs both hooks for `files` (a one-shot `fetch`) and records how they ended.
pub async fn run_once(pipeline: &Arc<Pipeline>, files: &[WrittenArticle]) {
    if files.is_empty() {
        return;
    }
    let hooks = &pipeline.config().hooks;
    let command = async {
        if !hooks.after_pass.is_empty() {
            let result = run_command(hooks, files).await;
            record(pipeline, AFTER_PASS, files.len(), result).await;
        }
    };
    let webhook = async {
        if hooks.webhook.is_some() {
            let result = post_webhook(pipeline, hooks, files).await;
            record(pipeline, WEBHOOK, files.len(), result).await;
        }
    };
    tokio::join!(command, webhook);
}

/// Logs a hook's end and stores it for `status`.
async fn record(
    pipeline: &Arc<Pipeline>,
    name: &'static str,
    files: usize,
    result: Result<(), HookError>,
) {
    let detail = match &result {
        Ok(()) => {
            tracing::info!(hook = name, files, "hook done");
            format!("{files} file(s)")
        }
        Err(error) => {
            let detail = ErrorChain(error).to_string();
            tracing::error!(hook = name, files, error = %detail, "hook failed");
            detail
        }
    };
    let ok = result.is_ok();
    let stored = pipeline
        .with_store(move |store| store.record_hook(name, Utc::now(), ok, &detail))
        .await;
    if let Err(error) = stored {
        tracing::warn!(hook = name, error = %ErrorChain(&error), "could not record the hook's run");
    }
}

/// The daemon's hooks: one queue per hook, each drained by its own task.
pub struct HookRunner {
    command: mpsc::UnboundedSender<(Arc<Pipeline>, Vec<WrittenArticle>)>,
    webhook: mpsc::UnboundedSender<(Arc<Pipeline>, Vec<WrittenArticle>)>,
}

impl HookRunner {
    /// Starts the two queues' tasks.
    pub fn start() -> HookRunner {
        HookRunner {
            command: spawn_queue(AFTER_PASS),
            webhook: spawn_queue(WEBHOOK),
        }
    }

    /// Hands a finished pass's files to the hooks its configuration names; returns at
    /// once.
    pub fn after_pass(&self, pipeline: &Arc<Pipeline>, files: &[WrittenArticle]) {
        if files.is_empty() {
            return;
        }
        let hooks = &pipeline.config().hooks;
        if !hooks.after_pass.is_empty() {
            let _ = self.command.send((Arc::clone(pipeline), files.to_vec()));
        }
        if hooks.webhook.is_some() {
            let _ = self.webhook.send((Arc::clone(pipeline), files.to_vec()));
        }
    }
}

/// A task that runs one hook at a time; what arrives while it runs is folded into the
/// next run (with the newest configuration).
fn spawn_queue(name: &'static str) -> mpsc::UnboundedSender<(Arc<Pipeline>, Vec<WrittenArticle>)> {
    let (sender, mut receiver) = mpsc::unbounded_channel::<(Arc<Pipeline>, Vec<WrittenArticle>)>();
    tokio::spawn(async move {
        while let Some((mut pipeline, mut files)) = receiver.recv().await {
            while let Ok((newer, more)) = receiver.try_recv() {
                pipeline = newer;
                files.extend(more);
            }
            let hooks = pipeline.config().hooks.clone();
            let result = if name == AFTER_PASS {
                run_command(&hooks, &files).await
            } else {
                post_webhook(&pipeline, &hooks, &files).await
            };
            record(&pipeline, name, files.len(), result).await;
        }
    });
    sender
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_the_hex_hmac_sha256_of_the_body() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
