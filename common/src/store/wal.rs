//! The store's write-ahead log: what makes a transaction durable, and what
//! tells a write cut short by a crash from damage to acknowledged records.
//!
//! Every committed transaction's writes are one record of the in-memory
//! tail; the flusher (see `flusher`) writes the tail as one **batch** to the
//! current segment file and `fdatasync`s it, then acknowledges every
//! transaction in it. The database receives the writes only at checkpoints (see
//! `flusher`), after which the closed segments are deleted.
//!
//! ## On disk
//! - A segment `wal/NNNNNNNNNNNNNNNNNNNN.log` starts with a 32-byte header:
//!   magic `GJWAL02\n`, the segment's number (u64 LE), the LSN of the first
//!   record it holds (u64 LE), CRC-32 of those 24 bytes (u32 LE), 4 zero
//!   bytes. The header is on disk before the segment is used.
//! - Then batches, back to back. A batch is a 28-byte header: magic `GJB2`,
//!   body length (u32 LE), first and last LSN (u64 LE each), CRC-32 (u32 LE)
//!   of the length, the LSNs and the body; then the body: one record per
//!   LSN, in order, each the number of writes (u32 LE) and the writes (key
//!   length u32 LE, key, then 1 and value length u32 LE and value for a put,
//!   or 0 for a removal). LSNs run on without a gap from one batch to the
//!   next and from one segment to the next.
//! - A segment is filled with zeros ahead of its batches (so a sync writes
//!   data, not file-system metadata), and the zeros are made durable before
//!   a batch is written into them: a segment always ends in zeros, never
//!   inside a batch. A zero batch header ends the batches.
//! - `wal/checkpoint` holds the LSN up to which every record is in the
//!   database on disk (written after its commit returned, before any segment is
//!   deleted).
//!
//! ## Torn write or damage
//! A batch is acknowledged only once its sync returned, and the next batch
//! is written only after that. So only the **last batch of the last
//! segment** can be a write cut short by a crash, and a cut-short write
//! leaves whole sectors of the zeros it was written over (disks write a
//! sector whole or not at all). A batch that fails its checksum is dropped
//! as torn only if it is the last one (no intact batch follows it anywhere
//! in the segment) and some sector of it still holds only zeros. Anything
//! else (damage in an earlier batch or segment, a file cut short, a gap in
//! the LSNs, a segment or checkpoint missing) is damage to records that may
//! have been acknowledged, and the store refuses to open.

use std::{
    collections::BTreeMap,
    fs::{File, OpenOptions},
    io,
    os::unix::fs::FileExt,
    path::{Path, PathBuf},
    sync::Arc,
};

use super::faults::Faults;

/// Writes of one transaction: stored key → new value (`None`: removed).
pub(super) type Writes = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

/// The key under which the database keeps the LSN of the last record it applied
/// (no tree's prefix starts with a NUL byte).
pub(super) const LSN_KEY: &[u8] = b"\0wal-lsn";

/// A segment is closed and a checkpoint started once it holds this much.
/// The memtable holds at most two segments' writes.
pub(super) const SEGMENT_BYTES: u64 = 16 * 1024 * 1024;

const SEGMENT_MAGIC: &[u8; 8] = b"GJWAL02\n";
/// The size of a segment's header; its first batch starts here.
pub(super) const SEGMENT_HEADER: u64 = 32;
const BATCH_MAGIC: &[u8; 4] = b"GJB2";
const BATCH_HEADER: usize = 28;
/// What a disk writes whole or not at all.
const SECTOR: usize = 512;
/// The largest batch accepted when reading (a bigger length is damage).
const MAX_BATCH: u32 = 1 << 30;

/// One record: the writes of one transaction and its place in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Record {
    pub lsn: u64,
    pub writes: Writes,
}

/// Records committed but not yet written: the body of the next batch,
/// behind room for its header.
#[derive(Default)]
pub(super) struct Tail {
    bytes: Vec<u8>,
    first: u64,
    last: u64,
}

/// A batch ready to be written, header filled in.
pub(super) struct Batch {
    pub bytes: Vec<u8>,
    pub last: u64,
}

