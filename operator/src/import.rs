//! `gongji import FILE.csv`: streams the persons of a CSV file to a node's
//! ImportPersons RPC, each row with its line number. A row whose insurance
//! type or status is not a known word cannot become a request, so it is
//! rejected here and not sent; everything else is checked by the node. The
//! summary lists every rejected line, from either side. Progress (rows
//! read) goes to standard error.

use std::{
    fs::File,
    io::{Read, Write},
    path::Path,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
};

use gongji_proto::v1 as pb;
use tokio::sync::mpsc;
use tokio_stream::Stream;

use crate::{
    args::ImportArgs,
    error::{CliError, EXIT_FAILED, EXIT_OK},
    output::Fields,
    progress::{self, Display, Progress},
    session::Session,
};

/// The header every import file has (in any column order).
pub const HEADER: [&str; 5] = ["id", "name", "insurance_type", "region_code", "status"];

/// Rows handed to the call at once. A row is a gRPC message of some sixty
/// bytes; rows that are ready together are sent in one HTTP/2 DATA frame,
/// and a node answers a flood of tiny frames, sent faster than it stores
/// the rows, by closing the connection (h2's "too_many_data_frames").
const ROWS_A_CHUNK: usize = 256;
/// Chunks read ahead of the node.
const CHUNKS_IN_FLIGHT: usize = 4;

/// A row refused, by the CLI or by the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub line: u64,
    pub person_id: String,
    pub field: String,
    pub message: String,
}

impl From<pb::ImportError> for Rejection {
    fn from(e: pb::ImportError) -> Rejection {
        Rejection {
            line: e.line,
            person_id: e.person_id,
            field: e.field,
            message: e.message,
        }
    }
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}", self.line)?;
        if !self.person_id.is_empty() {
            write!(f, " ({})", self.person_id)?;
        }
        if self.field.is_empty() {
            write!(f, ": {}", self.message)
        } else {
            write!(f, ": {}: {}", self.field, self.message)
        }
    }
}

/// Where each header column is.
#[derive(Debug, Clone, Copy)]
struct Columns {
    id: usize,
    name: usize,
    insurance_type: usize,
    region_code: usize,
    status: usize,
    count: usize,
}

impl Columns {
    fn find(header: &csv::StringRecord) -> Result<Columns, String> {
        let index = |name: &str| {
            header
                .iter()
                .position(|h| h.eq_ignore_ascii_case(name))
                .ok_or_else(|| format!("the header has no {name:?} column (expected the header {:?})", HEADER.join(",")))
        };
        Ok(Columns {
            id: index("id")?,
            name: index("name")?,
            insurance_type: index("insurance_type")?,
            region_code: index("region_code")?,
            status: index("status")?,
            count: header.len(),
        })
    }
}

/// What reading the file gave besides the rows sent.
#[derive(Debug, Default)]
struct Reading {
    rejected: Vec<Rejection>,
    /// Why reading stopped before the end of the file, if it did.
    stopped: Option<String>,
}

