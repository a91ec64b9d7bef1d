//! The store's write-ahead log: what makes a transaction durable.
//!
//! Every committed transaction's writes are appended, as one record, to an
//! in-memory tail; [`super::Store::durable`] has the flusher write the tail
//! to the current segment file and `fdatasync` it (one write and one sync
//! for every transaction that waited meanwhile). sled receives the writes
//! only at checkpoints: when a segment is full, a new one is started, the
//! memtable holding the closed segments' writes is applied to sled and
//! flushed, and the closed segments are deleted. On opening, the segments left are replayed
//! into sled in order (applying a record twice changes nothing, as records
//! only set or remove keys and are replayed in the order they were applied).
//!
//! Each record has a log sequence number (LSN). A checkpoint stores the
//! LSN of the last record it applied under [`LSN_KEY`], after the writes:
//! sled recovers a prefix of its writes, so replay applies exactly the
//! records after the LSN sled has (completing any it holds in part), never
//! an older value over a newer one. sled never holds a write the log does
//! not.
//!
//! A segment is a sequence of records: length (u32 LE) of the payload,
//! CRC-32 of the payload (u32 LE), payload. A payload is the LSN (u64 LE),
//! the number of writes (u32 LE), then each write: key length (u32 LE), key, 1 and value
//! length (u32 LE) and value for a put, or 0 for a removal. Segments are
//! filled with zeros ahead of their records (so that a sync writes data,
//! not file-system metadata): a zero header ends the records. A damaged record at the end of the last segment,
//! with no intact record after it, is a write cut short by a crash, never
//! acknowledged, and is dropped; damage anywhere else stops the store from
//! opening.

use std::{
    fs::{File, OpenOptions},
    io::{self, BufReader, Read, Seek},
    os::unix::fs::FileExt,
    path::{Path, PathBuf},
};

/// Writes of one transaction: stored key → new value (`None`: removed).
pub(super) type Writes = std::collections::BTreeMap<Vec<u8>, Option<Vec<u8>>>;

/// The key under which sled keeps the LSN of the last record it applied
/// (no tree's prefix starts with a NUL byte).
pub(super) const LSN_KEY: &[u8] = b"\0wal-lsn";

/// One record: the writes of one transaction and its place in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Record {
    pub lsn: u64,
    pub writes: Writes,
}

/// A segment is closed and a checkpoint started once it holds this much.
/// The memtable holds at most two segments' writes.
pub(super) const SEGMENT_BYTES: u64 = 16 * 1024 * 1024;

/// The largest record accepted when reading (a bigger length is damage).
const MAX_RECORD: u32 = 1 << 30;

/// Appends the record of `writes`, numbered `lsn`, to `out`.
pub(super) fn encode_record(lsn: u64, writes: &Writes, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&lsn.to_le_bytes());
    put_u32(out, writes.len());
    for (key, value) in writes {
        put_u32(out, key.len());
        out.extend_from_slice(key);
        match value {
            Some(value) => {
                out.push(1);
                put_u32(out, value.len());
                out.extend_from_slice(value);
            }
            None => out.push(0),
        }
    }
    let payload = &out[start + 8..];
    let length = u32::try_from(payload.len()).unwrap_or(u32::MAX).to_le_bytes();
    let crc = crc32fast::hash(payload).to_le_bytes();
    out[start..start + 4].copy_from_slice(&length);
    out[start + 4..start + 8].copy_from_slice(&crc);
}

fn put_u32(out: &mut Vec<u8>, n: usize) {
    // Keys and values are far below 4 GiB; a transaction is refused long before.
    out.extend_from_slice(&u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes());
}

/// Why a segment could not be read to its end.
#[derive(Debug)]
pub(super) enum Damage {
    /// The file ends inside a record: a write that never completed.
    Torn {
        at: u64,
    },
    /// A record whose checksum or structure is wrong; `next` is where the
    /// record after it would start if its length is right.
    Corrupt {
        at: u64,
        next: Option<u64>,
        detail: String,
    },
    Io(io::Error),
}

/// Reads the records of a segment, calling `apply` with each one's writes
/// in order. Stops at the first damage and reports it.
pub(super) fn read_segment(path: &Path, mut apply: impl FnMut(Record) -> Result<(), String>) -> Result<(), Damage> {
    let mut file = BufReader::new(File::open(path).map_err(Damage::Io)?);
    let mut at = 0u64;
    loop {
        let mut header = [0u8; 8];
        match read_exact_or_end(&mut file, &mut header).map_err(Damage::Io)? {
            Filled::Nothing => return Ok(()),
            Filled::Partly => return Err(Damage::Torn { at }),
            Filled::All => {}
        }
        if header == [0; 8] {
            // Unwritten space: segments are filled with zeros when created.
            return Ok(());
        }
        let length = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
        let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        if length > MAX_RECORD {
            return Err(Damage::Corrupt {
                at,
                next: None,
                detail: format!("record length {length}"),
            });
        }
        let next = Some(at + 8 + u64::from(length));
        let mut payload = vec![0u8; length as usize];
        if !matches!(read_exact_or_end(&mut file, &mut payload).map_err(Damage::Io)?, Filled::All) {
            return Err(Damage::Torn { at });
        }
        if crc32fast::hash(&payload) != crc {
            return Err(Damage::Corrupt {
                at,
                next,
                detail: "checksum mismatch".into(),
            });
        }
        let record = decode_payload(&payload).map_err(|detail| Damage::Corrupt { at, next, detail })?;
        apply(record).map_err(|detail| Damage::Corrupt { at, next, detail })?;
        at += 8 + u64::from(length);
    }
}

