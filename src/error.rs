//! How an error reaches a person: the leaves keep their cause (`#[source]`), and the
//! chain becomes text once, where it is printed (the fetch report, the log, `status`).

use std::error::Error;
use std::fmt;

/// An error with its causes, for printing. `{}` shows the error, its direct cause and
/// the innermost cause (what the system or server said): tidings' own errors are at most
/// two deep, and a library's middle layers (reqwest's, hyper's) only repeat the story.
/// `{:#}` (`-v`) shows every link.
#[derive(Clone, Copy)]
pub struct ErrorChain<'a>(pub &'a (dyn Error + 'static));

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut printed = self.0.to_string();
        f.write_str(&printed)?;
        let mut current = self.0;
        let mut depth = 0;
        while let Some(source) = current.source() {
            depth += 1;
            let innermost = source.source().is_none();
            if f.alternate() || depth == 1 || innermost {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("{0}")]
    struct Layer(&'static str, #[source] Option<Box<Layer>>);

    fn chain(messages: &[&'static str]) -> Layer {
        messages
            .iter()
            .rev()
            .fold(None, |inner, message| {
                Some(Layer(message, inner.map(Box::new)))
            })
            .expect("at least one")
    }

    #[test]
    fn the_error_its_cause_and_the_innermost_cause_are_shown() {
        let error = chain(&[
            "connection failed",
            "error sending request",
            "client error",
            "Connection refused",
        ]);
        assert_eq!(
            ErrorChain(&error).to_string(),
            "connection failed: error sending request: Connection refused"
        );
        assert_eq!(
            format!("{:#}", ErrorChain(&error)),
            "connection failed: error sending request: client error: Connection refused"
        );
    }

    #[test]
    fn a_cause_already_in_the_message_is_not_repeated() {
        let error = chain(&["cannot write a.md: denied", "denied"]);
        assert_eq!(ErrorChain(&error).to_string(), "cannot write a.md: denied");
    }
}
