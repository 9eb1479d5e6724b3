//! Where articles go on disk: the path template, slugs, and atomic writes.
//!
//! Only values that were made safe (validated feed names, digits, slugs of letters, digits
//! and hyphens) are substituted into a template that was checked to be relative and free of
//! `..`, so no feed can make tidings write outside its output folder.

use std::collections::HashSet;
use std::fmt;
use std::io::Write;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use chrono::{DateTime, Datelike};
use chrono_tz::Tz;

use crate::runtime::process_is_alive;

/// The longest slug, in bytes, so that a path component stays well under the 255-byte
/// limit of common file systems whatever the script.
const MAX_SLUG_BYTES: usize = 96;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Literal(String),
    Feed,
    Year,
    Month,
    Day,
    Date,
    Slug,
    Id,
}

/// A validated output path template such as `{feed}/{year}/{date}-{slug}.md`.
#[derive(Clone, PartialEq, Eq)]
pub struct PathTemplate {
    text: String,
    pieces: Vec<Piece>,
    /// The file name is fixed (`{slug}/index.md`, a Hugo page bundle): the folder tells
    /// articles apart, and a collision suffix goes on the folder.
    unique_in_folder: bool,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
/// Why a path template was refused.
pub enum TemplateError {
    #[error("the path template is empty")]
    /// Nothing but white space.
    Empty,
    #[error("the path template {0:?} must be relative to the output folder")]
    /// The template starts at the root.
    Absolute(String),
    #[error("the path template {0:?} has an empty, '.' or '..' folder")]
    /// A folder is empty, `.` or `..`.
    BadComponent(String),
    #[error("the path template {0:?} uses a backslash; separate folders with '/'")]
    /// A backslash where folders should be separated by `/`.
    Backslash(String),
    #[error(
        "unknown placeholder {{{placeholder}}} in path template {template:?} (known: {{feed}} {{year}} {{month}} {{day}} {{date}} {{slug}} {{id}})"
    )]
    /// A `{name}` tidings does not know.
    UnknownPlaceholder {
        /// The template.
        template: String,
        /// The unknown name.
        placeholder: String,
    },
    #[error("unclosed '{{' in path template {0:?}")]
    /// A `{` that is never closed.
    Unclosed(String),
    #[error(
        "the path template {0:?} must contain {{slug}} or {{id}} in its file name (or, for a page bundle such as {{slug}}/index.md, in the folder holding it) so articles get their own files"
    )]
    /// Neither the file name nor (a page bundle) its folder has `{slug}` or `{id}`, so
    /// articles would share one file.
    NoUniquePart(String),
}

impl PathTemplate {
    /// Checks `text` and splits it into literal text and placeholders.
    pub fn parse(text: &str) -> Result<PathTemplate, TemplateError> {
        if text.trim().is_empty() {
            return Err(TemplateError::Empty);
        }
        if text.contains('\\') {
            return Err(TemplateError::Backslash(text.into()));
        }
        if text.starts_with('/') || Path::new(text).is_absolute() {
            return Err(TemplateError::Absolute(text.into()));
        }
        if text
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..")
        {
            return Err(TemplateError::BadComponent(text.into()));
        }
        let mut pieces = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                pieces.push(Piece::Literal(rest[..open].to_string()));
            }
            let after = &rest[open + 1..];
            let close = after
                .find('}')
                .ok_or_else(|| TemplateError::Unclosed(text.into()))?;
            let piece = match &after[..close] {
                "feed" => Piece::Feed,
                "year" => Piece::Year,
                "month" => Piece::Month,
                "day" => Piece::Day,
                "date" => Piece::Date,
                "slug" => Piece::Slug,
                "id" => Piece::Id,
                other => {
                    return Err(TemplateError::UnknownPlaceholder {
                        template: text.into(),
                        placeholder: other.into(),
                    });
                }
            };
            pieces.push(piece);
            rest = &after[close + 1..];
        }
        if !rest.is_empty() {
            pieces.push(Piece::Literal(rest.to_string()));
        }
        let unique = |part: &str| part.contains("{slug}") || part.contains("{id}");
        let mut components = text.rsplit('/');
        let file_name = components.next().unwrap_or(text);
        let unique_in_folder = !unique(file_name);
        if unique_in_folder && !components.next().is_some_and(unique) {
            return Err(TemplateError::NoUniquePart(text.into()));
        }
        Ok(PathTemplate {
            text: text.to_string(),
            pieces,
            unique_in_folder,
        })
    }

    /// The relative path of one article.
    pub fn render(&self, feed: &str, date: &DateTime<Tz>, slug: &str, id: &str) -> PathBuf {
        use fmt::Write as _;
        let mut out = String::with_capacity(self.text.len() + slug.len() + 16);
        // Numbers written straight into the path (writing into a String cannot fail):
        // a `format!` per placeholder and chrono's format string read again for every
        // article were half of choosing an article's path.
        for piece in &self.pieces {
            match piece {
                Piece::Literal(text) => out.push_str(text),
                Piece::Feed => out.push_str(feed),
                Piece::Year => {
                    let _ = write!(out, "{:04}", date.year());
                }
                Piece::Month => {
                    let _ = write!(out, "{:02}", date.month());
                }
                Piece::Day => {
                    let _ = write!(out, "{:02}", date.day());
                }
                Piece::Date => push_date(&mut out, date),
                Piece::Slug => out.push_str(slug),
                Piece::Id => out.push_str(id),
            }
        }
        // Most paths have no empty and no reserved component: taken as written, without
        // a string per component.
        if out
            .split('/')
            .all(|component| !component.is_empty() && !is_reserved_name(component))
        {
            return PathBuf::from(out);
        }
        out.split('/').map(avoid_reserved_name).collect()
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Debug for PathTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PathTemplate({:?})", self.text)
    }
}