pub async fn import(
    session: &Session,
    args: ImportArgs,
    display: Display,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<u8, CliError> {
    let path = args.file.clone();
    let file = File::open(&path).map_err(|e| CliError::Other(format!("cannot open {}: {e}", path.display())))?;
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).flexible(true).from_reader(file);
    let header = reader
        .headers()
        .map_err(|e| CliError::Other(format!("cannot read the header of {}: {e}", path.display())))?;
    let columns = Columns::find(header).map_err(|e| CliError::Other(format!("{}: {e}", path.display())))?;

    let mut node = session.node(&args.node).await?;
    let (rows, receiver) = mpsc::channel(CHUNKS_IN_FLIGHT);
    // Lines, not rows (a quoted field may hold a line break): an estimate.
    let lines = count_lines(&path).map(|n| n.saturating_sub(1));
    let mut progress = Progress::start(display, format!("importing {}", path.display()), Some("rows"), lines).estimated();
    let read = Arc::new(AtomicU64::new(0));
    // csv reads synchronously: a blocking thread feeds the stream, so a large
    // file is never held in memory.
    let reading = {
        let read = Arc::clone(&read);
        tokio::task::spawn_blocking(move || read_rows(reader, columns, rows, &read))
    };
    let answer = node.import_persons(Rows {
        chunks: receiver,
        ready: Vec::new().into_iter(),
    });
    tokio::pin!(answer);
    let mut ticks = tokio::time::interval(progress::TICK);
    let answer = loop {
        tokio::select! {
            answer = &mut answer => break answer,
            _ = ticks.tick() => progress.update(read.load(Ordering::Relaxed), err),
        }
    };
    let reading = reading
        .await
        .map_err(|e| CliError::Other(format!("reading {} failed: {e}", path.display())))?;
    progress.update(read.load(Ordering::Relaxed), err);
    progress.finish(err);
    let summary = answer.map_err(CliError::call)?.into_inner();
    write_summary(out, &path, summary, reading)
}

/// How many lines `path` has, or nothing if it cannot be read.
fn count_lines(path: &Path) -> Option<u64> {
    let mut file = File::open(path).ok()?;
    let mut buffer = vec![0u8; 1 << 16];
    let mut lines = 0u64;
    loop {
        let n = file.read(&mut buffer).ok()?;
        if n == 0 {
            return Some(lines);
        }
        lines += buffer[..n].iter().filter(|b| **b == b'\n').count() as u64;
    }
}

fn write_summary(out: &mut dyn Write, path: &Path, summary: pb::ImportSummary, reading: Reading) -> Result<u8, CliError> {
    let rejected_count = summary.rejected + reading.rejected.len() as u64;
    let mut rejected: Vec<Rejection> = reading.rejected;
    rejected.extend(summary.errors.into_iter().map(Rejection::from));
    rejected.sort_by_key(|r| r.line);
    Fields::new()
        .add("imported", summary.imported.to_string())
        .add("unchanged", summary.unchanged.to_string())
        .add("rejected", rejected_count.to_string())
        .write_text(out)?;
    for rejection in &rejected {
        writeln!(out, "{rejection}")?;
    }
    if let Some(why) = reading.stopped {
        return Err(CliError::Other(format!(
            "reading {} stopped early ({why}); the rows before it were imported, and importing the file again is safe",
            path.display()
        )));
    }
    Ok(if rejected_count == 0 { EXIT_OK } else { EXIT_FAILED })
}

/// Sends every well-formed row; returns the rows refused here.
/// Counts the rows read in `read`.
fn read_rows(mut reader: csv::Reader<File>, columns: Columns, rows: mpsc::Sender<Vec<pb::ImportPersonRow>>, read: &AtomicU64) -> Reading {
    let mut reading = Reading::default();
    let mut record = csv::StringRecord::new();
    let mut chunk = Vec::with_capacity(ROWS_A_CHUNK);
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                read.fetch_add(1, Ordering::Relaxed);
                let line = record.position().map_or(0, |p| p.line());
                match person_of(&record, columns) {
                    Ok(person) => {
                        let row = pb::ImportPersonRow {
                            line,
                            person: Some(person),
                        };
                        chunk.push(row);
                        if chunk.len() == ROWS_A_CHUNK
                            && rows
                                .blocking_send(std::mem::replace(&mut chunk, Vec::with_capacity(ROWS_A_CHUNK)))
                                .is_err()
                        {
                            // The call ended (the node refused the stream); its error is reported.
                            return reading;
                        }
                    }
                    Err((field, message)) => reading.rejected.push(Rejection {
                        line,
                        person_id: record.get(columns.id).unwrap_or("").to_owned(),
                        field: field.to_owned(),
                        message,
                    }),
                }
            }
            Err(error) if error.is_io_error() => {
                reading.stopped = Some(error.to_string());
                break;
            }
            Err(error) => reading.rejected.push(Rejection {
                line: error.position().map_or(0, |p| p.line()),
                person_id: String::new(),
                field: String::new(),
                message: error.to_string(),
            }),
        }
    }
    if !chunk.is_empty() {
        // An error here is the call's, reported with it.
        let _ = rows.blocking_send(chunk);
    }
    reading
}

