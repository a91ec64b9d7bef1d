//! The CLI's one error type, and the one place that turns it into a message on
//! stderr and an exit status.

use std::io::Write;

use tonic::{Code, Status};

/// Exit status of a successful command.
pub const EXIT_OK: u8 = 0;
/// Exit status of a failed command, or of an import with rejected rows.
pub const EXIT_FAILED: u8 = 1;
/// Exit status of a reconciliation that found differences and disputed the
/// month: not an error, but scripts must be able to tell.
pub const EXIT_DISPUTED: u8 = 1;
/// Exit status of a command line that does not parse (clap's convention).
pub const EXIT_USAGE: u8 = 2;
/// Exit status when the transaction was recorded but is pending: retrying the
/// same id later gives its outcome.
pub const EXIT_PENDING: u8 = 3;

/// Why a command failed.
#[derive(Debug)]
pub enum CliError {
    /// The server answered with a gRPC error, with a note on what happens
    /// next when its outcome is unknown.
    Call { status: Status, note: Option<Note> },
    /// The server could not be reached at all.
    Connect { address: String, detail: String },
    /// Options that parse one by one but do not fit together; nothing was called.
    Usage(String),
    /// Anything else: a bad file, a failed devnet.
    Other(String),
    /// Whoever read the output went away (`gongji … | head`): nothing more
    /// to say, and nothing went wrong.
    OutputClosed,
}

/// What happens after a call whose outcome is unknown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Note {
    /// A recorded transaction stays pending and completes in the background
    /// ("payment p-1 is pending: …"); exit status 3.
    Pending(String),
    /// The call may or may not have taken effect and repeating it is safe
    /// (an idempotent operation); exit status 1.
    RetrySafe(String),
}

impl CliError {
    pub fn call(status: Status) -> CliError {
        CliError::Call { status, note: None }
    }

    /// A failed call of an idempotent operation: when its outcome is unknown,
    /// the note says that running the same command again is safe (`again`
    /// says what it does then).
    pub fn idempotent_call(status: Status, again: &str) -> CliError {
        let note = unknown_outcome(&status).then(|| Note::RetrySafe(format!("the outcome is unknown; {again}")));
        CliError::Call { status, note }
    }

    /// A failed call that recorded a transaction: an unknown outcome
    /// (unavailable, deadline exceeded) means it stays pending at the node.
    pub fn transaction_call(status: Status, what: &str, id: &str) -> CliError {
        let note = unknown_outcome(&status).then(|| {
            Note::Pending(format!(
                "{what} {id} is pending: it is completed in the background; run the same command again (same id) to learn its outcome"
            ))
        });
        CliError::Call { status, note }
    }

    /// A failed reversal. UNAVAILABLE means the node recorded the reversal
    /// (the payment can no longer be approved) but the donor's province has
    /// not confirmed it; a deadline leaves even that unknown. Reversing again
    /// is always safe.
    pub fn reversal_call(status: Status, payment_id: &str) -> CliError {
        let note = match status.code() {
            Code::Unavailable => Some(Note::Pending(format!(
                "the reversal of payment {payment_id} is recorded here and completes in the background once the donor's \
                 province confirms it; `gongji show payment {payment_id}` shows where it stands, and reversing again is safe"
            ))),
            Code::DeadlineExceeded => Some(Note::Pending(format!(
                "the reversal of payment {payment_id} may not be recorded yet; reversing again is safe: run the same command again"
            ))),
            _ => None,
        };
        CliError::Call { status, note }
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Call {
                note: Some(Note::Pending(_)),
                ..
            } => EXIT_PENDING,
            CliError::Usage(_) => EXIT_USAGE,
            CliError::OutputClosed => EXIT_OK,
            _ => EXIT_FAILED,
        }
    }

    /// True when the connection failed under the call (the server was not
    /// reached, or the transport broke before any answer).
    pub fn is_transport_failure(&self) -> bool {
        match self {
            CliError::Connect { .. } => true,
            CliError::Call { status, .. } => std::error::Error::source(status).is_some(),
            CliError::Usage(_) | CliError::Other(_) | CliError::OutputClosed => false,
        }
    }

    /// Writes the error as `error: <what>: <message>`, plus a note on what
    /// happens next when the outcome is unknown.
    pub fn report(&self, err: &mut dyn Write) {
        if matches!(self, CliError::OutputClosed) {
            return;
        }
        // If stderr itself fails there is nowhere left to say so.
        let _ = writeln!(err, "error: {self}");
        if let CliError::Call {
            note: Some(Note::Pending(note) | Note::RetrySafe(note)),
            ..
        } = self
        {
            let _ = writeln!(err, "note: {note}");
        }
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CliError::Call { status, .. } => write!(f, "{}: {}", code_words(status.code()), status.message()),
            CliError::Connect { address, detail } => write!(f, "cannot reach {address}: {detail}"),
            CliError::Other(message) | CliError::Usage(message) => f.write_str(message),
            CliError::OutputClosed => f.write_str("the output was closed"),
        }
    }
}

