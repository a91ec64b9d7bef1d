//! Opening a data directory: the log is checked against the checkpoint and
//! the database before anything is served, and replayed into the database
//! where it holds records the database lacks. The same reading, without
//! applying anything, is what `gongji doctor` reports.
//!
//! A data directory starts only if every record that may have been
//! acknowledged is there: the segments run on without a gap from the last
//! checkpoint, each one whole, and the database holds at least what the
//! checkpoint file says it does. Only a last write cut short by a crash
//! (see `wal`) is dropped, with a warning.

use std::{
    fmt, io,
    path::{Path, PathBuf},
};

use super::wal::{self, Ending, Record, SegmentScan};

/// Damage found in a data directory: which file, where, what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    pub file: PathBuf,
    pub at: Option<u64>,
    pub detail: String,
}

impl fmt::Display for Damage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.at {
            Some(at) => write!(f, "{} at byte {at}: {}", self.file.display(), self.detail),
            None => write!(f, "{}: {}", self.file.display(), self.detail),
        }
    }
}

/// One segment as found.
#[derive(Debug, Clone)]
pub struct SegmentReport {
    pub number: u64,
    pub path: PathBuf,
    pub bytes: u64,
    pub scan: SegmentScan,
}

/// What the log of a data directory holds, checked.
#[derive(Debug, Clone, Default)]
pub struct LogReport {
    /// The LSN the checkpoint file records (none: no checkpoint yet).
    pub checkpoint: Option<u64>,
    pub segments: Vec<SegmentReport>,
    /// The LSN the next record takes.
    pub next_lsn: u64,
    /// A last write cut short by a crash, dropped: the segment and where.
    pub torn: Option<(PathBuf, u64)>,
    /// Damage that stops the directory from opening.
    pub damage: Option<Damage>,
}