/// `date` as `%Y-%m-%d` (four-digit years written without chrono's format machinery;
/// chrono writes other years with a sign).
fn push_date(out: &mut String, date: &DateTime<Tz>) {
    use fmt::Write as _;
    let year = date.year();
    let _ = if (0..=9999).contains(&year) {
        write!(out, "{year:04}-{:02}-{:02}", date.month(), date.day())
    } else {
        write!(out, "{}", date.format("%Y-%m-%d"))
    };
}

/// The names Windows refuses whatever the extension.
const RESERVED_NAMES: &[&str] = &[
    "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8",
    "COM9", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
];

/// The part of a path component before its first dot.
fn stem_of(component: &str) -> &str {
    component.split('.').next().unwrap_or(component)
}

/// Whether Windows refuses `component` as a file or folder name.
fn is_reserved_name(component: &str) -> bool {
    let stem = stem_of(component);
    matches!(stem.len(), 3 | 4) && RESERVED_NAMES.iter().any(|r| r.eq_ignore_ascii_case(stem))
}

/// Windows refuses these names whatever the extension; a suffix keeps the files portable.
fn avoid_reserved_name(component: &str) -> String {
    if is_reserved_name(component) {
        let stem = stem_of(component);
        format!("{stem}_{}", &component[stem.len()..])
    } else {
        component.to_string()
    }
}

/// A file-name-safe slug: lowercase letters and digits of any script, runs of anything
/// else turned into one hyphen, at most [`MAX_SLUG_BYTES`] bytes. Empty when the title
/// has no letters or digits at all.
pub fn slugify(title: &str) -> String {
    let mut slug = Slug {
        text: String::with_capacity(title.len().min(MAX_SLUG_BYTES)),
        pending_hyphen: false,
    };
    for ch in title.chars() {
        // ASCII (most titles) lowercased without `char::to_lowercase`'s iterator.
        let fits = if ch.is_ascii() {
            slug.take(ch.to_ascii_lowercase())
        } else {
            ch.to_lowercase().all(|lower| slug.take(lower))
        };
        if !fits {
            break;
        }
    }
    slug.text
}

/// A slug being made.
struct Slug {
    text: String,
    /// Something other than a letter or digit came after the last one.
    pending_hyphen: bool,
}

impl Slug {
    /// Takes the next (lowercase) character of the title; false when the slug is full.
    fn take(&mut self, ch: char) -> bool {
        if ch.is_alphanumeric() {
            let needed = ch.len_utf8() + usize::from(self.pending_hyphen);
            if self.text.len() + needed > MAX_SLUG_BYTES {
                return false;
            }
            if self.pending_hyphen {
                self.text.push('-');
                self.pending_hyphen = false;
            }
            self.text.push(ch);
        } else if ch == '\'' || ch == '’' {
            // "don't" reads better as "dont" than "don-t".
        } else {
            self.pending_hyphen = !self.text.is_empty();
        }
        true
    }
}

/// Where the articles of one feed go: the one place an article's path is chosen.
#[derive(Debug, Clone, Copy)]
pub struct ArticlePaths<'a> {
    /// The output folder; paths are relative to it.
    pub dir: &'a Path,
    /// `output.path`.
    pub template: &'a PathTemplate,
    /// `output.timezone`: the zone of the date placeholders.
    pub timezone: Tz,
    /// The feed's name (`{feed}`).
    pub feed: &'a str,
}