impl Tail {
    /// Appends the record of `writes`, numbered `lsn` (one more than the
    /// last record appended).
    pub(super) fn push(&mut self, lsn: u64, writes: &Writes) {
        if self.bytes.is_empty() {
            self.bytes.resize(BATCH_HEADER, 0);
            self.first = lsn;
        }
        self.last = lsn;
        encode_writes(writes, &mut self.bytes);
    }

    /// Takes every record appended so far as one batch (none if empty).
    pub(super) fn take(&mut self) -> Option<Batch> {
        if self.bytes.is_empty() {
            return None;
        }
        let mut bytes = std::mem::take(&mut self.bytes);
        let body = u32::try_from(bytes.len() - BATCH_HEADER).unwrap_or(u32::MAX);
        bytes[..4].copy_from_slice(BATCH_MAGIC);
        bytes[4..8].copy_from_slice(&body.to_le_bytes());
        bytes[8..16].copy_from_slice(&self.first.to_le_bytes());
        bytes[16..24].copy_from_slice(&self.last.to_le_bytes());
        let crc = batch_crc(&bytes[4..24], &bytes[BATCH_HEADER..]);
        bytes[24..28].copy_from_slice(&crc.to_le_bytes());
        Some(Batch { bytes, last: self.last })
    }
}

fn batch_crc(fields: &[u8], body: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(fields);
    hasher.update(body);
    hasher.finalize()
}

fn encode_writes(writes: &Writes, out: &mut Vec<u8>) {
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
}

fn put_u32(out: &mut Vec<u8>, n: usize) {
    // Keys and values are far below 4 GiB; a transaction is refused long before.
    out.extend_from_slice(&u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes());
}

/// The bytes of a segment's header.
fn segment_header(number: u64, first_lsn: u64) -> [u8; SEGMENT_HEADER as usize] {
    let mut header = [0u8; SEGMENT_HEADER as usize];
    header[..8].copy_from_slice(SEGMENT_MAGIC);
    header[8..16].copy_from_slice(&number.to_le_bytes());
    header[16..24].copy_from_slice(&first_lsn.to_le_bytes());
    let crc = crc32fast::hash(&header[..24]);
    header[24..28].copy_from_slice(&crc.to_le_bytes());
    header
}

/// How the batches of a segment end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// After the last batch come zeros: nothing was cut short.
    Clean,
    /// The last batch, from byte `at`, was cut short by a crash: it was
    /// never acknowledged and is dropped.
    Torn { at: u64 },
    /// Records that may have been acknowledged are damaged or missing.
    Damaged { at: u64, detail: String },
}

/// What one segment holds, as read.
#[derive(Debug, Clone)]
pub struct SegmentScan {
    /// The LSN its header names (none for a segment whose header never
    /// reached the disk: an empty file, or zeros).
    pub first_lsn: Option<u64>,
    pub batches: u64,
    pub records: u64,
    /// The LSN of its last intact record (`first_lsn - 1` without any).
    pub last_lsn: Option<u64>,
    /// Where its intact batches end.
    pub end: u64,
    pub ending: Ending,
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    let mut out = [0u8; 4];
    out.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(out)
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut out = [0u8; 8];
    out.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(out)
}

/// An intact batch header and body at `at`: its first and last LSN and
/// where it ends.
fn intact_batch_at(bytes: &[u8], at: usize) -> Option<(u64, u64, usize)> {
    let header = bytes.get(at..at + BATCH_HEADER)?;
    if &header[..4] != BATCH_MAGIC {
        return None;
    }
    let length = u32_at(header, 4);
    if length > MAX_BATCH {
        return None;
    }
    let end = at + BATCH_HEADER + length as usize;
    let body = bytes.get(at + BATCH_HEADER..end)?;
    (batch_crc(&header[4..24], body) == u32_at(header, 24)).then(|| (u64_at(header, 8), u64_at(header, 16), end))
}

/// Where an intact batch of records numbered `from` or later starts after
/// byte `after`, if any.
fn intact_batch_after(bytes: &[u8], after: usize, from: u64) -> Option<usize> {
    let mut at = after + 1;
    while at + BATCH_HEADER <= bytes.len() {
        let found = bytes[at..].windows(BATCH_MAGIC.len()).position(|w| w == BATCH_MAGIC)?;
        at += found;
        if matches!(intact_batch_at(bytes, at), Some((first, last, _)) if first >= from && last >= first) {
            return Some(at);
        }
        at += 1;
    }
    None
}

