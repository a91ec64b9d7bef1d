//! The operator audit log: an append-only record, in a server's own store,
//! of every call made with the operator role that may change state: who,
//! when, what (the request as JSON), why (the caller's `x-gongji-reason`),
//! and, as a record of its own, the outcome. The guard (`access::guard`)
//! writes the action durably before the handler runs and the outcome once
//! the call is answered; nothing here changes or deletes a record.
//!
//! Key layout of the log's tree (each server declares one, `oplog`):
//!
//! | key                    | value                                   |
//! |------------------------|-----------------------------------------|
//! | `a` ␟ seq (u64 BE)     | `ActionRecord`                          |
//! | `o` ␟ seq (u64 BE)     | `OutcomeRecord` of action `seq`         |
//! | `n`                    | the last seq handed out (u64)           |
//!
//! Sequence numbers run 1, 2, 3, … without gaps, so a missing number
//! would show.

use gongji_proto::v1 as pb;
use prost_reflect::{DescriptorPool, DynamicMessage, MethodDescriptor, ReflectMessage, SerializeOptions};
use serde::{Deserialize, Serialize};
use tonic::Code;

use crate::{
    metrics::code_name,
    period::{now_millis, timestamp},
    store::{key, Store, StoreError, Table, TxFail},
};

/// The longest `what` or `why` kept, in bytes; longer ones are cut.
pub const MAX_TEXT: usize = 64 * 1024;
/// Actions listed when a request names no limit, and the most it may name.
pub const DEFAULT_LIMIT: u32 = 100;
pub const MAX_LIMIT: u32 = 1000;

const LAST_SEQ: &[u8] = b"n";

/// An action about to be taken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Action {
    pub who: String,
    pub role: String,
    /// The method, "CloseMonth".
    pub action: String,
    pub what: String,
    pub why: String,
}

/// An action as recorded: its number, when, and the action (its fields
/// stored beside the others).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionRecord {
    pub seq: u64,
    pub at: i64,
    #[serde(flatten)]
    pub taken: Action,
}

/// How an action's call was answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutcomeRecord {
    pub at: i64,
    /// What the call came to: a gRPC status code when it failed
    /// ("PERMISSION_DENIED", …); the status its answer carries when it has
    /// one ("APPROVED", "DECLINED", "PENDING", "ACTIVE", …); else "OK".
    pub code: String,
    pub message: String,
}

/// One action with its outcome, if one was recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub action: ActionRecord,
    pub outcome: Option<OutcomeRecord>,
}

/// What an operator-log table holds: actions, their outcomes and the last
/// sequence number, by key (see the module). Declared as a table's value
/// type; read only through [`OpLog`].
pub enum Logged {}

/// A server's audit log: its store and the table the log lives in.
#[derive(Clone)]
pub struct OpLog {
    store: Store,
    tree: Table<[u8], Logged>,
}

fn action_key(seq: u64) -> Vec<u8> {
    key(&[b"a", &seq.to_be_bytes()])
}

fn outcome_key(seq: u64) -> Vec<u8> {
    key(&[b"o", &seq.to_be_bytes()])
}

impl OpLog {
    pub fn new(store: Store, tree: Table<[u8], Logged>) -> OpLog {
        OpLog { store, tree }
    }

    /// Appends an action, on disk with the store's next durable write (see
    /// [`OpLog::durable`]); returns its seq.
    pub fn append_action(&self, action: Action) -> Result<u64, StoreError> {
        let at = now_millis();
        let tree = self.tree;
        self.store
            .transact(|tx| {
                let seq = tx.get(tree.holding::<u64>(), LAST_SEQ)?.unwrap_or(0) + 1;
                let record = ActionRecord {
                    seq,
                    at,
                    taken: Action {
                        what: cut(&action.what),
                        why: cut(&action.why),
                        ..action.clone()
                    },
                };
                tx.put(tree.holding(), &action_key(seq)[..], &record)?;
                tx.put(tree.holding(), LAST_SEQ, &seq)?;
                Ok(seq)
            })
            .unconfirmed()
    }

    /// Appends the outcome of action `seq` (an outcome already recorded
    /// stays: records are never changed). On disk with the next durable
    /// write of the store; see [`OpLog::durable`].
    pub fn record_outcome(&self, seq: u64, code: &str, message: &str) -> Result<(), StoreError> {
        let tree = self.tree;
        let record = OutcomeRecord {
            at: now_millis(),
            code: code.to_owned(),
            message: cut(message),
        };
        self.store
            .transact(|tx| {
                if !tx.contains(tree, &outcome_key(seq)[..])? {
                    tx.put(tree.holding(), &outcome_key(seq)[..], &record)?;
                }
                Ok::<_, TxFail>(())
            })
            .unconfirmed()
    }

    /// Waits until everything recorded so far is on disk.
    pub async fn durable(&self) -> Result<(), StoreError> {
        self.store.durable().await
    }