impl ArticlePaths<'_> {
    /// The path the template gives an article: its slug from `title` (its `id` when the
    /// title has no letters or digits), its date placeholders from `date`.
    pub fn preferred(&self, title: &str, id: &str, date: DateTime<chrono::Utc>) -> PathBuf {
        let slug = slugify(title);
        let slug = if slug.is_empty() { id } else { &slug };
        self.template
            .render(self.feed, &date.with_timezone(&self.timezone), slug, id)
    }

    /// Looks on disk for the [`preferred`](Self::preferred) path of an article before
    /// the store is locked: the claim then needs no file system call for a path found
    /// free ([`choose_after`](Self::choose_after)). Under the store's lock every other
    /// thread waits, and a lookup can wait on the disk (ext4 reading a folder's blocks).
    pub fn probe(&self, title: &str, id: &str, date: DateTime<chrono::Utc>) -> PathProbe {
        self.probe_in(title, id, date, &mut FolderLookups::default())
    }

    /// [`probe`](Self::probe) for one of a batch of articles: `folders` remembers the
    /// folders the batch looked for, and a path in a folder that is not there is free
    /// without a lookup of its own. (A cold pass looked for each of its 10,000 files,
    /// one failing `statx` each, in 200 folders not made yet.)
    pub fn probe_in(
        &self,
        title: &str,
        id: &str,
        date: DateTime<chrono::Utc>,
        folders: &mut FolderLookups,
    ) -> PathProbe {
        let preferred = self.preferred(title, id, date);
        let path = self.dir.join(&preferred);
        // What `choose` reads as free: nothing there, or nothing it can see.
        let free_on_disk = match path.parent() {
            Some(folder) if !folders.is_there(folder) => true,
            _ => !path.exists(),
        };
        PathProbe {
            preferred,
            date,
            free_on_disk,
        }
    }

    /// The path of a new article: the [`preferred`](Self::preferred) one, or the first of
    /// its `-2`, `-3`… variants that neither `taken` (a path the store gave another entry)
    /// nor a file on disk that tidings does not know about already holds. A file that
    /// `is_this_article` recognises (its text is this article's, written before the
    /// database was lost) is adopted rather than given a twin.
    pub fn choose<E>(
        &self,
        title: &str,
        id: &str,
        date: DateTime<chrono::Utc>,
        taken: impl FnMut(&Path) -> Result<bool, E>,
        is_this_article: impl Fn(&str) -> bool,
    ) -> Result<PathBuf, E> {
        let unprobed = PathProbe {
            preferred: self.preferred(title, id, date),
            date,
            free_on_disk: false,
        };
        self.choose_after(&unprobed, taken, is_this_article)
    }

    /// [`choose`](Self::choose) from a [`probe`](Self::probe): a preferred path the probe
    /// found free is only asked of `taken`. A file made there since the probe is the same
    /// race as one made between the claim and the write, which the write's rename settles.
    pub fn choose_after<E>(
        &self,
        probe: &PathProbe,
        mut taken: impl FnMut(&Path) -> Result<bool, E>,
        is_this_article: impl Fn(&str) -> bool,
    ) -> Result<PathBuf, E> {
        let preferred = &probe.preferred;
        let mut path = preferred.clone();
        let mut attempt = 1;
        loop {
            if !taken(&path)? {
                if attempt == 1 && probe.free_on_disk {
                    return Ok(path);
                }
                let on_disk = self.dir.join(&path);
                match std::fs::read_to_string(&on_disk) {
                    // One failed open says so (no second call to ask whether it exists).
                    Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(path),
                    Err(_) if !on_disk.exists() => return Ok(path),
                    Ok(text) if is_this_article(&text) => return Ok(path),
                    _ => {}
                }
            }
            attempt += 1;
            path = if self.template.unique_in_folder {
                with_folder_suffix(preferred, attempt)
            } else {
                with_collision_suffix(preferred, attempt)
            };
        }
    }
}

/// The folders one batch of [`ArticlePaths::probe_in`] looked for, and whether each was
/// there.
#[derive(Debug, Default)]
pub struct FolderLookups {
    seen: Vec<(PathBuf, bool)>,
}

impl FolderLookups {
    /// Whether `folder` is there (anything by that name), looked for once per batch.
    fn is_there(&mut self, folder: &Path) -> bool {
        if let Some((_, there)) = self.seen.iter().find(|(seen, _)| seen == folder) {
            return *there;
        }
        let there = folder.exists();
        self.seen.push((folder.to_path_buf(), there));
        there
    }
}