/// Whether some sector of `bytes[start..end]` holds only zeros there: the
/// mark of a write cut short over a segment's zeros.
fn has_unwritten_sector(bytes: &[u8], start: usize, end: usize) -> bool {
    let mut at = start;
    while at < end {
        let sector_end = ((at / SECTOR) + 1) * SECTOR;
        let piece_end = sector_end.min(end);
        if bytes[at..piece_end].iter().all(|b| *b == 0) {
            return true;
        }
        at = piece_end;
    }
    false
}

/// Reads the records of segment `number` from its bytes, calling `apply`
/// with each intact record in order, and says how its batches end.
pub(super) fn scan_segment(bytes: &[u8], number: u64, mut apply: impl FnMut(Record) -> Result<(), String>) -> SegmentScan {
    let damaged = |at: u64, detail: String| SegmentScan {
        first_lsn: None,
        batches: 0,
        records: 0,
        last_lsn: None,
        end: 0,
        ending: Ending::Damaged { at, detail },
    };
    let header_len = SEGMENT_HEADER as usize;
    let header = match bytes.get(..header_len) {
        Some(header) if header.iter().any(|b| *b != 0) => header,
        _ if bytes.iter().all(|b| *b == 0) => {
            // Created, but its header never reached the disk: a crash right
            // after the file was made. Nothing in it.
            return SegmentScan {
                first_lsn: None,
                batches: 0,
                records: 0,
                last_lsn: None,
                end: 0,
                ending: Ending::Clean,
            };
        }
        _ => {
            return damaged(
                0,
                "the segment header is missing (the file is too short or starts with zeros)".into(),
            )
        }
    };
    if &header[..8] != SEGMENT_MAGIC {
        return damaged(
            0,
            "this is not a segment of this version's log (its header is damaged, or it was written by an older version)".into(),
        );
    }
    if crc32fast::hash(&header[..24]) != u32_at(header, 24) {
        return damaged(0, "the segment header fails its checksum".into());
    }
    if u64_at(header, 8) != number {
        return damaged(0, format!("the header names segment {}, not {number}", u64_at(header, 8)));
    }
    let first_lsn = u64_at(header, 16);
    let mut scan = SegmentScan {
        first_lsn: Some(first_lsn),
        batches: 0,
        records: 0,
        last_lsn: first_lsn.checked_sub(1),
        end: SEGMENT_HEADER,
        ending: Ending::Clean,
    };
    let mut at = header_len;
    let mut expected = first_lsn;
    loop {
        let Some(batch_header) = bytes.get(at..at + BATCH_HEADER) else {
            scan.ending = Ending::Damaged {
                at: at as u64,
                detail: format!(
                    "the file ends at byte {} without the zeros a segment always keeps after its batches: it was cut short",
                    bytes.len()
                ),
            };
            return scan;
        };
        if batch_header.iter().all(|b| *b == 0) {
            // The end of the batches, unless intact batches follow the zeros.
            if let Some(next) = intact_batch_after(bytes, at, expected) {
                scan.ending = Ending::Damaged {
                    at: at as u64,
                    detail: format!("zeros where a batch should be, yet an intact batch follows at byte {next}"),
                };
            } else if bytes[at..].iter().any(|b| *b != 0) {
                // A last write whose first sector never reached the disk.
                scan.ending = Ending::Torn { at: at as u64 };
            }
            return scan;
        }
        match intact_batch_at(bytes, at) {
            Some((first, last, end)) => {
                if first != expected || last < first {
                    scan.ending = Ending::Damaged {
                        at: at as u64,
                        detail: format!("the batch holds records {first}..={last}, but record {expected} comes next: records are missing"),
                    };
                    return scan;
                }
                let body = &bytes[at + BATCH_HEADER..end];
                if let Err(detail) = decode_records(body, first, last, &mut apply) {
                    scan.ending = Ending::Damaged { at: at as u64, detail };
                    return scan;
                }
                scan.batches += 1;
                scan.records += last - first + 1;
                scan.last_lsn = Some(last);
                scan.end = end as u64;
                expected = last + 1;
                at = end;
            }
            None => {
                scan.ending = classify_bad_batch(bytes, at, expected);
                return scan;
            }
        }
    }
}