/// Whether a whole, intact record starts at byte `at` of the segment: after
/// a damaged record, one means the damage is not a torn end.
pub(super) fn holds_a_record_at(path: &Path, at: u64) -> bool {
    let Ok(mut file) = File::open(path) else {
        return false;
    };
    if file.seek(io::SeekFrom::Start(at)).is_err() {
        return false;
    }
    let mut header = [0u8; 8];
    if !matches!(read_exact_or_end(&mut file, &mut header), Ok(Filled::All)) || header == [0; 8] {
        return false;
    }
    let length = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
    let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    if length > MAX_RECORD {
        return false;
    }
    let mut payload = vec![0u8; length as usize];
    matches!(read_exact_or_end(&mut file, &mut payload), Ok(Filled::All))
        && crc32fast::hash(&payload) == crc
        && decode_payload(&payload).is_ok()
}

enum Filled {
    Nothing,
    Partly,
    All,
}

fn read_exact_or_end(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<Filled> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(match filled {
        0 if !buf.is_empty() => Filled::Nothing,
        n if n < buf.len() => Filled::Partly,
        _ => Filled::All,
    })
}

fn decode_payload(payload: &[u8]) -> Result<Record, String> {
    let mut rest = payload;
    let lsn_bytes = take(&mut rest, 8)?;
    let mut lsn = [0u8; 8];
    lsn.copy_from_slice(lsn_bytes);
    let lsn = u64::from_le_bytes(lsn);
    let count = take_u32(&mut rest)?;
    let mut writes = Writes::new();
    for _ in 0..count {
        let key_len = take_u32(&mut rest)? as usize;
        let key = take(&mut rest, key_len)?.to_vec();
        let value = match take(&mut rest, 1)?[0] {
            0 => None,
            1 => {
                let value_len = take_u32(&mut rest)? as usize;
                Some(take(&mut rest, value_len)?.to_vec())
            }
            tag => return Err(format!("unknown write tag {tag}")),
        };
        writes.insert(key, value);
    }
    if !rest.is_empty() {
        return Err(format!("{} bytes after the last write", rest.len()));
    }
    Ok(Record { lsn, writes })
}

fn take<'a>(rest: &mut &'a [u8], n: usize) -> Result<&'a [u8], String> {
    if rest.len() < n {
        return Err("record ends inside a write".into());
    }
    let (head, tail) = rest.split_at(n);
    *rest = tail;
    Ok(head)
}

fn take_u32(rest: &mut &[u8]) -> Result<u32, String> {
    let bytes = take(rest, 4)?;
    Ok(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

/// The directory of the segments, inside the data directory.
pub(super) fn dir(data_dir: &Path) -> PathBuf {
    data_dir.join("wal")
}

/// The segment files in `dir`, oldest first, with their numbers.
pub(super) fn segments(dir: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let number = path
            .file_name()
            .and_then(|name| name.to_str())
            .and_then(|name| name.strip_suffix(".log"))
            .and_then(|stem| stem.parse::<u64>().ok());
        if let Some(number) = number {
            found.push((number, path));
        }
    }
    found.sort();
    Ok(found)
}

/// The path of segment `number`.
pub(super) fn segment_path(dir: &Path, number: u64) -> PathBuf {
    dir.join(format!("{number:020}.log"))
}

/// Creates segment `number` (empty) and makes its directory entry durable.
pub(super) fn create_segment(dir: &Path, number: u64) -> io::Result<SegmentFile> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(segment_path(dir, number))?;
    sync_dir(dir)?;
    Ok(SegmentFile {
        file,
        written: 0,
        zeroed: 0,
    })
}

/// How far ahead of the records a segment is filled with zeros.
const ZERO_AHEAD: u64 = 1024 * 1024;

/// A segment being written: records from its start, zeros ahead of them.
/// Overwriting blocks already allocated lets a sync write data alone, not
/// the file system's journal; the zeros are written a mebibyte at a time.
pub(super) struct SegmentFile {
    file: File,
    /// Bytes of records written.
    written: u64,
    /// The file's length: records, then zeros.
    zeroed: u64,
}

impl SegmentFile {
    /// Bytes of records written.
    pub(super) fn written(&self) -> u64 {
        self.written
    }

