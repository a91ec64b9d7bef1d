//! The guard of a public service: a wrapper, like `server::observed`, that
//! authenticates each call's bearer token against the clients file, checks
//! the method's row of the service's table, puts the [`Principal`] in the
//! request's extensions for the handler, and writes every operator call
//! that may change state to the audit log: the action (durably) before the
//! handler runs, its outcome once the call is answered. A call whose action
//! cannot be logged is refused with UNAVAILABLE: nothing is done unlogged.

use std::{
    convert::Infallible,
    path::Path,
    sync::Arc,
    task::{Context, Poll},
};

use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use tonic::{
    body::Body,
    codegen::{http, BoxFuture, Bytes, Service},
    server::NamedService,
    Status,
};

use super::{policy::Policy, Clients, Principal, Role, REASON_BIN_HEADER, REASON_HEADER};
use crate::{
    oplog::{self, Action, OpLog},
    server::on_answer,
    store::StoreError,
};

/// The largest request body read to describe an operator's call: tonic's
/// own limit on an incoming message (4 MiB) and the frame's header.
const MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024 + 5;

/// How much of an operator call's answer is read for its outcome (answers
/// that carry a status are small).
const MAX_ANSWER_KEPT: usize = 64 * 1024;

/// What a guard knows: the clients (none: the service is open), the
/// service's table and the server's audit log.
#[derive(Clone)]
pub struct Access {
    clients: Option<Arc<Clients>>,
    policy: &'static Policy,
    oplog: OpLog,
}

impl Access {
    pub fn new(clients: Option<Clients>, policy: &'static Policy, oplog: OpLog) -> Access {
        Access {
            clients: clients.map(Arc::new),
            policy,
            oplog,
        }
    }

    /// The access a server's `--clients` file gives (open without one).
    pub fn load(clients_file: Option<&Path>, policy: &'static Policy, oplog: OpLog) -> Result<Access, String> {
        let clients = clients_file.map(Clients::load).transpose()?;
        Ok(Access::new(clients, policy, oplog))
    }

    /// True when every caller is the anonymous operator.
    pub fn is_open(&self) -> bool {
        self.clients.is_none()
    }

    /// Who calls `method`, if they may.
    fn admit(&self, headers: &http::HeaderMap, method: &str) -> Result<Principal, Status> {
        let Some(clients) = &self.clients else {
            return Ok(Principal::anonymous());
        };
        let token = headers
            .get("authorization")
            .map(|v| v.as_bytes())
            .and_then(|v| v.strip_prefix(b"Bearer ").or_else(|| v.strip_prefix(b"bearer ")))
            .ok_or_else(|| {
                Status::unauthenticated(format!(
                    "{} needs a client: present a client token (metadata authorization: Bearer TOKEN)",
                    self.policy.service
                ))
            })?;
        let principal = clients.authenticate(token).ok_or_else(|| {
            Status::unauthenticated("this client token is not in the server's clients file: present a client token it knows")
        })?;
        let need = self.policy.need(method);
        if !need.allows(principal.role) {
            return Err(Status::permission_denied(format!(
                "{method} needs the {} role; client {:?} has the {} role",
                need.describe(),
                principal.name,
                principal.role
            )));
        }
        Ok(principal.clone())
    }
}

/// Wraps a public gRPC service in its guard.
pub fn guarded<S>(service: S, access: Access) -> Guarded<S> {
    Guarded { inner: service, access }
}

/// A gRPC service wrapped by [`guarded`].
#[derive(Clone)]
pub struct Guarded<S> {
    inner: S,
    access: Access,
}

impl<S: NamedService> NamedService for Guarded<S> {
    const NAME: &'static str = S::NAME;
}