/// A batch at `at` that is not intact: torn if it is the last thing written
/// and shows an unwritten sector, else damage.
fn classify_bad_batch(bytes: &[u8], at: usize, expected: u64) -> Ending {
    let claimed = u32_at(bytes, at + 4);
    let claimed_end = at.saturating_add(BATCH_HEADER).saturating_add(claimed as usize);
    if &bytes[at..at + 4] == BATCH_MAGIC && claimed <= MAX_BATCH && claimed_end > bytes.len() {
        return Ending::Damaged {
            at: at as u64,
            detail: format!(
                "the batch claims {claimed} bytes, past the end of the file at byte {}: the file was cut short, or the length is damaged",
                bytes.len()
            ),
        };
    }
    if let Some(next) = intact_batch_after(bytes, at, expected) {
        return Ending::Damaged {
            at: at as u64,
            detail: format!("the batch fails its checksum, and an intact batch follows at byte {next}: damage, not a write cut short"),
        };
    }
    let extent_end = if &bytes[at..at + 4] == BATCH_MAGIC && claimed_end <= bytes.len() {
        claimed_end
    } else {
        bytes
            .iter()
            .rposition(|b| *b != 0)
            .map_or(at, |last| last + 1)
            .max(at + BATCH_HEADER)
    };
    if has_unwritten_sector(bytes, at, extent_end) {
        Ending::Torn { at: at as u64 }
    } else {
        Ending::Damaged {
            at: at as u64,
            detail: "the last batch fails its checksum, but every sector of it was written: damage, not a write cut short".into(),
        }
    }
}

fn decode_records(body: &[u8], first: u64, last: u64, apply: &mut impl FnMut(Record) -> Result<(), String>) -> Result<(), String> {
    let mut rest = body;
    for lsn in first..=last {
        let writes = decode_writes(&mut rest).map_err(|e| format!("record {lsn}: {e}"))?;
        apply(Record { lsn, writes })?;
    }
    if !rest.is_empty() {
        return Err(format!("{} bytes after record {last}", rest.len()));
    }
    Ok(())
}

fn decode_writes(rest: &mut &[u8]) -> Result<Writes, String> {
    let count = take_u32(rest)?;
    let mut writes = Writes::new();
    for _ in 0..count {
        let key_len = take_u32(rest)? as usize;
        let key = take(rest, key_len)?.to_vec();
        let value = match take(rest, 1)?[0] {
            0 => None,
            1 => {
                let value_len = take_u32(rest)? as usize;
                Some(take(rest, value_len)?.to_vec())
            }
            tag => return Err(format!("unknown write tag {tag}")),
        };
        writes.insert(key, value);
    }
    Ok(writes)
}

fn take<'a>(rest: &mut &'a [u8], n: usize) -> Result<&'a [u8], String> {
    if rest.len() < n {
        return Err("the record ends inside a write".into());
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

/// Creates segment `number`, whose first record will be `first_lsn`, and
/// makes its header and its directory entry durable.
pub(super) fn create_segment(dir: &Path, number: u64, first_lsn: u64, faults: Arc<Faults>) -> io::Result<SegmentFile> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(segment_path(dir, number))?;
    let mut segment = SegmentFile {
        file,
        written: SEGMENT_HEADER,
        zeroed: 0,
        faults,
    };
    segment.zero_ahead(SEGMENT_HEADER)?;
    segment.file.write_all_at(&segment_header(number, first_lsn), 0)?;
    segment.file.sync_data()?;
    sync_dir(dir)?;
    Ok(segment)
}

/// How far ahead of the batches a segment is filled with zeros.
const ZERO_AHEAD: u64 = 1024 * 1024;

