//! A feed's last document as the pipeline remembers it: the digest of each entry
//! element's text, so that the next document's entries repeated byte for byte are left
//! out before parsing (a pass where every feed has two new entries parses two entries a
//! feed, not fifty), with what makes leaving them out safe.
//!
//! An entry left out is one the last document had, claimed with it. It counts as
//! unchanged, exactly as when it was parsed and found so, provided three things hold,
//! checked after the shorter document is read (else the whole is read):
//! - the frame (what the text around entries says, see [`crate::feed::layout`]) is equal;
//! - the feed's context and the field bound, which identities depend on, are equal;
//! - no entry read shares a guid with one left out: entries sharing a guid get keys that
//!   depend on each other ([`crate::article::disambiguate_keys`]).

use std::collections::HashSet;

use xxhash_rust::xxh3::Xxh3;

use crate::article::{FeedContext, Identity};
use crate::feed::EntryPrints;

/// The entries of a feed's last claimed document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownDocument {
    /// The frame the entry digests were taken in.
    pub frame: u128,
    /// [`context_digest`] of the document.
    pub context: u128,
    /// Each entry element, in document order.
    pub entries: Vec<KnownEntry>,
}

/// One entry element of a known document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownEntry {
    /// The digest of its text.
    pub digest: u128,
    /// [`guid_key_digest`] of its identity: 0 for an entry without a guid.
    pub guid_key: u64,
}

/// Stored form: a version byte, the frame and context (16 bytes each, little-endian), then
/// 24 bytes per entry (digest, guid key).
const FORMAT: u8 = 1;
const HEAD: usize = 1 + 16 + 16;
const ENTRY: usize = 16 + 8;

impl KnownDocument {
    /// The document as one entry per element of `prints`, the entries read (in order)
    /// giving the guid keys of those not left out and `earlier` those of the others.
    /// `None` when the two do not match up.
    pub fn after(
        prints: &EntryPrints,
        context: u128,
        read: &[u64],
        earlier: Option<&KnownDocument>,
    ) -> Option<KnownDocument> {
        let earlier_keys: std::collections::HashMap<u128, u64> = earlier
            .map(|document| {
                document
                    .entries
                    .iter()
                    .map(|entry| (entry.digest, entry.guid_key))
                    .collect()
            })
            .unwrap_or_default();
        let mut read = read.iter();
        let mut entries = Vec::with_capacity(prints.entries.len());
        for &(digest, left_out) in &prints.entries {
            let guid_key = if left_out {
                *earlier_keys.get(&digest)?
            } else {
                *read.next()?
            };
            entries.push(KnownEntry { digest, guid_key });
        }
        read.next().is_none().then_some(KnownDocument {
            frame: prints.frame,
            context,
            entries,
        })
    }

    /// The digests of its entries.
    pub fn digests(&self) -> HashSet<u128> {
        self.entries.iter().map(|entry| entry.digest).collect()
    }

    /// Whether an entry read with guid key digest `guid_key` shares it with an entry of
    /// this document that `prints` left out.
    pub fn shares_guid_with_left_out(&self, prints: &EntryPrints, guid_keys: &[u64]) -> bool {
        let left_out: HashSet<u128> = prints
            .entries
            .iter()
            .filter(|(_, left_out)| *left_out)
            .map(|(digest, _)| *digest)
            .collect();
        let left_out_keys: HashSet<u64> = self
            .entries
            .iter()
            .filter(|entry| entry.guid_key != 0 && left_out.contains(&entry.digest))
            .map(|entry| entry.guid_key)
            .collect();
        guid_keys.iter().any(|key| left_out_keys.contains(key))
    }

