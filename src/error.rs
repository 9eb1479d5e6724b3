//! How an error reaches a person: the leaves keep their cause (`#[source]`), and the
//! chain becomes text once, where it is printed (the fetch report, the log, `status`).

use std::error::Error;
use std::fmt;

/// An error with its causes, for printing. `{}` shows tidings' own messages down the
/// chain, the first library message below them, and the innermost cause (what the
/// system or server said); `{:#}` (`-v`) shows every link.
#[derive(Clone, Copy)]
pub struct ErrorChain<'a>(pub &'a (dyn Error + 'static));

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut printed = self.0.to_string();
        f.write_str(&printed)?;
        let mut current = self.0;
        // The chain is printed down to the first message of a library (which says what
        // failed in its terms), then only the innermost cause (what the system said).
        let mut in_own_part = is_own(current);
        while let Some(source) = current.source() {
            let innermost = source.source().is_none();
            let shown = f.alternate() || in_own_part || innermost;
            in_own_part &= is_own(source);
            if shown {
                let message = source.to_string();
                // Libraries often repeat their cause in their own message.
                if !printed.contains(&message) {
                    write!(f, ": {message}")?;
                    printed.push_str(&message);
                }
            }
            current = source;
        }
        Ok(())
    }
}

impl fmt::Debug for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:#}")
    }
}

/// Whether `error` is one of tidings' own: its message was written for the person at the
/// terminal, so it is always worth printing.
fn is_own(error: &(dyn Error + 'static)) -> bool {
    error.is::<crate::pipeline::FeedError>()
        || error.is::<crate::pipeline::PipelineError>()
        || error.is::<crate::fetch::FetchError>()
        || error.is::<crate::fetch::ClientError>()
        || error.is::<crate::feed::ParseError>()
        || error.is::<crate::store::StoreError>()
        || error.is::<crate::output::WriteError>()
        || error.is::<crate::config::ConfigError>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] crate::output::WriteError);

    #[test]
    fn own_messages_and_the_innermost_cause_are_shown() {
        let io = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "denied");
        let write = crate::output::WriteError::Io {
            path: "a/b.md".into(),
            source: io,
        };
        let error = crate::pipeline::PipelineError::Write(write);
        assert_eq!(
            ErrorChain(&error).to_string(),
            "cannot write a/b.md: denied"
        );
        let outer = Outer(crate::output::WriteError::Escape("../x".into()));
        // A foreign error's own causes still end in the innermost one.
        assert_eq!(
            format!("{:#}", ErrorChain(&outer)),
            "outer: refusing to write outside the output folder: ../x"
        );
    }
}