/// A segment being written: its header and batches from its start, zeros
/// ahead of them. Overwriting blocks already allocated lets a sync write
/// data alone, not the file system's journal.
pub(super) struct SegmentFile {
    file: File,
    /// Bytes of header and batches written.
    written: u64,
    /// The file's length: batches, then zeros.
    zeroed: u64,
    faults: Arc<Faults>,
}

impl SegmentFile {
    /// Bytes of header and batches written.
    pub(super) fn written(&self) -> u64 {
        self.written
    }

    /// Makes sure zeros lie on disk beyond `end` (at least a batch header's
    /// worth), so that a segment never ends inside a batch.
    fn zero_ahead(&mut self, end: u64) -> io::Result<()> {
        if end + BATCH_HEADER as u64 <= self.zeroed {
            return Ok(());
        }
        let target = end.div_ceil(ZERO_AHEAD) * ZERO_AHEAD + ZERO_AHEAD;
        let zeros = vec![0u8; usize::try_from(target - self.zeroed).unwrap_or(usize::MAX)];
        self.file.write_all_at(&zeros, self.zeroed)?;
        self.file.sync_data()?;
        self.zeroed = target;
        Ok(())
    }

    /// Writes `batch` after the last one and waits until it is on disk.
    pub(super) fn append_durably(&mut self, batch: &[u8]) -> io::Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        self.faults.before_log_write()?;
        let end = self.written + batch.len() as u64;
        self.zero_ahead(end)?;
        self.file.write_all_at(batch, self.written)?;
        self.written = end;
        self.file.sync_data()
    }
}

/// Makes the directory's entries (files created or removed) durable.
pub(super) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// The file that records the last checkpoint.
pub(super) fn checkpoint_path(dir: &Path) -> PathBuf {
    dir.join("checkpoint")
}

const CHECKPOINT_MAGIC: &[u8; 4] = b"GJCP";

/// The LSN up to which the database held every record on disk at the last
/// checkpoint (none if no checkpoint was ever recorded).
pub(super) fn read_checkpoint(dir: &Path) -> Result<Option<u64>, String> {
    let path = checkpoint_path(dir);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("reading {}: {e}", path.display())),
    };
    if bytes.len() != 16 || &bytes[..4] != CHECKPOINT_MAGIC || crc32fast::hash(&bytes[..12]) != u32_at(&bytes, 12) {
        return Err(format!("{} is damaged", path.display()));
    }
    Ok(Some(u64_at(&bytes, 4)))
}

