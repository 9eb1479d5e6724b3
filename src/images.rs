//! Images kept with the article (`output.images = "local"`): what a downloaded file really
//! is (sniffed from its bytes, not its header), what it is called (its content digest, so
//! an image many articles use is one file), where it goes (beside a page bundle's
//! `index.md`, else in `output.images_dir`), and the body with its image links pointing
//! there. Pure functions; the downloads are in `pipeline/images.rs`.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::sync::LazyLock;

use sha2::{Digest, Sha256};

/// The image formats kept: what browsers and Hugo show. SVG is refused (it can carry
/// scripts and external references), as is anything that is not an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageKind {
    /// PNG.
    Png,
    /// JPEG.
    Jpeg,
    /// GIF.
    Gif,
    /// WebP.
    Webp,
    /// AVIF.
    Avif,
}

impl ImageKind {
    /// The file extension.
    pub fn extension(self) -> &'static str {
        match self {
            ImageKind::Png => "png",
            ImageKind::Jpeg => "jpg",
            ImageKind::Gif => "gif",
            ImageKind::Webp => "webp",
            ImageKind::Avif => "avif",
        }
    }
}

/// Why downloaded bytes are not kept as an image.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotAnImage {
    /// An SVG document.
    #[error("SVG is not kept (it can carry scripts); the remote link stays")]
    Svg,
    /// An HTML page (an error page, a login wall).
    #[error("not an image: an HTML page")]
    Html,
    /// Bytes of no image format tidings keeps.
    #[error("not an image tidings keeps (PNG, JPEG, GIF, WebP, AVIF)")]
    Unknown,
}

/// What `bytes` are, from their first bytes.
pub fn sniff(bytes: &[u8]) -> Result<ImageKind, NotAnImage> {
    let starts = |magic: &[u8]| bytes.starts_with(magic);
    if starts(b"\x89PNG\r\n\x1a\n") {
        return Ok(ImageKind::Png);
    }
    if starts(&[0xFF, 0xD8, 0xFF]) {
        return Ok(ImageKind::Jpeg);
    }
    if starts(b"GIF87a") || starts(b"GIF89a") {
        return Ok(ImageKind::Gif);
    }
    if starts(b"RIFF") && bytes.get(8..12) == Some(b"WEBP") {
        return Ok(ImageKind::Webp);
    }
    if bytes.get(4..8) == Some(b"ftyp") && matches!(bytes.get(8..12), Some(b"avif" | b"avis")) {
        return Ok(ImageKind::Avif);
    }
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(1024)]).to_ascii_lowercase();
    let head = head.trim_start_matches('\u{feff}').trim_start();
    if head.contains("<svg") {
        return Err(NotAnImage::Svg);
    }
    if head.starts_with("<!doctype html") || head.starts_with("<html") || head.contains("<body") {
        return Err(NotAnImage::Html);
    }
    Err(NotAnImage::Unknown)
}

/// The file name of an image: the first 16 hex digits of its content digest and its
/// extension. The same bytes always get the same name.
pub fn image_file_name(bytes: &[u8], kind: ImageKind) -> String {
    let digest = crate::article::hex(&Sha256::digest(bytes));
    format!("{}.{}", &digest[..16], kind.extension())
}

/// Whether an article path is a Hugo page bundle (`…/index.md`): its images go beside it.
pub fn is_page_bundle(article: &Path) -> bool {
    article
        .file_name()
        .is_some_and(|name| name == "index.md" || name == "_index.md")
}

/// Where the images of the article at `article` go (relative to the output folder).
pub fn image_folder(article: &Path, images_dir: &Path) -> PathBuf {
    if is_page_bundle(article) {
        article.parent().map(Path::to_path_buf).unwrap_or_default()
    } else {
        images_dir.to_path_buf()
    }
}

/// The link from the article at `article` to the file at `file` (both relative to the
/// output folder), with `/` separators.
pub fn relative_link(article: &Path, file: &Path) -> String {
    let from: Vec<Component<'_>> = article
        .parent()
        .map(|p| p.components().collect())
        .unwrap_or_default();
    let to: Vec<Component<'_>> = file.components().collect();
    let shared = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<String> = vec!["..".to_string(); from.len() - shared];
    parts.extend(
        to[shared..]
            .iter()
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    parts.join("/")
}

static IMAGE: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(r"(!\[(?:[^\]\\]|\\.)*\]\()(?:<([^>]*)>|([^)\s]+))")
        .unwrap_or_else(|e| unreachable!("a valid pattern: {e}"))
});