    /// Writes `bytes` after the records and waits until they are on disk.
    pub(super) fn append_durably(&mut self, bytes: &[u8]) -> io::Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        let end = self.written + bytes.len() as u64;
        if end > self.zeroed {
            let target = end.div_ceil(ZERO_AHEAD) * ZERO_AHEAD + ZERO_AHEAD;
            let zeros = vec![0u8; usize::try_from(target - self.zeroed).unwrap_or(usize::MAX)];
            self.file.write_all_at(&zeros, self.zeroed)?;
            self.zeroed = target;
        }
        self.file.write_all_at(bytes, self.written)?;
        self.written = end;
        self.file.sync_data()
    }
}

/// Makes the directory's entries (files created or removed) durable.
pub(super) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writes(items: &[(&[u8], Option<&[u8]>)]) -> Writes {
        items.iter().map(|(k, v)| (k.to_vec(), v.map(<[u8]>::to_vec))).collect()
    }

    fn read_all(path: &Path) -> (Vec<Record>, Result<(), Damage>) {
        let mut seen = Vec::new();
        let result = read_segment(path, |w| {
            seen.push(w);
            Ok(())
        });
        (seen, result)
    }

    #[test]
    fn records_read_back_as_written() {
        let dir = tempfile::tempdir().unwrap();
        let first = Record {
            lsn: 1,
            writes: writes(&[(b"a", Some(b"1")), (b"b", None)]),
        };
        let second = Record {
            lsn: u64::MAX,
            writes: writes(&[(b"", Some(b"")), (b"c\x00d", Some(&[0xff; 300]))]),
        };
        let empty = Record {
            lsn: 7,
            writes: Writes::new(),
        };
        let mut bytes = Vec::new();
        for record in [&first, &second, &empty] {
            encode_record(record.lsn, &record.writes, &mut bytes);
        }
        let path = dir.path().join("s.log");
        std::fs::write(&path, &bytes).unwrap();
        let (seen, result) = read_all(&path);
        assert!(result.is_ok());
        assert_eq!(seen, vec![first, second, empty]);
    }

    #[test]
    fn a_torn_tail_is_reported_as_torn_after_the_whole_records() {
        let dir = tempfile::tempdir().unwrap();
        let whole = Record {
            lsn: 1,
            writes: writes(&[(b"a", Some(b"1"))]),
        };
        let mut bytes = Vec::new();
        encode_record(whole.lsn, &whole.writes, &mut bytes);
        let complete = bytes.len();
        encode_record(2, &writes(&[(b"b", Some(b"2"))]), &mut bytes);
        let path = dir.path().join("s.log");
        for cut in complete + 1..bytes.len() {
            std::fs::write(&path, &bytes[..cut]).unwrap();
            let (seen, result) = read_all(&path);
            assert_eq!(seen, vec![whole.clone()], "cut at {cut}");
            assert!(
                matches!(result, Err(Damage::Torn { at }) if at == complete as u64),
                "cut at {cut}: {result:?}"
            );
        }
    }

    #[test]
    fn zeros_after_the_records_end_the_segment() {
        let dir = tempfile::tempdir().unwrap();
        let record = Record {
            lsn: 4,
            writes: writes(&[(b"k", Some(b"v"))]),
        };
        let mut file = create_segment(dir.path(), 1).unwrap();
        let mut bytes = Vec::new();
        encode_record(record.lsn, &record.writes, &mut bytes);
        file.append_durably(&bytes).unwrap();
        let path = segment_path(dir.path(), 1);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 2 * ZERO_AHEAD);
        let (seen, result) = read_all(&path);
        assert!(result.is_ok(), "{result:?}");
        assert_eq!(seen, vec![record]);
        assert!(holds_a_record_at(&path, 0));
        assert!(!holds_a_record_at(&path, bytes.len() as u64), "zeros are no record");
    }

    #[test]
    fn a_flipped_byte_is_caught_by_the_checksum() {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = Vec::new();
        encode_record(3, &writes(&[(b"key", Some(b"value"))]), &mut bytes);
        let path = dir.path().join("s.log");
        for i in 8..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[i] ^= 0x40;
            std::fs::write(&path, &damaged).unwrap();
            let (seen, result) = read_all(&path);
            assert!(seen.is_empty(), "byte {i}");
            assert!(matches!(result, Err(Damage::Corrupt { at: 0, .. })), "byte {i}: {result:?}");
        }
    }

    #[test]
    fn segments_are_listed_oldest_first_ignoring_other_files() {
        let dir = tempfile::tempdir().unwrap();
        for n in [10u64, 2, 33] {
            create_segment(dir.path(), n).unwrap();
        }
        std::fs::write(dir.path().join("notes.txt"), b"x").unwrap();
        let numbers: Vec<u64> = segments(dir.path()).unwrap().into_iter().map(|(n, _)| n).collect();
        assert_eq!(numbers, vec![2, 10, 33]);
    }
}