/// Records that the database holds every record up to `lsn` on disk: written to a
/// new file, synced, renamed over the old one, the directory synced.
pub(super) fn write_checkpoint(dir: &Path, lsn: u64) -> io::Result<()> {
    let mut bytes = Vec::with_capacity(16);
    bytes.extend_from_slice(CHECKPOINT_MAGIC);
    bytes.extend_from_slice(&lsn.to_le_bytes());
    let crc = crc32fast::hash(&bytes);
    bytes.extend_from_slice(&crc.to_le_bytes());
    let temporary = dir.join("checkpoint.new");
    let file = File::create(&temporary)?;
    file.write_all_at(&bytes, 0)?;
    file.sync_all()?;
    std::fs::rename(&temporary, checkpoint_path(dir))?;
    sync_dir(dir)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    pub(in crate::store) fn writes(items: &[(&[u8], Option<&[u8]>)]) -> Writes {
        items.iter().map(|(k, v)| (k.to_vec(), v.map(<[u8]>::to_vec))).collect()
    }

    /// A segment image: header, the batches of `records` (LSNs from
    /// `first`, `per_batch` records each), then `zeros` zero bytes.
    pub(in crate::store) fn image(number: u64, first: u64, records: &[Writes], per_batch: usize, zeros: usize) -> Vec<u8> {
        let mut bytes = segment_header(number, first).to_vec();
        let mut lsn = first;
        for chunk in records.chunks(per_batch.max(1)) {
            let mut tail = Tail::default();
            for writes in chunk {
                tail.push(lsn, writes);
                lsn += 1;
            }
            bytes.extend_from_slice(&tail.take().expect("a batch").bytes);
        }
        bytes.resize(bytes.len() + zeros, 0);
        bytes
    }

    fn read_all(bytes: &[u8], number: u64) -> (Vec<Record>, SegmentScan) {
        let mut seen = Vec::new();
        let scan = scan_segment(bytes, number, |r| {
            seen.push(r);
            Ok(())
        });
        (seen, scan)
    }

    fn some_records(n: usize) -> Vec<Writes> {
        (0..n)
            .map(|i| {
                let key = format!("key-{i}");
                let value = vec![b'v'; 100 + i * 37];
                writes(&[(key.as_bytes(), Some(&value)), (b"gone", None)])
            })
            .collect()
    }

    #[test]
    fn records_read_back_as_written_in_batches() {
        let records = some_records(7);
        let bytes = image(3, 40, &records, 3, 4096);
        let (seen, scan) = read_all(&bytes, 3);
        assert_eq!(scan.ending, Ending::Clean);
        assert_eq!(
            (scan.first_lsn, scan.last_lsn, scan.batches, scan.records),
            (Some(40), Some(46), 3, 7)
        );
        assert_eq!(seen.iter().map(|r| r.lsn).collect::<Vec<_>>(), (40..=46).collect::<Vec<_>>());
        assert_eq!(seen.into_iter().map(|r| r.writes).collect::<Vec<_>>(), records);
    }

    #[test]
    fn an_empty_file_is_a_segment_whose_header_never_reached_the_disk() {
        for bytes in [Vec::new(), vec![0u8; 4096]] {
            let (seen, scan) = read_all(&bytes, 1);
            assert!(seen.is_empty());
            assert_eq!((scan.first_lsn, scan.ending), (None, Ending::Clean));
        }
    }

    /// The end of the last batch in an image with `zeros` zeros after it.
    fn batches_end(bytes: &[u8]) -> usize {
        bytes.iter().rposition(|b| *b != 0).map_or(0, |at| at + 1)
    }

    #[test]
    fn a_last_batch_cut_short_over_the_zeros_is_torn() {
        let records = some_records(12);
        let whole = image(1, 1, &records[..8], 4, 0).len();
        let mut bytes = image(1, 1, &records, 4, 8192);
        let end = batches_end(&bytes);
        // The sector holding the last batch's end never reached the disk.
        let last_sector = ((end - 1) / SECTOR) * SECTOR;
        assert!(last_sector > whole, "the last batch spans sectors");
        bytes[last_sector..end].fill(0);
        let (seen, scan) = read_all(&bytes, 1);
        assert_eq!(scan.ending, Ending::Torn { at: whole as u64 });
        assert_eq!(seen.len(), 8, "the intact batches are read");
        assert_eq!(scan.last_lsn, Some(8));

        // Its first sector missing instead (the header): torn as well.
        let mut bytes = image(1, 1, &records, 4, 8192);
        let first_sector_end = (whole / SECTOR + 1) * SECTOR;
        bytes[whole..first_sector_end].fill(0);
        let (_, scan) = read_all(&bytes, 1);
        assert_eq!(scan.ending, Ending::Torn { at: whole as u64 });
    }

    #[test]
    fn damage_before_an_intact_batch_is_damage() {
        let records = some_records(12);
        let second = image(1, 1, &records[..4], 4, 0).len();
        for flip in [second + 5, second + 40, second + 400] {
            let mut bytes = image(1, 1, &records, 4, 8192);
            bytes[flip] ^= 0x5a;
            let (seen, scan) = read_all(&bytes, 1);
            assert_eq!(seen.len(), 4, "flip at {flip}");
            assert!(
                matches!(&scan.ending, Ending::Damaged { at, .. } if *at == second as u64),
                "flip at {flip}: {:?}",
                scan.ending
            );
        }
        // A whole sector of zeros in the middle is damage too.
        let mut bytes = image(1, 1, &records, 4, 8192);
        bytes[1024..1536].fill(0);
        let (_, scan) = read_all(&bytes, 1);
        assert!(matches!(scan.ending, Ending::Damaged { .. }), "{:?}", scan.ending);
    }

    #[test]
    fn a_damaged_last_batch_with_every_sector_written_is_damage() {
        let records = some_records(8);
        let mut bytes = image(1, 1, &records, 4, 8192);
        let end = batches_end(&bytes);
        bytes[end - 3] ^= 0x01;
        let (_, scan) = read_all(&bytes, 1);
        assert!(matches!(scan.ending, Ending::Damaged { .. }), "{:?}", scan.ending);
        // A length field made larger than the file.
        let mut bytes = image(1, 1, &records, 4, 8192);
        let last = image(1, 1, &records[..4], 4, 0).len();
        bytes[last + 6] = 0x7f;
        let (_, scan) = read_all(&bytes, 1);
        assert!(
            matches!(&scan.ending, Ending::Damaged { detail, .. } if detail.contains("past the end")),
            "{:?}",
            scan.ending
        );
    }

    #[test]
    fn a_file_cut_short_is_damage_wherever_it_is_cut() {
        let records = some_records(8);
        let bytes = image(1, 1, &records, 4, 8192);
        let end = batches_end(&bytes);
        for cut in [end, end - 1, end - 200, 700] {
            let (_, scan) = read_all(&bytes[..cut], 1);
            assert!(matches!(scan.ending, Ending::Damaged { .. }), "cut at {cut}: {:?}", scan.ending);
        }
    }

    #[test]
    fn a_gap_in_the_numbers_is_damage() {
        let records = some_records(4);
        let mut bytes = image(1, 1, &records[..2], 2, 0);
        let later = image(1, 10, &records[2..], 2, 4096);
        bytes.extend_from_slice(&later[SEGMENT_HEADER as usize..]);
        let (seen, scan) = read_all(&bytes, 1);
        assert_eq!(seen.len(), 2);
        assert!(
            matches!(&scan.ending, Ending::Damaged { detail, .. } if detail.contains("missing")),
            "{:?}",
            scan.ending
        );
    }

    #[test]
    fn a_segment_of_another_number_or_format_is_damage() {
        let bytes = image(4, 1, &some_records(1), 1, 4096);
        assert!(matches!(read_all(&bytes, 5).1.ending, Ending::Damaged { at: 0, .. }));
        let mut old = bytes.clone();
        old[..8].copy_from_slice(b"\x10\0\0\0abcd");
        assert!(matches!(read_all(&old, 4).1.ending, Ending::Damaged { at: 0, .. }));
    }

    #[test]
    fn a_new_segment_is_on_disk_with_its_header_and_zeros() {
        let dir = tempfile::tempdir().unwrap();
        let mut file = create_segment(dir.path(), 7, 100, Arc::default()).unwrap();
        let mut tail = Tail::default();
        tail.push(100, &writes(&[(b"k", Some(b"v"))]));
        tail.push(101, &writes(&[(b"k", None)]));
        file.append_durably(&tail.take().unwrap().bytes).unwrap();
        assert!(tail.take().is_none(), "taken");
        let bytes = std::fs::read(segment_path(dir.path(), 7)).unwrap();
        assert_eq!(bytes.len() as u64, 2 * ZERO_AHEAD);
        let (seen, scan) = read_all(&bytes, 7);
        assert_eq!(scan.ending, Ending::Clean);
        assert_eq!(seen.iter().map(|r| r.lsn).collect::<Vec<_>>(), vec![100, 101]);
    }

    #[test]
    fn the_checkpoint_file_reads_back_and_refuses_damage() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_checkpoint(dir.path()), Ok(None));
        write_checkpoint(dir.path(), 4242).unwrap();
        assert_eq!(read_checkpoint(dir.path()), Ok(Some(4242)));
        let path = checkpoint_path(dir.path());
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[5] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        assert!(read_checkpoint(dir.path()).unwrap_err().contains("damaged"));
    }

    #[test]
    fn segments_are_listed_oldest_first_ignoring_other_files() {
        let dir = tempfile::tempdir().unwrap();
        for n in [10u64, 2, 33] {
            create_segment(dir.path(), n, 1, Arc::default()).unwrap();
        }
        std::fs::write(dir.path().join("notes.txt"), b"x").unwrap();
        write_checkpoint(dir.path(), 1).unwrap();
        let numbers: Vec<u64> = segments(dir.path()).unwrap().into_iter().map(|(n, _)| n).collect();
        assert_eq!(numbers, vec![2, 10, 33]);
    }
}