/// The destinations of a markdown body's images, in order, each once.
pub fn image_destinations(body: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    for image in IMAGE.captures_iter(body) {
        if let Some(url) = image.get(2).or_else(|| image.get(3))
            && !found.iter().any(|u| u == url.as_str())
        {
            found.push(url.as_str().to_string());
        }
    }
    found
}

/// The http(s) image URLs of a markdown body, in order, each once: what can be kept.
pub fn image_urls(body: &str) -> Vec<String> {
    image_destinations(body)
        .into_iter()
        .filter(|url| url.starts_with("https://") || url.starts_with("http://"))
        .collect()
}

/// `body` with every image (`![alt](destination)`) replaced by a space.
pub fn without_images(body: &str) -> std::borrow::Cow<'_, str> {
    static WHOLE_IMAGE: LazyLock<regex::Regex> = LazyLock::new(|| {
        regex::Regex::new(&format!(r#"{}(?:\s+"[^"]*")?\)"#, IMAGE.as_str()))
            .unwrap_or_else(|e| unreachable!("a valid pattern: {e}"))
    });
    WHOLE_IMAGE.replace_all(body, " ")
}

/// `body` with the destinations of its images replaced by `local` (URL -> link).
pub fn rewrite_image_links(body: &str, local: &HashMap<String, String>) -> String {
    if local.is_empty() {
        return body.to_string();
    }
    IMAGE
        .replace_all(body, |found: &regex::Captures<'_>| {
            let url = found
                .get(2)
                .or_else(|| found.get(3))
                .map_or("", |m| m.as_str());
            match local.get(url) {
                Some(link) => format!(
                    "{}{}",
                    &found[1],
                    crate::article::markdown::markdown_link_destination(link)
                ),
                None => found[0].to_string(),
            }
        })
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_say_what_a_file_is() {
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n...."), Ok(ImageKind::Png));
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0]), Ok(ImageKind::Jpeg));
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 "), Ok(ImageKind::Webp));
        assert_eq!(sniff(b"\0\0\0\x1cftypavif"), Ok(ImageKind::Avif));
        assert_eq!(
            sniff(b"<?xml version=\"1.0\"?><svg onload=\"x\"/>"),
            Err(NotAnImage::Svg)
        );
        assert_eq!(
            sniff(b"  <!DOCTYPE html><html><body>"),
            Err(NotAnImage::Html)
        );
        assert_eq!(sniff(b"hello"), Err(NotAnImage::Unknown));
    }

    #[test]
    fn links_are_relative_to_the_article() {
        let article = Path::new("blog/2024/2024-07-09-post.md");
        assert_eq!(
            relative_link(article, Path::new("images/ab.png")),
            "../../images/ab.png"
        );
        let bundle = Path::new("blog/post/index.md");
        assert_eq!(
            image_folder(bundle, Path::new("images")),
            Path::new("blog/post")
        );
        assert_eq!(
            relative_link(bundle, Path::new("blog/post/ab.png")),
            "ab.png"
        );
    }

    #[test]
    fn image_links_are_found_and_rewritten() {
        let body = "Text ![a](https://x.example/a.png) and ![b \\] c](<https://x.example/b c.png>) and ![d](/rel.png) [not](https://x.example/a.png)";
        assert_eq!(
            image_urls(body),
            vec!["https://x.example/a.png", "https://x.example/b c.png"]
        );
        let local = HashMap::from([
            (
                "https://x.example/a.png".to_string(),
                "../images/1.png".to_string(),
            ),
            ("https://x.example/b c.png".to_string(), "2.png".to_string()),
        ]);
        assert_eq!(
            rewrite_image_links(body, &local),
            "Text ![a](../images/1.png) and ![b \\] c](2.png) and ![d](/rel.png) [not](https://x.example/a.png)"
        );
    }
}