    /// At most `limit` actions after `after_seq`, oldest first.
    pub fn list(&self, after_seq: u64, limit: u32) -> Result<Vec<Entry>, StoreError> {
        let last = self.store.get(self.tree.holding::<u64>(), LAST_SEQ)?.unwrap_or(0);
        let limit = match limit {
            0 => DEFAULT_LIMIT,
            n => n.min(MAX_LIMIT),
        };
        let mut entries = Vec::new();
        let mut seq = after_seq.saturating_add(1);
        while seq <= last && entries.len() < limit as usize {
            if let Some(action) = self.store.get(self.tree.holding::<ActionRecord>(), &action_key(seq)[..])? {
                let outcome = self.store.get(self.tree.holding::<OutcomeRecord>(), &outcome_key(seq)[..])?;
                entries.push(Entry { action, outcome });
            }
            seq += 1;
        }
        Ok(entries)
    }

    /// The `ListOperatorActions` answer for `request`: every action and
    /// outcome recorded before the call (once on disk: listings read only
    /// what is on disk, and an outcome is recorded as its answer leaves).
    pub async fn list_pb(&self, request: &pb::ListOperatorActionsRequest) -> Result<pb::ListOperatorActionsResponse, StoreError> {
        self.store.durable().await?;
        let actions = self.list(request.after_seq, request.limit)?.iter().map(Entry::to_pb).collect();
        Ok(pb::ListOperatorActionsResponse { actions })
    }
}

impl Entry {
    pub fn to_pb(&self) -> pb::OperatorAction {
        let record = &self.action;
        let action = &record.taken;
        pb::OperatorAction {
            seq: record.seq,
            at: Some(timestamp(record.at)),
            who: action.who.clone(),
            role: action.role.clone(),
            action: action.action.clone(),
            what: action.what.clone(),
            why: action.why.clone(),
            outcome_code: self.outcome.as_ref().map(|o| o.code.clone()).unwrap_or_default(),
            outcome_message: self.outcome.as_ref().map(|o| o.message.clone()).unwrap_or_default(),
            outcome_at: self.outcome.as_ref().map(|o| timestamp(o.at)),
        }
    }
}

/// `text` cut to at most [`MAX_TEXT`] bytes, on a character boundary, with
/// "…" marking the cut.
fn cut(text: &str) -> String {
    if text.len() <= MAX_TEXT {
        return text.to_owned();
    }
    let mut end = MAX_TEXT - '…'.len_utf8();
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// The contracts' descriptors, decoded once.
fn pool() -> Option<&'static DescriptorPool> {
    static POOL: std::sync::OnceLock<Option<DescriptorPool>> = std::sync::OnceLock::new();
    POOL.get_or_init(|| DescriptorPool::decode(gongji_proto::FILE_DESCRIPTOR_SET).ok())
        .as_ref()
}

/// The method at `path` ("/gongji.v1.NationalHub/CloseMonth"), if the
/// contracts have it.
pub fn method(path: &str) -> Option<MethodDescriptor> {
    let (service, method) = path.trim_start_matches('/').split_once('/')?;
    pool()?.get_service_by_name(service)?.methods().find(|m| m.name() == method)
}

/// The message of a unary call's body as sent (one gRPC frame: a
/// compression flag, a 4-byte length, the message), or why it is none.
fn unframe(body: &[u8]) -> Result<&[u8], &'static str> {
    let Some((header, rest)) = body.split_first_chunk::<5>() else {
        return Err("(no message)");
    };
    if header[0] != 0 {
        return Err("(a compressed message)");
    }
    let length = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
    rest.get(..length).ok_or("(a truncated message)")
}

/// What an answered call came to, for the log: its code and message. A
/// failed call: its status code and message. An answer that carries a
/// status (a payment's, a refund's, a transfer's, a relationship's): that
/// status ("APPROVED", "DECLINED", "PENDING", "ACTIVE", …), and for a
/// decline its reason and why. Any other answer: "OK".
pub fn outcome(method: Option<&MethodDescriptor>, status: &tonic::Status, answer: &[u8]) -> (String, String) {
    if status.code() != Code::Ok {
        return (code_name(status.code()).to_owned(), status.message().to_owned());
    }
    let ok = || ("OK".to_owned(), String::new());
    let Some(message) = method
        .and_then(|m| Some((m, unframe(answer).ok()?)))
        .and_then(|(m, bytes)| DynamicMessage::decode(m.output(), bytes).ok())
    else {
        return ok();
    };
    let enum_word = |field: &str, prefix: &str| -> Option<String> {
        let descriptor = message.descriptor().get_field_by_name(field)?;
        let prost_reflect::Kind::Enum(kind) = descriptor.kind() else {
            return None;
        };
        let number = message.get_field(&descriptor).as_enum_number()?;
        let name = kind.get_value(number)?.name().to_owned();
        let word = name.split_once(prefix).map_or(name.as_str(), |(_, rest)| rest).to_owned();
        Some(word)
    };
    let Some(state) = enum_word("status", "STATUS_") else {
        return ok();
    };
    if state != "DECLINED" {
        return (state, String::new());
    }
    let reason = enum_word("decline_reason", "DECLINE_REASON_").unwrap_or_default().to_lowercase();
    let why = ["decline_message", "message"]
        .iter()
        .find_map(|field| message.get_field_by_name(field).and_then(|v| v.as_str().map(str::to_owned)))
        .unwrap_or_default();
    (state, format!("{reason}: {why}"))
}