/// An article's preferred path, and whether the disk held nothing there when
/// [`ArticlePaths::probe`] looked.
#[derive(Debug, Clone)]
pub struct PathProbe {
    preferred: PathBuf,
    /// The date the path was made from: a probe is only used for the same date.
    date: DateTime<chrono::Utc>,
    free_on_disk: bool,
}

impl PathProbe {
    /// Whether this probe was made from `date`.
    pub fn is_for(&self, date: DateTime<chrono::Utc>) -> bool {
        self.date == date
    }
}

/// `path` with `-n` before its extension: the n-th candidate when two articles would
/// otherwise share a file.
fn with_collision_suffix(path: &Path, n: u32) -> PathBuf {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = match path.extension() {
        Some(ext) => format!("{stem}-{n}.{}", ext.to_string_lossy()),
        None => format!("{stem}-{n}"),
    };
    path.with_file_name(name)
}

/// `path` with `-n` after its folder's name (`post/index.md` -> `post-2/index.md`): the
/// n-th candidate of a page bundle.
fn with_folder_suffix(path: &Path, n: u32) -> PathBuf {
    let (Some(folder), Some(file)) = (path.parent(), path.file_name()) else {
        return with_collision_suffix(path, n);
    };
    let Some(name) = folder.file_name() else {
        return with_collision_suffix(path, n);
    };
    folder
        .with_file_name(format!("{}-{n}", name.to_string_lossy()))
        .join(file)
}

/// True when `path` is relative and only goes down: the check every path passes before
/// it is joined to the output folder.
pub fn is_contained(path: &Path) -> bool {
    !path.as_os_str().is_empty() && path.components().all(|c| matches!(c, Component::Normal(_)))
}

/// Why an article's file could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The path would leave the output folder (never made by tidings' own templates).
    #[error("refusing to write outside the output folder: {0}")]
    Escape(PathBuf),
    /// The file system said no.
    #[error("cannot write {path}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
}

/// Writes `contents` to `dir/relative` atomically: into a temporary file on the same file
/// system, then renamed over the target, so a reader (or a crash) never sees half a file.
///
/// The data is not flushed to disk here (an fsync per file costs about a millisecond);
/// callers write a batch, then call [`sync_filesystem`] once before recording the batch as
/// written. Until then the entries stay pending and are written again after a crash.
pub fn write_atomic(dir: &Path, relative: &Path, contents: &[u8]) -> Result<(), WriteError> {
    if !is_contained(relative) {
        return Err(WriteError::Escape(relative.to_path_buf()));
    }
    let target = dir.join(relative);
    let io_err = |source| WriteError::Io {
        path: target.clone(),
        source,
    };
    let parent = target.parent().unwrap_or(dir);
    // The temporary file sits beside its target (a hidden name ending in `.tidings-tmp`):
    // the rename stays inside one folder, so writers of different folders never lock the
    // same two directories, and new inodes are spread over the folders' block groups
    // instead of all being taken in one shared folder. A crash's leftovers are found from
    // the pending entries' folders ([`remove_stale_temp_files`]).
    let temp = parent.join(temp_name(&target));
    let attempt = || -> std::io::Result<()> {
        ensure_folder(dir, parent)?;
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(contents)?;
        drop(file);
        std::fs::rename(&temp, &target)
    };
    let result = attempt().or_else(|error| {
        // A folder made earlier and deleted since (someone cleaned the output): forget
        // what is known to exist and try once more.
        if error.kind() == std::io::ErrorKind::NotFound {
            forget_folders();
            attempt()
        } else {
            Err(error)
        }
    });
    if let Err(source) = result {
        let _ = std::fs::remove_file(&temp);
        return Err(io_err(source));
    }
    Ok(())
}