impl<S, B> Service<http::Request<Body>> for Guarded<S>
where
    S: Service<http::Request<Body>, Response = http::Response<B>, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: http_body::Body<Data = Bytes> + Unpin + Send + 'static,
    B::Error: Into<tonic::codegen::StdError>,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<http::Response<Body>, Infallible>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<Body>) -> Self::Future {
        let path = request.uri().path().to_owned();
        let method = path.rsplit('/').next().unwrap_or_default().to_owned();
        let principal = match self.access.admit(request.headers(), &method) {
            Ok(principal) => principal,
            Err(status) => {
                tracing::warn!(method = %path, code = ?status.code(), message = status.message(), "call refused");
                return Box::pin(async move { Ok(status.into_http()) });
            }
        };
        let logged = !self.access.is_open() && principal.role == Role::Operator && self.access.policy.need(&method).changes_state();
        request.extensions_mut().insert(principal.clone());
        // The instance that was polled ready serves this call; the clone
        // serves the next (tonic's generated servers are always ready).
        let ready = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, ready);
        if !logged {
            return Box::pin(async move {
                let response = inner.call(request).await?;
                Ok(response.map(Body::new))
            });
        }
        let oplog = self.access.oplog.clone();
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let (what, body) = match read_request(&path, body).await {
                Ok(read) => read,
                Err(status) => return Ok(status.into_http()),
            };
            let why = match reason(&parts.headers) {
                Ok(why) => why,
                Err(status) => return Ok(status.into_http()),
            };
            let action = Action {
                who: principal.name.clone(),
                role: principal.role.as_str().to_owned(),
                action: method.clone(),
                what,
                why,
            };
            let refused = |error: StoreError| {
                tracing::error!(%error, method = %path, "cannot write the operator audit log; the call is refused");
                Status::unavailable(format!("the operator audit log cannot be written, so nothing was done: {error}"))
            };
            let seq = match oplog.append_action(action) {
                Ok(seq) => seq,
                Err(error) => return Ok(refused(error).into_http()),
            };
            // From here the action has an outcome whatever happens: refused
            // below, answered by the handler, or cancelled if the caller goes
            // away while the record is made durable (the handler then never runs).
            let outcome = Outcome {
                oplog: oplog.clone(),
                seq: Some(seq),
            };
            if let Err(error) = oplog.durable().await {
                let status = refused(error);
                outcome.record(crate::metrics::code_name(status.code()), status.message());
                return Ok(status.into_http());
            }
            tracing::info!(seq, who = %principal.name, action = %method, "operator action");
            let response = inner.call(http::Request::from_parts(parts, body)).await?;
            let answered = oplog::method(&path);
            Ok(on_answer(response, MAX_ANSWER_KEPT, move |status, answer| {
                let (code, message) = oplog::outcome(answered.as_ref(), &status, answer);
                outcome.record(&code, &message);
            }))
        })
    }
}

/// The request as the log shows it, and the body to hand on: a unary
/// request is read whole, described and rebuilt from the same bytes; a
/// stream is passed on unread.
async fn read_request(path: &str, body: Body) -> Result<(String, Body), Status> {
    let Some(method) = oplog::method(path) else {
        return Ok(("(a method the contracts do not have)".into(), body));
    };
    if method.is_client_streaming() {
        return Ok(("(stream)".into(), body));
    }
    let bytes = match Limited::new(body, MAX_REQUEST_BYTES).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(error) if error.is::<LengthLimitError>() => {
            return Err(Status::resource_exhausted(format!(
                "the request is larger than {} bytes",
                MAX_REQUEST_BYTES - 5
            )))
        }
        Err(error) => return Err(Status::invalid_argument(format!("the request could not be read: {error}"))),
    };
    let what = oplog::describe(&method, &bytes);
    Ok((what, Body::new(Full::new(bytes))))
}

/// The caller's reason (`x-gongji-reason-bin`, else `x-gongji-reason`),
/// empty if none; control characters are kept out (escaped), so a reason
/// can never pass for more than one line of the log.
/// A reason that cannot be read is refused (INVALID_ARGUMENT, nothing done
/// or logged), so that no reason is ever lost.
fn reason(headers: &http::HeaderMap) -> Result<String, Status> {
    let text = if let Some(value) = headers.get(REASON_BIN_HEADER) {
        decode_bin(value.as_bytes())
            .ok_or_else(|| Status::invalid_argument(format!("{REASON_BIN_HEADER} must be base64 of UTF-8 text; nothing was done")))?
    } else {
        match headers.get(REASON_HEADER).map(|v| v.to_str()) {
            Some(Ok(text)) => text.to_owned(),
            Some(Err(_)) => {
                return Err(Status::invalid_argument(format!(
                    "{REASON_HEADER} must be ASCII; send a reason in another script (Chinese, say) as \
                     {REASON_BIN_HEADER} (base64 of its UTF-8 text, as the gongji CLI does); nothing was done"
                )))
            }
            None => String::new(),
        }
    };
    Ok(crate::text::escape_controls(text.trim()))
}

