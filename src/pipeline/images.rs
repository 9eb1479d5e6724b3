//! Images kept with the article (`output.images = "local"`): after the claim and before
//! the files are written, the images of the feed's pending articles are downloaded
//! (under the per-host limit, the fetch timeouts and the size caps, private networks as
//! the feed allows), checked to be images by their bytes, and written through
//! `write_atomic` under their content digest. The articles are written after, so an
//! article never points at an image that is not on disk; an image that fails keeps its
//! remote link, and the failure is recorded (status counts it).

use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;

use super::{FeedError, Pipeline};
use crate::config::FeedConfig;
use crate::error::ErrorChain;
use crate::fetch::{FetchStatus, Request, Validators};
use crate::images::{ImageKind, image_file_name, image_folder, image_urls, sniff};
use crate::output::write_atomic;
use crate::store::images::StoredImage;

/// What the image stage of one pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ImageReport {
    /// Images downloaded and kept (or copied into a new page bundle).
    pub kept: usize,
    /// Images left remote: URL and reason.
    pub failed: Vec<(String, String)>,
}

impl Pipeline {
    /// Keeps the images of `feed`'s pending articles.
    pub(super) async fn keep_images(
        self: &Arc<Self>,
        feed: &FeedConfig,
    ) -> Result<ImageReport, FeedError> {
        let mut report = ImageReport::default();
        let name = feed.name.clone();
        let pending = self
            .with_store(move |store| store.pending(Some(&name)))
            .await?;
        // Leave time for the rest of the pass within the feed's lease.
        let deadline = Instant::now() + self.lease_ttl() / 2;
        let output = &self.config.output;
        for entry in pending {
            let folder = image_folder(&entry.path, &output.images_dir);
            let mut budget = output.images_max_article_bytes;
            for url in image_urls(&entry.article.body) {
                let known = {
                    let url = url.clone();
                    self.with_store(move |store| store.image(&url)).await?
                };
                // A failed URL is not tried again; a kept one only needs a copy here.
                let nothing_to_fetch = match known {
                    Some(StoredImage::Failed(_)) => true,
                    Some(StoredImage::Kept(file)) => self.place_known_image(&file, &folder).await,
                    None => false,
                };
                if nothing_to_fetch {
                    continue;
                }
                if Instant::now() >= deadline {
                    report
                        .failed
                        .push((url, "no time left in this pass".to_string()));
                    continue;
                }
                let outcome = match self.download_image(&url, feed, budget).await {
                    Ok((bytes, kind)) => {
                        budget = budget.saturating_sub(bytes.len() as u64);
                        self.store_image(bytes, kind, &folder).await
                    }
                    Err(reason) => Err(reason),
                };
                let stored = match outcome {
                    Ok(file) => {
                        report.kept += 1;
                        StoredImage::Kept(file)
                    }
                    Err(reason) => {
                        tracing::info!(feed = %feed.name, url = %url, reason = %reason, "image left remote");
                        report.failed.push((url.clone(), reason.clone()));
                        StoredImage::Failed(reason)
                    }
                };
                let (url, feed_name) = (url.clone(), feed.name.clone());
                self.with_store(move |store| {
                    store.record_image(&url, &feed_name, &stored, Utc::now())
                })
                .await?;
            }
        }
        Ok(report)
    }

    /// An image kept before: true when a copy is (now) in `folder`, copied from the one
    /// kept (a page bundle needs its own).
    async fn place_known_image(&self, file: &str, folder: &std::path::Path) -> bool {
        let dir = self.config.output.dir.clone();
        let kept = std::path::PathBuf::from(file);
        let Some(name) = kept.file_name() else {
            return false;
        };
        let target = folder.join(name);
        if dir.join(&target).is_file() {
            return true;
        }
        let copied = tokio::task::spawn_blocking(move || {
            let bytes = std::fs::read(dir.join(&kept)).ok()?;
            write_atomic(&dir, &target, &bytes).ok()
        })
        .await;
        matches!(copied, Ok(Some(())))
    }

    /// The bytes of the image at `url` and what they are, or why it is not kept.
    async fn download_image(
        &self,
        url: &str,
        feed: &FeedConfig,
        budget: u64,
    ) -> Result<(Vec<u8>, ImageKind), String> {
        let parsed = url::Url::parse(url).map_err(|e| format!("not a URL: {e}"))?;
        let _permit = self.host_permit(&parsed).await;
        let request = Request {
            headers: &[],
            allow_private_networks: feed.allow_private_networks,
        };
        let outcome = self
            .fetcher
            .fetch(&parsed, &Validators::default(), &request)
            .await
            .map_err(|e| ErrorChain(&e).to_string())?;
        let FetchStatus::Fetched(document) = outcome.status else {
            return Err("the server answered 304 to a plain GET".to_string());
        };
        let bytes = document.body;
        let limits = &self.config.output;
        if bytes.len() as u64 > limits.images_max_bytes {
            return Err(format!(
                "{} bytes, larger than output.images_max_bytes ({})",
                bytes.len(),
                limits.images_max_bytes
            ));
        }
        if bytes.len() as u64 > budget {
            return Err("the article's images reached output.images_max_article_bytes".to_string());
        }
        let kind = sniff(&bytes).map_err(|e| e.to_string())?;
        Ok((bytes, kind))
    }

    /// Writes `bytes` into `folder` under their digest (once); returns the path.
    async fn store_image(
        &self,
        bytes: Vec<u8>,
        kind: ImageKind,
        folder: &std::path::Path,
    ) -> Result<String, String> {
        let target = folder.join(image_file_name(&bytes, kind));
        let dir = self.config.output.dir.clone();
        let path = target.clone();
        tokio::task::spawn_blocking(move || {
            if dir.join(&path).is_file() {
                return Ok(());
            }
            write_atomic(&dir, &path, &bytes)
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| ErrorChain(&e).to_string())?;
        Ok(target.to_string_lossy().replace('\\', "/"))
    }
}