/// Replaces the file at `path` (a configuration, an export, a metrics file) atomically:
/// `bytes` go to a temporary file beside it, flushed, with the old file's permissions,
/// then renamed over it, so a reader never sees half a file.
pub fn replace_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(format!(".{}.tmp", std::process::id()));
    let temporary = std::path::PathBuf::from(temporary);
    let result = (|| {
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        if let Ok(metadata) = std::fs::metadata(path) {
            std::fs::set_permissions(&temporary, metadata.permissions())?;
        }
        std::fs::rename(&temporary, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    result
}

/// Folders this process made or found: a batch of thousands of articles in a few
/// folders asks the file system once per folder, not once per file (each
/// `create_dir_all` of an existing folder is a failing `mkdir`).
fn known_folders() -> &'static Mutex<HashSet<PathBuf>> {
    static KNOWN: OnceLock<Mutex<HashSet<PathBuf>>> = OnceLock::new();
    KNOWN.get_or_init(|| Mutex::new(HashSet::new()))
}

/// Makes `folder` (inside the output root `dir`) unless this process already knows it.
/// The root is made first and marked as the top of a directory hierarchy, so the feed
/// folders made in it are spread over the file system ([`mark_hierarchy_top`]).
///
/// The lock is held only to look up and to record, never across a `mkdir`: making a
/// folder can wait on the disk (ext4 reads the group's inode bitmap), and while one
/// writer waited there every other writer, even of folders long made, queued behind it
/// (240 ms of a cold 200-feed run's 1.07 s, measured with `perf sched`). Two writers
/// racing to make the same folder both succeed (`create_dir_all` accepts a folder that
/// exists), and each makes and marks the root before its own folder.
fn ensure_folder(dir: &Path, folder: &Path) -> std::io::Result<()> {
    let lookup = |path: &Path| {
        known_folders()
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains(path)
    };
    let record = |path: &Path| {
        known_folders()
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(path.to_path_buf());
    };
    if lookup(folder) {
        return Ok(());
    }
    if !lookup(dir) {
        std::fs::create_dir_all(dir)?;
        mark_hierarchy_top(dir);
        record(dir);
    }
    std::fs::create_dir_all(folder)?;
    record(folder);
    Ok(())
}

/// `FS_TOPDIR_FL` of linux/fs.h: the `T` of chattr(1).
#[cfg(target_os = "linux")]
const TOP_OF_HIERARCHY: libc::c_int = 0x0002_0000;

/// Sets ext4's "top of directory hierarchies" attribute (`chattr +T`) on the output root,
/// if it is not set yet. ext4 then places each new feed folder in a block group of its
/// own choosing with room to spare (the Orlov allocator's rule for top-level folders)
/// instead of beside the root, and each folder's files go into its folder's group.
///
/// Why: without a journal, ext4 skips free inodes deleted in the last minutes, scanning
/// them one by one on every new file. With every folder beside the root, the files of
/// a big run land in one group, and after an output was deleted and fetched again each
/// new file scanned thousands of such inodes: 9.3 s of kernel time for 10,000 files in
/// 200 folders, against 0.5 s with the attribute (measured on this project's machine).
///
/// Other file systems refuse or ignore the attribute; that is fine, the attribute is
/// only about speed, so failures are not reported.
fn mark_hierarchy_top(dir: &Path) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let Ok(folder) = std::fs::File::open(dir) else {
            return;
        };
        let mut flags: libc::c_int = 0;
        // SAFETY: both ioctls take a pointer to an int that lives for the whole call, on a
        // descriptor `folder` keeps open; the kernel reads and writes nothing else of ours.
        unsafe {
            if libc::ioctl(folder.as_raw_fd(), libc::FS_IOC_GETFLAGS, &mut flags) != 0
                || flags & TOP_OF_HIERARCHY != 0
            {
                return;
            }
            flags |= TOP_OF_HIERARCHY;
            libc::ioctl(folder.as_raw_fd(), libc::FS_IOC_SETFLAGS, &flags);
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = dir;
}

fn forget_folders() {
    known_folders()
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clear();
}

/// Flushes every file written under `dir` to disk: one `syncfs` for a whole batch of
/// writes, instead of one fsync per file.
pub fn sync_filesystem(dir: &Path) -> Result<(), WriteError> {
    let folder = std::fs::File::open(dir).map_err(|source| WriteError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    // SAFETY: `syncfs` takes a file descriptor that stays open for the whole call (owned
    // by `folder`) and touches no memory of ours.
    let result = unsafe { libc::syncfs(std::os::fd::AsRawFd::as_raw_fd(&folder)) };
    if result == 0 {
        Ok(())
    } else {
        Err(WriteError::Io {
            path: dir.to_path_buf(),
            source: std::io::Error::last_os_error(),
        })
    }
}

/// Flushes for many writers at once: a `syncfs` flushes the whole file system, so one
/// that *started* after a writer's files were written covers them. Writers that finish
/// their batches while a flush runs wait for it to end and share the next one, instead
/// of each running its own. Used where files are flushed without written marks
/// (`tidings render`) and by a feed whose group of marks failed; a fetch's feeds share
/// their flushes and marks through `pipeline::marks`.
#[derive(Debug, Default)]
pub struct SharedFlush {
    /// How many flushes have started; a flush's number is this count when it starts.
    started: AtomicU64,
    /// The number of the last flush that ended well. Held while a flush runs, so flushes
    /// run one at a time.
    completed: Mutex<u64>,
}

impl SharedFlush {
    /// Returns once every file written under `dir` before this call is on disk.
    pub fn flush(&self, dir: &Path) -> Result<(), WriteError> {
        // Any flush numbered above this began after our files were written.
        let needed = self.started.load(Ordering::SeqCst) + 1;
        let mut completed = self
            .completed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if *completed >= needed {
            return Ok(());
        }
        let number = self.started.fetch_add(1, Ordering::SeqCst) + 1;
        sync_filesystem(dir)?;
        *completed = number;
        Ok(())
    }
}

/// The hidden folder of the output dir where versions before 0.1 wrote their temporary
/// files; still cleaned, and skipped by `reindex`.
pub const TEMP_DIR: &str = ".tidings-tmp";

/// The end of every temporary file's name.
const TEMP_SUFFIX: &str = ".tidings-tmp";

/// `.<file name>.<pid>.<n>.tidings-tmp`: hidden, never `.md`, and naming the process that
/// writes it.
fn temp_name(target: &Path) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = target
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    // The process id asked once (a cold 10,000-article fetch made 10,000 getpid calls).
    static PID: OnceLock<u32> = OnceLock::new();
    let pid = PID.get_or_init(std::process::id);
    format!(".{name}.{pid}.{n}{TEMP_SUFFIX}")
}

/// The process that wrote a temporary file, from its name; `None` for other files.
fn temp_file_writer(name: &str) -> Option<u32> {
    let stem = name.strip_suffix(TEMP_SUFFIX)?;
    let mut parts = stem.rsplit('.');
    let _counter = parts.next()?;
    parts.next()?.parse().ok()
}

/// Removes temporary files that processes which no longer run left behind (a kill in the
/// middle of a write) in `folders` (relative to `dir`: the folders of pending entries and
/// of images) and in the old shared temporary folder. Files of live processes are left
/// alone. Returns how many went.
pub fn remove_stale_temp_files(dir: &Path, folders: impl IntoIterator<Item = PathBuf>) -> usize {
    let mut removed = 0;
    let mut seen = HashSet::new();
    let folders = folders
        .into_iter()
        .map(|folder| dir.join(folder))
        .chain([dir.join(TEMP_DIR)]);
    for folder in folders {
        if !seen.insert(folder.clone()) {
            continue;
        }
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            // The old shared folder named files `<pid>.<n>.<name>.tmp`.
            let writer = temp_file_writer(&name).or_else(|| {
                (folder.ends_with(TEMP_DIR))
                    .then(|| name.split('.').next().and_then(|p| p.parse().ok()))
                    .flatten()
            });
            let Some(pid) = writer else {
                continue;
            };
            if !process_is_alive(pid) && std::fs::remove_file(entry.path()).is_ok() {
                removed += 1;
            }
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    /// A path as the template rendered it before it wrote numbers itself: a `format!`
    /// per placeholder, chrono's `%Y-%m-%d`, a string per component.
    fn rendered_with_format(
        template: &PathTemplate,
        feed: &str,
        date: &DateTime<Tz>,
        slug: &str,
        id: &str,
    ) -> PathBuf {
        let mut out = String::new();
        for piece in &template.pieces {
            match piece {
                Piece::Literal(text) => out.push_str(text),
                Piece::Feed => out.push_str(feed),
                Piece::Year => out.push_str(&format!("{:04}", date.year())),
                Piece::Month => out.push_str(&format!("{:02}", date.month())),
                Piece::Day => out.push_str(&format!("{:02}", date.day())),
                Piece::Date => out.push_str(&date.format("%Y-%m-%d").to_string()),
                Piece::Slug => out.push_str(slug),
                Piece::Id => out.push_str(id),
            }
        }
        out.split('/').map(avoid_reserved_name).collect()
    }

    /// Slugs as they were made, through `char::to_lowercase` for every character.
    fn slug_by_chars(title: &str) -> String {
        let mut slug = String::new();
        let mut pending_hyphen = false;
        for ch in title.chars().flat_map(char::to_lowercase) {
            if ch.is_alphanumeric() {
                let needed = ch.len_utf8() + usize::from(pending_hyphen);
                if slug.len() + needed > MAX_SLUG_BYTES {
                    break;
                }
                if pending_hyphen {
                    slug.push('-');
                    pending_hyphen = false;
                }
                slug.push(ch);
            } else if ch == '\'' || ch == '’' {
            } else {
                pending_hyphen = !slug.is_empty();
            }
        }
        slug
    }

    proptest::proptest! {
        #[test]
        fn slugs_are_made_as_through_unicode_lowercase(title in "[A-Za-z0-9 '’.:,İẞΣßÉé日本-]{0,120}") {
            proptest::prop_assert_eq!(slugify(&title), slug_by_chars(&title));
        }

        #[test]
        fn slugs_of_any_text_are_made_as_through_unicode_lowercase(title in proptest::prelude::any::<String>()) {
            proptest::prop_assert_eq!(slugify(&title), slug_by_chars(&title));
        }
    }

    proptest::proptest! {
        #[test]
        fn paths_are_rendered_as_with_format(
            template in proptest::sample::select(vec![
                "{feed}/{year}/{date}-{slug}.md",
                "{feed}/{year}/{month}/{day}/{slug}.md",
                "{date}/{feed}-{id}.md",
                "archive/{year}{month}{day}-{slug}.md",
            ]),
            year in -20i32..10_020,
            month in 1u32..=12,
            day in 1u32..=28,
            feed in proptest::sample::select(vec!["news", "con", "Aux.feed", "lpt1", "a.b", "COM10", "nul.md"]),
            slug in "[a-z0-9-]{0,12}|con|prn|Com3",
        ) {
            let template = PathTemplate::parse(template).expect("template");
            let Some(date) = Tz::UTC.with_ymd_and_hms(year, month, day, 12, 0, 0).single() else {
                return Ok(());
            };
            let rendered = template.render(feed, &date, &slug, "abc123");
            let expected = rendered_with_format(&template, feed, &date, &slug, "abc123");
            proptest::prop_assert_eq!(rendered.as_os_str(), expected.as_os_str());
        }
    }

    #[test]
    fn page_bundles_are_told_apart_by_their_folder() {
        assert!(PathTemplate::parse("{feed}/{slug}/index.md").is_ok());
        assert!(matches!(
            PathTemplate::parse("{feed}/posts/index.md"),
            Err(TemplateError::NoUniquePart(_))
        ));
        let bundle = Path::new("blog/post/index.md");
        assert_eq!(
            with_folder_suffix(bundle, 2),
            Path::new("blog/post-2/index.md")
        );
        assert_eq!(
            with_collision_suffix(Path::new("blog/post.md"), 3),
            Path::new("blog/post-3.md")
        );
    }

    #[test]
    fn default_template_renders_feed_year_date_and_slug() {
        let t = PathTemplate::parse("{feed}/{year}/{date}-{slug}.md").expect("valid");
        let date = Tz::UTC
            .with_ymd_and_hms(2025, 2, 12, 0, 6, 8)
            .single()
            .expect("date");
        assert_eq!(
            t.render("tc", &date, "apple-news", "abc"),
            PathBuf::from("tc/2025/2025-02-12-apple-news.md")
        );
    }

    #[test]
    fn templates_that_could_escape_are_rejected() {
        for bad in [
            "/abs/{slug}.md",
            "../{slug}.md",
            "a/../{slug}.md",
            "a//{slug}.md",
            "a\\{slug}.md",
            "{nope}/{slug}",
            "{feed}/{date}.md",
            "",
        ] {
            assert!(PathTemplate::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn slugs_are_safe_and_bounded() {
        assert_eq!(
            slugify("Apple's new iPhone: 11% off!"),
            "apples-new-iphone-11-off"
        );
        assert_eq!(slugify("../../etc/passwd"), "etc-passwd");
        assert_eq!(slugify("Ünïcödé Straße"), "ünïcödé-straße");
        assert_eq!(slugify("中文标题"), "中文标题");
        assert_eq!(slugify("!!!"), "");
        assert!(slugify(&"long ".repeat(100)).len() <= MAX_SLUG_BYTES);
        assert!(slugify(&"长".repeat(100)).len() <= MAX_SLUG_BYTES);
    }

    #[test]
    fn reserved_windows_names_get_a_suffix() {
        let t = PathTemplate::parse("{slug}.md").expect("valid");
        let date = Tz::UTC
            .with_ymd_and_hms(2025, 1, 1, 0, 0, 0)
            .single()
            .expect("date");
        assert_eq!(t.render("f", &date, "con", "x"), PathBuf::from("con_.md"));
    }

    #[test]
    fn collision_suffix_goes_before_the_extension() {
        assert_eq!(
            with_collision_suffix(Path::new("a/2025-x.md"), 2),
            PathBuf::from("a/2025-x-2.md")
        );
    }

    #[test]
    fn stale_temp_files_of_dead_processes_are_removed() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("f/2024")).expect("mkdir");
        // PID 0 never names a user process; our own PID is alive.
        let dead = ".a.md.0.1.tidings-tmp";
        let mine = format!(".b.md.{}.1.tidings-tmp", std::process::id());
        for name in [dead, mine.as_str(), "c.md"] {
            std::fs::write(dir.path().join("f/2024").join(name), b"x").expect("write");
        }
        // And one in the shared folder of earlier versions.
        std::fs::create_dir_all(dir.path().join(TEMP_DIR)).expect("mkdir");
        std::fs::write(dir.path().join(TEMP_DIR).join("0.1.a.md.tmp"), b"x").expect("write");
        assert_eq!(
            remove_stale_temp_files(dir.path(), [PathBuf::from("f/2024")]),
            2
        );
        assert!(dir.path().join("f/2024").join(mine).exists());
        assert!(
            dir.path().join("f/2024/c.md").exists(),
            "articles are never touched"
        );
        assert!(!dir.path().join("f/2024").join(dead).exists());
    }

    #[test]
    fn a_folder_deleted_after_a_write_is_made_again() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_atomic(dir.path(), Path::new("f/2025/a.md"), b"one").expect("write");
        std::fs::remove_dir_all(dir.path().join("f")).expect("clean up");
        write_atomic(dir.path(), Path::new("f/2025/b.md"), b"two").expect("write again");
        assert_eq!(
            std::fs::read(dir.path().join("f/2025/b.md")).expect("read"),
            b"two"
        );
    }

    #[test]
    fn the_output_root_is_marked_as_a_hierarchy_top_on_ext4() {
        use std::os::fd::AsRawFd;
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("articles");
        write_atomic(&root, Path::new("f/2025/a.md"), b"one").expect("write");
        let folder = std::fs::File::open(&root).expect("open the root");
        // SAFETY: statfs and the ioctl write into values owned here, on an open descriptor.
        let mut fs: libc::statfs = unsafe { std::mem::zeroed() };
        assert_eq!(unsafe { libc::fstatfs(folder.as_raw_fd(), &mut fs) }, 0);
        const EXT4_SUPER_MAGIC: libc::c_long = 0xEF53;
        if fs.f_type as libc::c_long != EXT4_SUPER_MAGIC {
            eprintln!(
                "not ext4 (f_type {:#x}): the attribute is not checked",
                fs.f_type
            );
            return;
        }
        let mut flags: libc::c_int = 0;
        let read = unsafe { libc::ioctl(folder.as_raw_fd(), libc::FS_IOC_GETFLAGS, &mut flags) };
        assert_eq!(read, 0, "ext4 answers FS_IOC_GETFLAGS");
        assert_ne!(flags & TOP_OF_HIERARCHY, 0, "the root has the T attribute");
        let inner = std::fs::File::open(root.join("f")).expect("open a feed folder");
        let mut inner_flags: libc::c_int = 0;
        let read =
            unsafe { libc::ioctl(inner.as_raw_fd(), libc::FS_IOC_GETFLAGS, &mut inner_flags) };
        assert_eq!(read, 0);
        assert_eq!(inner_flags & TOP_OF_HIERARCHY, 0, "only the root is marked");
    }

    #[test]
    fn a_flush_is_shared_only_by_writes_made_before_it_started() {
        let dir = tempfile::tempdir().expect("tempdir");
        let flush = SharedFlush::default();
        write_atomic(dir.path(), Path::new("a.md"), b"one").expect("write");
        flush.flush(dir.path()).expect("first flush");
        write_atomic(dir.path(), Path::new("b.md"), b"two").expect("write");
        flush.flush(dir.path()).expect("second flush");
        // The second batch was written after the first flush began: it got its own.
        assert_eq!(flush.started.load(Ordering::SeqCst), 2);
        assert_eq!(*flush.completed.lock().expect("lock"), 2);
    }

    #[test]
    fn atomic_write_creates_folders_and_leaves_no_temp_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_atomic(dir.path(), Path::new("a/b/c.md"), b"hello").expect("write");
        assert_eq!(
            std::fs::read(dir.path().join("a/b/c.md")).expect("read"),
            b"hello"
        );
        let names: Vec<_> = std::fs::read_dir(dir.path().join("a/b"))
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names.len(), 1, "no temporary file is left: {names:?}");
        assert!(!dir.path().join(TEMP_DIR).exists());
        assert!(write_atomic(dir.path(), Path::new("../x.md"), b"no").is_err());
    }
}