impl std::error::Error for CliError {}

impl From<std::io::Error> for CliError {
    fn from(error: std::io::Error) -> CliError {
        if error.kind() == std::io::ErrorKind::BrokenPipe {
            return CliError::OutputClosed;
        }
        CliError::Other(format!("writing output: {error}"))
    }
}

/// Whether a call may or may not have been carried out: the server or a
/// node behind it did not answer in time.
fn unknown_outcome(status: &Status) -> bool {
    matches!(status.code(), Code::Unavailable | Code::DeadlineExceeded)
}

/// A gRPC status code in words ("not found", "failed precondition").
pub fn code_words(code: Code) -> &'static str {
    match code {
        Code::Ok => "ok",
        Code::Cancelled => "cancelled",
        Code::Unknown => "unknown",
        Code::InvalidArgument => "invalid argument",
        Code::DeadlineExceeded => "deadline exceeded",
        Code::NotFound => "not found",
        Code::AlreadyExists => "already exists",
        Code::PermissionDenied => "permission denied",
        Code::ResourceExhausted => "resource exhausted",
        Code::FailedPrecondition => "failed precondition",
        Code::Aborted => "aborted",
        Code::OutOfRange => "out of range",
        Code::Unimplemented => "unimplemented",
        Code::Internal => "internal",
        Code::Unavailable => "unavailable",
        Code::DataLoss => "data loss",
        Code::Unauthenticated => "unauthenticated",
    }
}

/// An error with its chain of causes, for transport errors whose own text
/// ("transport error") says little.
pub fn with_causes(error: &dyn std::error::Error) -> String {
    let mut parts = vec![error.to_string()];
    let mut source = error.source();
    while let Some(cause) = source {
        let part = cause.to_string();
        // Layers often repeat their cause's text; say it once.
        if parts.last() != Some(&part) {
            parts.push(part);
        }
        source = cause.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unavailable_payment_is_reported_as_pending() {
        let error = CliError::transaction_call(Status::unavailable("no answer"), "payment", "p-1");
        let mut err = Vec::new();
        error.report(&mut err);
        let text = String::from_utf8(err).unwrap();
        assert!(text.starts_with("error: unavailable: no answer\n"), "{text}");
        assert!(text.contains("payment p-1 is pending"), "{text}");
        assert_eq!(error.exit_code(), EXIT_PENDING);
    }

    #[test]
    fn an_unavailable_reversal_is_recorded_and_completes_in_the_background() {
        let error = CliError::reversal_call(Status::unavailable("not confirmed"), "p-1");
        let mut err = Vec::new();
        error.report(&mut err);
        let text = String::from_utf8(err).unwrap();
        assert!(
            text.contains("note: the reversal of payment p-1 is recorded here and completes in the background"),
            "{text}"
        );
        assert_eq!(error.exit_code(), EXIT_PENDING);
        assert_eq!(CliError::reversal_call(Status::not_found("x"), "p-1").exit_code(), EXIT_FAILED);
    }

    #[test]
    fn an_unknown_outcome_of_an_idempotent_call_says_repeating_is_safe_and_is_a_plain_failure() {
        let error = CliError::idempotent_call(Status::deadline_exceeded("slow"), "depositing again with the same --id is safe");
        let mut err = Vec::new();
        error.report(&mut err);
        let text = String::from_utf8(err).unwrap();
        assert_eq!(
            text,
            "error: deadline exceeded: slow\nnote: the outcome is unknown; depositing again with the same --id is safe\n"
        );
        assert_eq!(error.exit_code(), EXIT_FAILED);
        let refused = CliError::idempotent_call(Status::failed_precondition("no"), "again");
        assert!(matches!(refused, CliError::Call { note: None, .. }));
    }

    #[test]
    fn options_that_do_not_fit_together_are_a_usage_error() {
        assert_eq!(CliError::Usage("--institution must be omitted".into()).exit_code(), EXIT_USAGE);
    }

    #[test]
    fn a_refusal_is_a_plain_failure() {
        let error = CliError::transaction_call(Status::invalid_argument("amount: bad"), "payment", "p-1");
        assert_eq!(error.exit_code(), EXIT_FAILED);
        assert_eq!(error.to_string(), "invalid argument: amount: bad");
    }
}