/// The rows of the chunks the reading thread sends, one message each; the
/// rows of a chunk are ready at once, so the call packs them into few frames.
struct Rows {
    chunks: mpsc::Receiver<Vec<pb::ImportPersonRow>>,
    ready: std::vec::IntoIter<pb::ImportPersonRow>,
}

impl Stream for Rows {
    type Item = pb::ImportPersonRow;

    fn poll_next(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Option<Self::Item>> {
        loop {
            if let Some(row) = self.ready.next() {
                return std::task::Poll::Ready(Some(row));
            }
            match std::task::ready!(self.chunks.poll_recv(cx)) {
                Some(chunk) => self.ready = chunk.into_iter(),
                None => return std::task::Poll::Ready(None),
            }
        }
    }
}

/// One CSV row as a person; the field at fault and why otherwise.
fn person_of(record: &csv::StringRecord, columns: Columns) -> Result<pb::Person, (&'static str, String)> {
    if record.len() != columns.count {
        return Err(("", format!("the row has {} fields; the header has {}", record.len(), columns.count)));
    }
    let cell = |i: usize| record.get(i).unwrap_or("");
    let insurance = match cell(columns.insurance_type).to_ascii_lowercase().as_str() {
        "employee" => pb::InsuranceType::Employee,
        "resident" => pb::InsuranceType::Resident,
        other => {
            return Err((
                "insurance_type",
                format!("{other:?} is not an insurance type (employee or resident)"),
            ))
        }
    };
    let status = match cell(columns.status).to_ascii_lowercase().as_str() {
        "" | "active" => pb::PersonStatus::Active,
        "transferred" => pb::PersonStatus::Transferred,
        "terminated" => pb::PersonStatus::Terminated,
        other => return Err(("status", format!("{other:?} is not a status (active, transferred or terminated)"))),
    };
    Ok(pb::Person {
        person_id: cell(columns.id).to_owned(),
        name: cell(columns.name).to_owned(),
        insurance_type: insurance as i32,
        region_code: cell(columns.region_code).to_owned(),
        status: status as i32,
        registered_at: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn columns() -> Columns {
        Columns::find(&csv::StringRecord::from(vec![
            "id",
            "name",
            "insurance_type",
            "region_code",
            "status",
        ]))
        .unwrap()
    }

    #[test]
    fn a_row_becomes_a_person_with_active_as_the_default_status() {
        let row = csv::StringRecord::from(vec!["p-1", "Li Na", "Employee", "320500", ""]);
        let person = person_of(&row, columns()).unwrap();
        assert_eq!(person.insurance_type, pb::InsuranceType::Employee as i32);
        assert_eq!(person.status, pb::PersonStatus::Active as i32);
    }

    #[test]
    fn unknown_words_name_their_field() {
        let row = csv::StringRecord::from(vec!["p-1", "Li Na", "student", "320500", "active"]);
        assert_eq!(person_of(&row, columns()).unwrap_err().0, "insurance_type");
        let row = csv::StringRecord::from(vec!["p-1", "Li Na", "resident", "320500", "gone"]);
        assert_eq!(person_of(&row, columns()).unwrap_err().0, "status");
        let row = csv::StringRecord::from(vec!["p-1", "Li Na", "resident"]);
        assert!(person_of(&row, columns()).unwrap_err().1.contains("3 fields"));
    }

    #[test]
    fn a_missing_column_is_named() {
        let error = Columns::find(&csv::StringRecord::from(vec!["id", "name", "region_code", "status"])).unwrap_err();
        assert!(error.contains("insurance_type"), "{error}");
    }
}