/// The text of a binary metadata value: base64 (padded or not, as gRPC
/// allows) of UTF-8.
fn decode_bin(value: &[u8]) -> Option<String> {
    use base64::Engine;
    let unpadded = value.strip_suffix(b"==").or_else(|| value.strip_suffix(b"=")).unwrap_or(value);
    let bytes = base64::engine::general_purpose::STANDARD_NO_PAD.decode(unpadded).ok()?;
    String::from_utf8(bytes).ok()
}

/// The outcome still to be recorded for action `seq`; a call dropped before
/// its answer (the client went away) is recorded as cancelled.
struct Outcome {
    oplog: OpLog,
    seq: Option<u64>,
}

impl Outcome {
    fn record(mut self, code: &str, message: &str) {
        self.write(code, message);
    }

    fn write(&mut self, code: &str, message: &str) {
        let Some(seq) = self.seq.take() else { return };
        if let Err(error) = self.oplog.record_outcome(seq, code, message) {
            tracing::error!(%error, seq, "cannot record an operator action's outcome");
            return;
        }
        // The outcome reaches the disk with the store's next sync; ask for
        // one rather than wait for other writes.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let oplog = self.oplog.clone();
            runtime.spawn(async move {
                if let Err(error) = oplog.durable().await {
                    tracing::error!(%error, seq, "cannot make an operator action's outcome durable");
                }
            });
        }
    }
}

impl Drop for Outcome {
    fn drop(&mut self) {
        self.write(
            "CANCELLED",
            "the call ended before it was answered: whether it was done shows in the records it would change",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> http::HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| (http::HeaderName::from_static(k), v.parse().unwrap()))
            .collect()
    }

    #[test]
    fn a_reason_comes_as_ascii_or_as_utf8_in_binary_metadata() {
        let read = |pairs: &[(&'static str, &str)]| reason(&headers(pairs)).unwrap();
        assert_eq!(read(&[]), "");
        assert_eq!(read(&[(REASON_HEADER, " month end ")]), "month end");
        // "月结：河北预付金补足" in base64, padded and unpadded.
        let chinese = "月结：河北预付金补足";
        use base64::Engine;
        let padded = base64::engine::general_purpose::STANDARD.encode(chinese);
        let unpadded = padded.trim_end_matches('=').to_owned();
        assert_eq!(read(&[(REASON_BIN_HEADER, &padded)]), chinese);
        assert_eq!(read(&[(REASON_BIN_HEADER, &unpadded)]), chinese);
        // The binary one wins.
        assert_eq!(read(&[(REASON_HEADER, "ascii"), (REASON_BIN_HEADER, &padded)]), chinese);
        let forged = base64::engine::general_purpose::STANDARD.encode("end\n   99  ops-li  CloseMonth  OK");
        assert_eq!(
            read(&[(REASON_BIN_HEADER, &forged)]),
            "end\\n   99  ops-li  CloseMonth  OK",
            "one line, the newline escaped"
        );
    }

    #[test]
    fn a_reason_that_cannot_be_read_is_refused_so_none_is_lost() {
        let refused = |pairs: &[(&'static str, &str)]| reason(&headers(pairs)).unwrap_err();
        use base64::Engine;
        let latin1 = base64::engine::general_purpose::STANDARD.encode([0xe9u8, 0x74, 0xe9]);
        for status in [refused(&[(REASON_BIN_HEADER, "%%%")]), refused(&[(REASON_BIN_HEADER, &latin1)])] {
            assert_eq!(status.code(), tonic::Code::InvalidArgument);
            assert!(status.message().contains("base64 of UTF-8"), "{}", status.message());
        }
        let mut latin = http::HeaderMap::new();
        latin.insert(REASON_HEADER, http::HeaderValue::from_bytes("月结".as_bytes()).unwrap());
        let status = reason(&latin).unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert!(status.message().contains("x-gongji-reason-bin"), "{}", status.message());
    }
}