/// Reads and checks the log in `dir`, calling `apply` with every intact
/// record numbered above `database_lsn` (the last record the database
/// holds; `None` when it is not known, as in `gongji doctor`, and then
/// nothing is applied). Stops at the first damage, reporting it.
pub(super) fn examine_log(
    dir: &Path,
    database_lsn: Option<u64>,
    mut apply: impl FnMut(Record) -> Result<(), String>,
) -> io::Result<LogReport> {
    let mut report = LogReport::default();
    let damage = |file: &Path, at: Option<u64>, detail: String| Damage {
        file: file.to_owned(),
        at,
        detail,
    };
    report.checkpoint = match wal::read_checkpoint(dir) {
        Ok(checkpoint) => checkpoint,
        Err(detail) => {
            report.damage = Some(damage(&wal::checkpoint_path(dir), None, detail));
            return Ok(report);
        }
    };
    let checkpoint = report.checkpoint.unwrap_or(0);
    let held = database_lsn.unwrap_or(checkpoint);
    report.next_lsn = held.max(checkpoint) + 1;
    if let Some(database) = database_lsn.filter(|lsn| *lsn < checkpoint) {
        report.damage = Some(damage(
            dir.parent().unwrap_or(dir),
            None,
            format!(
                "the database holds records up to {database}, but the checkpoint file says it held every record up to {checkpoint}: \
                 its files are missing, or older than the log"
            ),
        ));
        return Ok(report);
    }
    let found = match wal::segments(dir) {
        Ok(found) => found,
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e),
    };
    if found.is_empty() {
        if report.checkpoint.is_some() || held > 0 {
            report.damage = Some(damage(
                dir,
                None,
                format!(
                    "no log segment, but the database holds records up to {held}: the log was deleted, and whatever was written \
                     after the last checkpoint is lost"
                ),
            ));
        }
        return Ok(report);
    }
    let skip = database_lsn.unwrap_or(u64::MAX);
    let mut expected: Option<u64> = None;
    for (i, (number, path)) in found.iter().enumerate() {
        let last = i + 1 == found.len();
        let bytes = std::fs::read(path)?;
        let scan = wal::scan_segment(&bytes, *number, |record| if record.lsn > skip { apply(record) } else { Ok(()) });
        let first = scan.first_lsn;
        let ending = scan.ending.clone();
        let last_lsn = scan.last_lsn;
        report.segments.push(SegmentReport {
            number: *number,
            path: path.clone(),
            bytes: bytes.len() as u64,
            scan,
        });
        match (first, expected) {
            (None, _) if !last => {
                report.damage = Some(damage(path, Some(0), "the segment has no header, yet later segments exist".into()));
                return Ok(report);
            }
            (None, _) => {}
            (Some(first), None) if first > checkpoint + 1 => {
                report.damage = Some(damage(
                    path,
                    Some(0),
                    format!(
                        "the log starts at record {first}, but the last checkpoint holds records only up to {checkpoint}: \
                         records {}..={} are missing (a segment was deleted?)",
                        checkpoint + 1,
                        first - 1
                    ),
                ));
                return Ok(report);
            }
            (Some(first), Some(expected)) if first != expected => {
                report.damage = Some(damage(
                    path,
                    Some(0),
                    format!(
                        "the segment starts at record {first}, but the segment before it ends at record {}: a segment is missing or damaged",
                        expected.saturating_sub(1)
                    ),
                ));
                return Ok(report);
            }
            _ => {}
        }
        expected = Some(last_lsn.map(|lsn| lsn + 1).or(first).or(expected).unwrap_or(checkpoint + 1));
        match ending {
            Ending::Clean => {}
            Ending::Torn { at } if last => report.torn = Some((path.clone(), at)),
            Ending::Torn { at } => {
                report.damage = Some(damage(
                    path,
                    Some(at),
                    "the segment ends in a write cut short, yet later segments exist (their records were written after it)".into(),
                ));
                return Ok(report);
            }
            Ending::Damaged { at, detail } => {
                report.damage = Some(damage(path, Some(at), detail));
                return Ok(report);
            }
        }
    }
    let log_end = expected.unwrap_or(checkpoint + 1);
    if let Some(database) = database_lsn.filter(|lsn| *lsn >= log_end) {
        let (number, path) = found.last().expect("segments were found");
        report.damage = Some(damage(
            path,
            None,
            format!(
                "the database holds records up to {database}, but the log (segment {number} the last) ends at record {}: \
                 the newest segments are missing",
                log_end - 1
            ),
        ));
        return Ok(report);
    }
    report.next_lsn = report.next_lsn.max(log_end);
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::wal::tests::{image, writes};

    fn records(n: usize) -> Vec<wal::Writes> {
        (0..n)
            .map(|i| writes(&[(format!("k{i}").as_bytes(), Some(&[b'v'; 300][..]))]))
            .collect()
    }

    fn examine(dir: &Path, database: Option<u64>) -> (LogReport, Vec<u64>) {
        let mut applied = Vec::new();
        let report = examine_log(dir, database, |r| {
            applied.push(r.lsn);
            Ok(())
        })
        .unwrap();
        (report, applied)
    }

    #[test]
    fn segments_after_a_checkpoint_replay_what_the_database_lacks() {
        let dir = tempfile::tempdir().unwrap();
        wal::write_checkpoint(dir.path(), 10).unwrap();
        std::fs::write(wal::segment_path(dir.path(), 3), image(3, 11, &records(5), 2, 4096)).unwrap();
        std::fs::write(wal::segment_path(dir.path(), 4), image(4, 16, &records(3), 2, 4096)).unwrap();
        let (report, applied) = examine(dir.path(), Some(13));
        assert_eq!(report.damage, None);
        assert_eq!(applied, vec![14, 15, 16, 17, 18]);
        assert_eq!(report.next_lsn, 19);
        let (report, applied) = examine(dir.path(), None);
        assert_eq!((report.damage, applied, report.next_lsn), (None, vec![], 19));
    }

    #[test]
    fn a_missing_segment_a_lost_database_and_a_lost_log_are_damage() {
        let dir = tempfile::tempdir().unwrap();
        wal::write_checkpoint(dir.path(), 10).unwrap();
        std::fs::write(wal::segment_path(dir.path(), 3), image(3, 11, &records(5), 2, 4096)).unwrap();
        std::fs::write(wal::segment_path(dir.path(), 5), image(5, 20, &records(3), 2, 4096)).unwrap();
        let (report, _) = examine(dir.path(), Some(10));
        let damage = report.damage.expect("a gap between segments");
        assert!(damage.detail.contains("segment is missing"), "{damage}");

        std::fs::remove_file(wal::segment_path(dir.path(), 3)).unwrap();
        let (report, _) = examine(dir.path(), Some(10));
        assert!(report.damage.expect("records 11..=19 gone").detail.contains("11..=19"));

        let (report, _) = examine(dir.path(), Some(0));
        assert!(report
            .damage
            .expect("database files gone")
            .detail
            .contains("database holds records up to 0"));

        std::fs::remove_file(wal::segment_path(dir.path(), 5)).unwrap();
        let (report, _) = examine(dir.path(), Some(10));
        assert!(report.damage.expect("log gone").detail.contains("no log segment"));
    }

    #[test]
    fn a_database_ahead_of_the_log_means_the_newest_segments_are_missing() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(wal::segment_path(dir.path(), 1), image(1, 1, &records(5), 2, 4096)).unwrap();
        let (report, _) = examine(dir.path(), Some(9));
        assert!(report.damage.expect("newest gone").detail.contains("newest segments"));
        let (report, applied) = examine(dir.path(), Some(5));
        assert_eq!((report.damage, applied.len(), report.next_lsn), (None, 0, 6));
    }

    #[test]
    fn a_torn_write_is_dropped_only_in_the_last_segment() {
        let dir = tempfile::tempdir().unwrap();
        let mut torn = image(1, 1, &records(4), 2, 4096);
        let end = torn.iter().rposition(|b| *b != 0).unwrap() + 1;
        let cut = (end - 1) / 512 * 512;
        let whole = image(1, 1, &records(2), 2, 0).len();
        assert!(cut > whole, "the last batch spans a sector boundary");
        torn[cut..end].fill(0);
        std::fs::write(wal::segment_path(dir.path(), 1), &torn).unwrap();
        let (report, applied) = examine(dir.path(), Some(0));
        assert_eq!(report.damage, None);
        assert_eq!(report.torn.as_ref().map(|(_, at)| *at), Some(whole as u64));
        assert_eq!((applied, report.next_lsn), (vec![1, 2], 3));

        std::fs::write(wal::segment_path(dir.path(), 2), image(2, 3, &records(1), 1, 4096)).unwrap();
        let (report, _) = examine(dir.path(), Some(0));
        assert!(report.damage.expect("not the last").detail.contains("later segments"));
    }
}
