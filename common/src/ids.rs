//! Caller-chosen identifiers: persons' national ids and transaction ids (which
//! are also idempotency keys). They appear inside store keys, so the alphabet
//! is restricted and never contains the key separator.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::field::FieldError;

/// Longest id accepted.
pub const MAX_ID_LEN: usize = 64;

/// A validated id: 1 to 64 characters of `[A-Za-z0-9._:-]`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Id(String);

impl Id {
    pub fn parse(field: &str, text: &str) -> Result<Id, FieldError> {
        if text.is_empty() {
            return Err(FieldError::new(field, "is required"));
        }
        if text.len() > MAX_ID_LEN {
            return Err(FieldError::new(field, format!("is longer than {MAX_ID_LEN} characters")));
        }
        if let Some(bad) = text
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-')))
        {
            return Err(FieldError::new(
                field,
                format!("{text:?} contains {bad:?}; ids use only A-Z a-z 0-9 . _ : -"),
            ));
        }
        Ok(Id(text.to_owned()))
    }

    /// An id the network derives from another (`fwd:` + 16 hex digits of a
    /// stable hash), so a step that must happen once per source gets the
    /// same id however often it is retried.
    pub fn derived(prefix: &str, source: &str) -> Id {
        // FNV-1a, 64 bits: stable across builds and platforms.
        let hash = source.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        });
        Id(format!("{prefix}:{hash:016x}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

/// An id is a key of the store as it is.
impl AsRef<[u8]> for Id {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<Id> for String {
    fn from(id: Id) -> String {
        id.0
    }
}

impl TryFrom<String> for Id {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        Id::parse("id", &text).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_ids_are_stable_and_valid() {
        let a = Id::derived("fwd", "refund/r-1");
        assert_eq!(a, Id::derived("fwd", "refund/r-1"));
        assert_ne!(a, Id::derived("fwd", "refund/r-2"));
        assert_eq!(Id::parse("id", a.as_str()).unwrap(), a);
        assert_eq!(a.as_str().len(), 20);
    }

    #[test]
    fn ids_are_bounded_and_plain() {
        assert!(Id::parse("payment_id", "pay-2026:11/1").is_err());
        assert!(Id::parse("payment_id", "").is_err());
        assert!(Id::parse("payment_id", &"x".repeat(65)).is_err());
        assert_eq!(Id::parse("payment_id", "H32050000001-0001").unwrap().as_str(), "H32050000001-0001");
        assert!(Id::parse("person_id", "32050519800101123X").is_ok());
    }
}
