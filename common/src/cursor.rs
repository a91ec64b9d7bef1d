//! Cursors of paged listings: where the last page stopped, as the index key
//! it read last, in lowercase hex. The next page starts right after it, so
//! records written meanwhile before the cursor are not listed, and none
//! already listed is listed again.

use crate::{contract::TxStatus, FieldError};

/// The most records one page of a listing may hold.
pub const MAX_LIMIT: u32 = 1000;

/// The cursor of a listing that stopped at index key `key`.
pub fn encode(key: &[u8]) -> String {
    key.iter().map(|b| format!("{b:02x}")).collect()
}

/// Where the page after `cursor` starts in an index whose keys start with
/// `prefix` (the listing's filters): the first key after the cursor's.
/// Refused (naming `field`) if it is no cursor of this listing.
pub fn start_after(field: &str, cursor: &str, prefix: &[u8]) -> Result<Vec<u8>, FieldError> {
    let decoded: Option<Vec<u8>> = cursor
        .len()
        .is_multiple_of(2)
        .then(|| {
            (0..cursor.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(cursor.get(i..i + 2)?, 16).ok())
                .collect()
        })
        .flatten();
    match decoded {
        Some(mut key) if key.starts_with(prefix) && key.len() > prefix.len() => {
            key.push(0);
            Ok(key)
        }
        _ => Err(FieldError::new(
            field,
            "is not a cursor of this listing: pass the next cursor the previous page gave, with the same filters, or none to start",
        )),
    }
}

/// What a cursor carries of the filters it was given with (FNV-1a of their
/// values, in a fixed order), so that a listing refuses a cursor of another.
pub fn filters_digest(filters: &[&str]) -> [u8; 8] {
    let hash = filters.join("\u{1f}").bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x100_0000_01b3)
    });
    hash.to_be_bytes()
}

/// The next entry of several ranges read at once, each in order: the least
/// of their heads, taken from its range; an error first. A listing that
/// reads several ranges of an index (every status, every pair of a
/// province) merges them so.
pub fn next_merged<T: Ord, E, I: Iterator<Item = Result<T, E>>>(ranges: &mut [std::iter::Peekable<I>]) -> Option<Result<T, E>> {
    let mut first: Option<(usize, &T)> = None;
    let mut failed = None;
    for (at, range) in ranges.iter_mut().enumerate() {
        match range.peek() {
            None => {}
            Some(Err(_)) => failed = Some(at),
            Some(Ok(head)) if first.is_none_or(|(_, least)| head < least) => first = Some((at, head)),
            Some(Ok(_)) => {}
        }
    }
    let at = failed.or(first.map(|(at, _)| at))?;
    ranges[at].next()
}

/// The name of a status in listings (requests, index keys).
pub fn status_name(status: TxStatus) -> &'static str {
    match status {
        TxStatus::Pending => "pending",
        TxStatus::Approved => "approved",
        TxStatus::Declined => "declined",
        TxStatus::Reversed => "reversed",
    }
}

/// The status a listing names (`pending`, `approved`, `declined`, `reversed`).
pub fn parse_status(field: &str, text: &str) -> Result<TxStatus, FieldError> {
    match text.to_ascii_lowercase().as_str() {
        "pending" => Ok(TxStatus::Pending),
        "approved" => Ok(TxStatus::Approved),
        "declined" => Ok(TxStatus::Declined),
        "reversed" => Ok(TxStatus::Reversed),
        _ => Err(FieldError::new(
            field,
            format!("unknown status {text:?}: use pending, approved, declined or reversed"),
        )),
    }
}

/// The page size a listing asks for: 1 to [`MAX_LIMIT`].
pub fn check_limit(field: &str, limit: u32) -> Result<usize, FieldError> {
    if limit == 0 || limit > MAX_LIMIT {
        return Err(FieldError::new(
            field,
            format!("must be 1 to {MAX_LIMIT} (the number of records of one page), got {limit}"),
        ));
    }
    Ok(limit as usize)
}

/// Where a listing of a whole table (no filter in its keys) starts: its
/// first key, or right after `cursor` (empty: the first page).
pub fn start_of_table(field: &str, cursor: &str) -> Result<Vec<u8>, FieldError> {
    if cursor.is_empty() {
        return Ok(Vec::new());
    }
    start_after(field, cursor, &[])
}

/// One page of `limit` records that `keep` takes, read in key order from
/// `entries` (a scan from the page's start), and the cursor of the next
/// page: empty when the scan ended before the page was full.
pub fn page<V, E>(
    entries: impl Iterator<Item = Result<(Vec<u8>, V), E>>,
    limit: usize,
    mut keep: impl FnMut(&V) -> bool,
) -> Result<(Vec<V>, String), E> {
    let mut items = Vec::new();
    for entry in entries {
        let (key, value) = entry?;
        if keep(&value) {
            items.push(value);
            if items.len() == limit {
                return Ok((items, encode(&key)));
            }
        }
    }
    Ok((items, String::new()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_starts_right_after_its_key_within_its_listing_only() {
        let cursor = encode(b"person\x1fp1\x1f\x01");
        assert_eq!(
            start_after("cursor", &cursor, b"person\x1fp1\x1f").unwrap(),
            b"person\x1fp1\x1f\x01\x00"
        );
        for bad in ["zz", "0", "", &encode(b"person\x1fp2\x1f\x01"), &encode(b"person\x1fp1\x1f")] {
            assert!(start_after("cursor", bad, b"person\x1fp1\x1f").is_err(), "{bad:?}");
        }
    }

    #[test]
    fn ranges_merge_in_order_and_an_error_comes_first() {
        let mut ranges = vec![
            vec![Ok(1), Ok(4)].into_iter().peekable(),
            vec![Ok(2), Ok(3), Ok(9)].into_iter().peekable(),
            Vec::<Result<u32, ()>>::new().into_iter().peekable(),
        ];
        let merged: Vec<u32> = std::iter::from_fn(|| next_merged(&mut ranges)).map(Result::unwrap).collect();
        assert_eq!(merged, [1, 2, 3, 4, 9]);
        let mut failing = vec![vec![Ok(1)].into_iter().peekable(), vec![Err("lost"), Ok(0)].into_iter().peekable()];
        assert_eq!(next_merged(&mut failing), Some(Err("lost")));
    }

    #[test]
    fn a_digest_tells_filters_apart() {
        assert_eq!(filters_digest(&["a", "b"]), filters_digest(&["a", "b"]));
        assert_ne!(filters_digest(&["a", "b"]), filters_digest(&["ab", ""]));
        assert_ne!(filters_digest(&["", "x"]), filters_digest(&["x", ""]));
    }
}