/// The request of a unary call to `method` as JSON with the proto field
/// names, from its body as sent (one gRPC frame: a compression flag, a
/// 4-byte length, the message). A body that is no such message is
/// described rather than refused: the handler refuses it, and the log
/// shows what was sent.
pub fn describe(method: &MethodDescriptor, body: &[u8]) -> String {
    let message = match unframe(body) {
        Ok(message) => message,
        Err(why) => return why.into(),
    };
    let decoded = match DynamicMessage::decode(method.input(), message) {
        Ok(decoded) => decoded,
        Err(e) => return format!("(not a {}: {e})", method.input().full_name()),
    };
    let mut json = serde_json::Serializer::new(Vec::new());
    let options = SerializeOptions::new().use_proto_field_name(true);
    match decoded.serialize_with_options(&mut json, &options) {
        Ok(()) => String::from_utf8_lossy(&json.into_inner()).into_owned(),
        Err(e) => format!("(cannot write the request as JSON: {e})"),
    }
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;

    fn framed(message: &impl Message) -> Vec<u8> {
        let bytes = message.encode_to_vec();
        let mut body = vec![0];
        body.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
        body.extend_from_slice(&bytes);
        body
    }

    #[test]
    fn a_request_is_described_as_json_with_the_proto_field_names() {
        let deposit = method("/gongji.v1.NationalHub/DepositPrepaid").expect("the contract has it");
        let request = pb::PrepaidOperationRequest {
            operation_id: "dep-1".into(),
            province: "32".into(),
            amount: "500.00".into(),
            operator: "wang".into(),
            reason: "top-up".into(),
            force: false,
        };
        let json: serde_json::Value = serde_json::from_str(&describe(&deposit, &framed(&request))).unwrap();
        assert_eq!(json["operation_id"], "dep-1");
        assert_eq!(json["amount"], "500.00");
        let close = method("/gongji.v1.NationalHub/CloseMonth").unwrap();
        assert_eq!(describe(&close, &framed(&pb::CloseMonthRequest { period: String::new() })), "{}");
        assert!(describe(&close, &[0, 0, 0, 0, 9, 1]).starts_with("(a truncated"));
        assert!(describe(&close, &[0, 0, 0, 0, 2, 0xff, 0xff]).starts_with("(not a gongji.v1.CloseMonthRequest"));
        assert_eq!(describe(&close, &[]), "(no message)");
        assert!(method("/gongji.v1.NationalHub/Nothing").is_none());
        assert!(method("nonsense").is_none());
    }

    #[test]
    fn long_text_is_cut_on_a_character_boundary() {
        let long = "共".repeat(MAX_TEXT);
        let kept = cut(&long);
        assert!(kept.len() <= MAX_TEXT && kept.ends_with('…'));
        assert_eq!(cut("short"), "short");
    }

    #[tokio::test]
    async fn actions_are_numbered_without_gaps_and_outcomes_are_never_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &["oplog"]).unwrap();
        let log = OpLog::new(store, Table::app(0));
        let action = |what: &str| Action {
            who: "alice".into(),
            role: "operator".into(),
            action: "CloseMonth".into(),
            what: what.into(),
            why: "month end".into(),
        };
        assert_eq!(log.append_action(action("1")).unwrap(), 1);
        assert_eq!(log.append_action(action("2")).unwrap(), 2);
        log.durable().await.unwrap();
        log.record_outcome(1, "OK", "").unwrap();
        log.record_outcome(1, "INTERNAL", "later").unwrap();
        log.durable().await.unwrap();
        let entries = log.list(0, 0).unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].outcome.as_ref().unwrap().code, "OK");
        assert_eq!(entries[1].outcome, None);
        assert_eq!(log.list(1, 10).unwrap()[0].action.taken.what, "2");
        assert!(log.list(u64::MAX, 10).unwrap().is_empty());
        assert_eq!(log.list(0, 1).unwrap().len(), 1);
        let pb = entries[0].to_pb();
        assert_eq!(
            (pb.seq, pb.who.as_str(), pb.why.as_str(), pb.outcome_code.as_str()),
            (1, "alice", "month end", "OK")
        );
    }
}
