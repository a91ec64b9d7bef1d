//! `gongji doctor DATA_DIR`: what a stopped server's data directory holds,
//! read without changing anything, and whether the server would start on
//! it. Given a devnet's data directory (which holds `hub/` and
//! `province-NN/`), it examines each one.

use std::{
    io::Write,
    path::{Path, PathBuf},
};

use gongji_common::store::{self, Ending, Examination};

use crate::{
    args::DoctorArgs,
    error::{CliError, EXIT_FAILED, EXIT_OK},
};

/// Examines the directories and prints what it found; exits 1 if any would
/// not start.
pub fn command(args: DoctorArgs, out: &mut dyn Write) -> Result<u8, CliError> {
    let dirs = data_dirs(&args.data_dir)?;
    let mut refused = 0;
    for (i, dir) in dirs.iter().enumerate() {
        if i > 0 {
            writeln!(out).map_err(write_error)?;
        }
        let found = store::examine(dir).map_err(|e| CliError::Other(e.to_string()))?;
        print(&found, out).map_err(write_error)?;
        if !found.opens() {
            refused += 1;
        }
    }
    if dirs.len() > 1 {
        writeln!(out, "\n{} data directories, {refused} damaged", dirs.len()).map_err(write_error)?;
    }
    Ok(if refused == 0 { EXIT_OK } else { EXIT_FAILED })
}

fn write_error(e: std::io::Error) -> CliError {
    CliError::from(e)
}

/// `path` itself if it is a data directory (or anything but a devnet's
/// parent directory), else the data directories in it.
fn data_dirs(path: &Path) -> Result<Vec<PathBuf>, CliError> {
    let entries = std::fs::read_dir(path).map_err(|e| CliError::Other(format!("cannot read {}: {e}", path.display())))?;
    let is_data_dir = |dir: &Path| dir.join("FORMAT").exists() || dir.join("wal").is_dir();
    if is_data_dir(path) {
        return Ok(vec![path.to_owned()]);
    }
    let mut inside: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir() && is_data_dir(p))
        .collect();
    inside.sort();
    if inside.is_empty() {
        return Err(CliError::Usage(format!(
            "{} is no data directory (no FORMAT file, no wal/) and holds none: give a server's --data-dir, or a devnet's data directory",
            path.display()
        )));
    }
    Ok(inside)
}

fn print(found: &Examination, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(out, "data directory  {}", found.path.display())?;
    match (&found.format, found.format_ok) {
        (Some(format), true) => writeln!(out, "format          {format}")?,
        (Some(format), false) => writeln!(out, "format          {format} (NOT this version's: it will not open)")?,
        (None, _) => writeln!(
            out,
            "format          none (written by an older version, or no data directory: it will not open)"
        )?,
    }
    let bytes: u64 = found.database_files.iter().map(|(_, size)| size).sum();
    writeln!(out, "database files  {} ({bytes} bytes)", found.database_files.len())?;
    match found.log.checkpoint {
        Some(lsn) => writeln!(out, "checkpoint      the database holds every record up to {lsn}")?,
        None => writeln!(out, "checkpoint      none recorded yet (the log holds every record)")?,
    }
    for segment in &found.log.segments {
        let scan = &segment.scan;
        let records = match (scan.first_lsn, scan.last_lsn) {
            (Some(first), Some(last)) if last >= first => {
                format!("records {first}..={last} ({} in {} batches)", scan.records, scan.batches)
            }
            (Some(first), _) => format!("no records yet (the next is {first})"),
            (None, _) => "no header (created just before a crash)".to_owned(),
        };
        let ending = match &scan.ending {
            Ending::Clean => "ends cleanly".to_owned(),
            Ending::Torn { at } => format!("ends in a write cut short at byte {at} (never acknowledged: dropped at start)"),
            Ending::Damaged { at, .. } => format!("DAMAGED at byte {at}"),
        };
        writeln!(
            out,
            "log segment     {}  {} bytes  {records}  {ending}",
            file_name(&segment.path),
            segment.bytes
        )?;
    }
    if found.log.segments.is_empty() {
        writeln!(out, "log segment     none")?;
    }
    match &found.log.damage {
        None if found.format_ok => writeln!(
            out,
            "verdict         starts: every record that may have been acknowledged is there (the next record is {})",
            found.log.next_lsn
        ),
        None => writeln!(out, "verdict         does not start: not a data directory of this version"),
        Some(damage) => {
            writeln!(out, "verdict         DOES NOT START: {damage}")?;
            writeln!(
                out,
                "what to do      records that were acknowledged may be missing. Restore the data directory from a backup or a copy; \
                 only if you accept losing them, move the damaged file aside, start the server and run `gongji audit` on the \
                 whole network"
            )
        }
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned())
}