    /// The stored form.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(HEAD + ENTRY * self.entries.len());
        bytes.push(FORMAT);
        bytes.extend_from_slice(&self.frame.to_le_bytes());
        bytes.extend_from_slice(&self.context.to_le_bytes());
        for entry in &self.entries {
            bytes.extend_from_slice(&entry.digest.to_le_bytes());
            bytes.extend_from_slice(&entry.guid_key.to_le_bytes());
        }
        bytes
    }

    /// Reads the stored form; `None` for anything else (another format, a damaged value):
    /// the document is then parsed whole, as if nothing were known.
    pub fn from_bytes(bytes: &[u8]) -> Option<KnownDocument> {
        let (head, rest) = bytes.split_at_checked(HEAD)?;
        if head[0] != FORMAT || rest.len() % ENTRY != 0 {
            return None;
        }
        let u128_at = |bytes: &[u8], at: usize| {
            bytes
                .get(at..at + 16)
                .and_then(|b| b.try_into().ok())
                .map(u128::from_le_bytes)
        };
        let entries = rest
            .chunks_exact(ENTRY)
            .map(|chunk| {
                Some(KnownEntry {
                    digest: u128_at(chunk, 0)?,
                    guid_key: u64::from_le_bytes(chunk.get(16..24)?.try_into().ok()?),
                })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(KnownDocument {
            frame: u128_at(head, 1)?,
            context: u128_at(head, 17)?,
            entries,
        })
    }
}

/// What entries' identities take from their feed (the base of relative links, the
/// language, whether text is HTML) and the bound on field sizes, as one digest.
pub fn context_digest(context: &FeedContext, max_field_bytes: usize) -> u128 {
    let mut digest = Xxh3::new();
    digest.update(
        context
            .base
            .as_ref()
            .map_or("", |base| base.as_str())
            .as_bytes(),
    );
    digest.update(&[0]);
    digest.update(context.declared_lang.as_deref().unwrap_or("").as_bytes());
    digest.update(&[0, u8::from(context.text_is_html)]);
    digest.update(&(max_field_bytes as u64).to_le_bytes());
    digest.digest128()
}

/// The digest of an identity's key before keys are told apart, when the feed gave it a
/// guid; 0 otherwise.
pub fn guid_key_digest(identity: &Identity) -> u64 {
    if identity.guid.is_none() {
        return 0;
    }
    xxhash_rust::xxh3::xxh3_64(identity.key.as_bytes()).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prints(entries: &[(u128, bool)]) -> EntryPrints {
        EntryPrints {
            frame: 7,
            entries: entries.to_vec(),
        }
    }

    #[test]
    fn the_stored_form_reads_back_and_anything_else_reads_as_nothing_known() {
        let document = KnownDocument {
            frame: u128::MAX - 3,
            context: 42,
            entries: vec![
                KnownEntry {
                    digest: 1 << 100,
                    guid_key: 9,
                },
                KnownEntry {
                    digest: 5,
                    guid_key: 0,
                },
            ],
        };
        let bytes = document.to_bytes();
        assert_eq!(KnownDocument::from_bytes(&bytes), Some(document));
        assert_eq!(KnownDocument::from_bytes(&bytes[..bytes.len() - 1]), None);
        assert_eq!(KnownDocument::from_bytes(b""), None);
        let mut other_format = bytes.clone();
        other_format[0] = 2;
        assert_eq!(KnownDocument::from_bytes(&other_format), None);
    }

    #[test]
    fn entries_left_out_keep_their_guid_keys_and_entries_read_take_theirs() {
        let earlier = KnownDocument {
            frame: 7,
            context: 1,
            entries: vec![KnownEntry {
                digest: 10,
                guid_key: 100,
            }],
        };
        let now = prints(&[(20, false), (10, true), (30, false)]);
        let after = KnownDocument::after(&now, 1, &[200, 0], Some(&earlier)).expect("matches");
        let keys: Vec<(u128, u64)> = after
            .entries
            .iter()
            .map(|e| (e.digest, e.guid_key))
            .collect();
        assert_eq!(keys, [(20, 200), (10, 100), (30, 0)]);
        // One entry read too many or too few, or a left-out entry nobody knew: no match.
        assert_eq!(KnownDocument::after(&now, 1, &[200], Some(&earlier)), None);
        assert_eq!(
            KnownDocument::after(&now, 1, &[200, 0, 1], Some(&earlier)),
            None
        );
        assert_eq!(KnownDocument::after(&now, 1, &[200, 0], None), None);
    }

    #[test]
    fn a_guid_shared_with_an_entry_left_out_is_noticed() {
        let earlier = KnownDocument {
            frame: 7,
            context: 1,
            entries: vec![
                KnownEntry {
                    digest: 10,
                    guid_key: 100,
                },
                KnownEntry {
                    digest: 11,
                    guid_key: 0,
                },
            ],
        };
        let now = prints(&[(10, true), (11, true), (12, false)]);
        assert!(earlier.shares_guid_with_left_out(&now, &[100]));
        assert!(!earlier.shares_guid_with_left_out(&now, &[101]));
        // Entries without a guid share nothing.
        assert!(!earlier.shares_guid_with_left_out(&now, &[0]));
    }
}
