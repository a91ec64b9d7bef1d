//! How a server answers a failure: one gRPC code for each kind of failure,
//! the store's rule (UNAVAILABLE while it cannot serve at all, a fault of
//! the server otherwise), and every fault logged where it is answered.
//! Each server's error type says which [`Failure`] each of its variants is
//! and leaves the rest to [`Failure::status`]; it holds no business rule.

use tonic::Status;

use crate::store::StoreError;

/// The kinds of failure a server answers with, each with its one code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Bad input; the message names the field.
    InvalidArgument,
    NotFound,
    /// An id reused with other content, or a duplicate.
    AlreadyExists,
    /// Well-formed, but the state does not allow it.
    FailedPrecondition,
    /// The caller may not do this to this object.
    PermissionDenied,
    /// Not now: another server did not answer, or the store cannot serve.
    Unavailable,
    /// A fault of the server (a broken invariant, an overflow, a bug),
    /// never of the request: logged as an error.
    Internal,
}

impl Failure {
    /// A store error: UNAVAILABLE while the store takes no more writes (its
    /// log failed, see [`StoreError::is_unavailable`]), INTERNAL otherwise.
    pub fn of_store(error: &StoreError) -> Failure {
        if error.is_unavailable() {
            Failure::Unavailable
        } else {
            Failure::Internal
        }
    }

    /// The status answered, carrying `message`; an internal one is logged.
    pub fn status(self, message: String) -> Status {
        match self {
            Failure::InvalidArgument => Status::invalid_argument(message),
            Failure::NotFound => Status::not_found(message),
            Failure::AlreadyExists => Status::already_exists(message),
            Failure::FailedPrecondition => Status::failed_precondition(message),
            Failure::PermissionDenied => Status::permission_denied(message),
            Failure::Unavailable => Status::unavailable(message),
            Failure::Internal => {
                tracing::error!(%message, "internal error");
                Status::internal(message)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_store_is_unavailable_and_any_other_store_error_internal() {
        let failed = StoreError::Failed("disk full".into());
        let broken = StoreError::Invariant("books would break".into());
        assert_eq!(Failure::of_store(&failed), Failure::Unavailable);
        assert_eq!(Failure::of_store(&broken), Failure::Internal);
        let status = Failure::of_store(&failed).status(failed.to_string());
        assert_eq!(status.code(), tonic::Code::Unavailable);
        assert!(status.message().contains("disk full"), "{}", status.message());
        assert_eq!(Failure::of_store(&broken).status("x".into()).code(), tonic::Code::Internal);
    }

    #[test]
    fn each_failure_has_its_own_code() {
        for (failure, code) in [
            (Failure::InvalidArgument, tonic::Code::InvalidArgument),
            (Failure::NotFound, tonic::Code::NotFound),
            (Failure::AlreadyExists, tonic::Code::AlreadyExists),
            (Failure::FailedPrecondition, tonic::Code::FailedPrecondition),
            (Failure::PermissionDenied, tonic::Code::PermissionDenied),
            (Failure::Unavailable, tonic::Code::Unavailable),
            (Failure::Internal, tonic::Code::Internal),
        ] {
            let status = failure.status("why".into());
            assert_eq!((status.code(), status.message()), (code, "why"));
        }
    }
}
