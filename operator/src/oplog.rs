//! `gongji oplog`: a province node's or the hub's operator audit log, read
//! page by page (ListOperatorActions), filtered here by time, client, action
//! and outcome, and printed newest first: a narrow table (seq, at, who,
//! action, outcome, why), every column in CSV, everything (the request, the
//! role, the outcome's message and time) as one JSON object per line.

use std::io::Write;

use gongji_proto::v1 as pb;
use tonic::Status;

use crate::{
    args::OplogArgs,
    error::{CliError, EXIT_OK},
    output::{cst_time, format::clip, Format, Out, Table},
    session::{HubClient, NodeClient, Session},
};

/// Actions asked for per call (the servers' most).
const PAGE: u32 = 1000;

/// The server whose log is read.
enum Server {
    Node(NodeClient),
    Hub(HubClient),
}

impl Server {
    async fn page(&mut self, after_seq: u64, limit: u32) -> Result<Vec<pb::OperatorAction>, Status> {
        let request = pb::ListOperatorActionsRequest { after_seq, limit };
        let response = match self {
            Server::Node(node) => node.list_operator_actions(request).await?,
            Server::Hub(hub) => hub.list_operator_actions(request).await?,
        };
        Ok(response.into_inner().actions)
    }
}

pub async fn command(session: &Session, args: OplogArgs, out: &mut Out<'_>) -> Result<u8, CliError> {
    let mut server = match (&args.node, args.province, &args.hub) {
        (None, None, hub) => Server::Hub(session.hub(&crate::args::HubArg { hub: hub.clone() }).await?),
        (node, province, _) => Server::Node(
            session
                .node(&crate::args::NodeArg {
                    node: node.clone(),
                    province,
                })
                .await?,
        ),
    };
    let filter = Filter::of(&args)?;
    let mut actions: Vec<pb::OperatorAction> = read(&mut server, args.after, args.limit)
        .await?
        .into_iter()
        .filter(|action| filter.keeps(action))
        .collect();
    actions.reverse();
    if let Some(tail) = args.tail {
        actions.truncate(tail as usize);
    }
    match out.format() {
        Format::Json => {
            for action in &actions {
                out.json(&to_json(action))?;
            }
        }
        Format::Csv => table(&actions, Columns::All).write(out)?,
        Format::Text if actions.is_empty() => writeln!(out, "no operator actions after #{} match", args.after)?,
        Format::Text => table(&actions, Columns::Narrow).write(out)?,
    }
    Ok(EXIT_OK)
}

/// Which actions `oplog` shows.
#[derive(Debug, Default)]
pub struct Filter {
    since: Option<i64>,
    until: Option<i64>,
    client: Option<String>,
    action: Option<String>,
    outcome: Option<Outcome>,
}

#[derive(Debug, PartialEq)]
enum Outcome {
    /// Exactly this code, upper case.
    Code(String),
    /// A gRPC error: refused or failed.
    Failed,
    /// None recorded yet.
    None,
}

/// The outcomes that are gRPC errors: the call was refused or failed (an
/// answer records OK or the status it carries, such as APPROVED).
const ERRORS: [&str; 16] = [
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

impl Filter {
    pub fn of(args: &OplogArgs) -> Result<Filter, CliError> {
        if let (Some(since), Some(until)) = (args.since, args.until) {
            if until <= since {
                return Err(CliError::Usage("--until is not after --since: no action could match".into()));
            }
        }
        let outcome = args.outcome.as_deref().map(|word| match word.to_ascii_lowercase().as_str() {
            "failed" => Outcome::Failed,
            "none" => Outcome::None,
            _ => Outcome::Code(word.to_ascii_uppercase()),
        });
        Ok(Filter {
            since: args.since,
            until: args.until,
            client: args.client.clone(),
            action: args.action.clone(),
            outcome,
        })
    }

    pub fn keeps(&self, action: &pb::OperatorAction) -> bool {
        let at = seconds(&action.at).unwrap_or(0);
        self.since.is_none_or(|since| at >= since)
            && self.until.is_none_or(|until| at < until)
            && self.client.as_ref().is_none_or(|who| *who == action.who)
            && self.action.as_ref().is_none_or(|name| name.eq_ignore_ascii_case(&action.action))
            && self.outcome.as_ref().is_none_or(|outcome| match outcome {
                Outcome::Code(code) => *code == action.outcome_code,
                Outcome::Failed => ERRORS.contains(&action.outcome_code.as_str()),
                Outcome::None => action.outcome_code.is_empty(),
            })
    }
}

/// Every action after `after` (at most `limit`), oldest first.
async fn read(server: &mut Server, mut after: u64, limit: Option<u32>) -> Result<Vec<pb::OperatorAction>, CliError> {
    let wanted = limit.map_or(usize::MAX, |n| n as usize);
    let mut actions = Vec::new();
    while actions.len() < wanted {
        let ask = PAGE.min(u32::try_from(wanted - actions.len()).unwrap_or(PAGE));
        let page = server.page(after, ask).await.map_err(CliError::call)?;
        let full = page.len() >= ask as usize;
        if let Some(last) = page.last() {
            after = last.seq;
        }
        actions.extend(page);
        if !full {
            break;
        }
    }
    Ok(actions)
}

fn seconds(timestamp: &Option<prost_types::Timestamp>) -> Option<i64> {
    timestamp.as_ref().map(|t| t.seconds)
}

/// The outcome in words: "OK", "FAILED_PRECONDITION: month 2026-01 …",
/// or "(none recorded)".
fn outcome(action: &pb::OperatorAction) -> String {
    match (action.outcome_code.as_str(), action.outcome_message.as_str()) {
        ("", _) => "(none recorded)".into(),
        (code, "") => code.into(),
        (code, message) => format!("{code}: {message}"),
    }
}

/// The display columns of an outcome in the narrow table (the whole
/// message is in --json and --csv).
const OUTCOME_WIDTH: usize = 48;

/// How much of an action a table shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Columns {
    /// What fits a terminal: seq, at, who, action, outcome (cut to
    /// [`OUTCOME_WIDTH`]), why.
    Narrow,
    /// Everything, as CSV carries it.
    All,
}

pub fn table(actions: &[pb::OperatorAction], columns: Columns) -> Table {
    let header: &[&str] = match columns {
        Columns::Narrow => &["seq", "at", "who", "action", "outcome", "why"],
        Columns::All => &["seq", "at", "who", "role", "action", "outcome", "why", "what", "outcome at"],
    };
    let mut table = Table::new(header).right_aligned([0]);
    for action in actions {
        let at = cst_time(seconds(&action.at));
        table.row(match columns {
            Columns::Narrow => vec![
                action.seq.to_string(),
                at,
                action.who.clone(),
                action.action.clone(),
                clip(&outcome(action), OUTCOME_WIDTH),
                action.why.clone(),
            ],
            Columns::All => vec![
                action.seq.to_string(),
                at,
                action.who.clone(),
                action.role.clone(),
                action.action.clone(),
                outcome(action),
                action.why.clone(),
                action.what.clone(),
                cst_time(seconds(&action.outcome_at)),
            ],
        });
    }
    table
}

pub fn to_json(action: &pb::OperatorAction) -> serde_json::Value {
    serde_json::json!({
        "seq": action.seq,
        "at": cst_time(seconds(&action.at)),
        "who": action.who,
        "role": action.role,
        "action": action.action,
        "what": action.what,
        "why": action.why,
        "outcome_code": action.outcome_code,
        "outcome_message": action.outcome_message,
        "outcome_at": cst_time(seconds(&action.outcome_at)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn action(seq: u64, code: &str, message: &str) -> pb::OperatorAction {
        pb::OperatorAction {
            seq,
            at: Some(prost_types::Timestamp { seconds: 0, nanos: 0 }),
            who: "alice".into(),
            role: "operator".into(),
            action: "CloseMonth".into(),
            what: r#"{"period":"2026-01"}"#.into(),
            why: "month end".into(),
            outcome_code: code.into(),
            outcome_message: message.into(),
            outcome_at: None,
        }
    }

    #[test]
    fn each_action_is_a_row_with_its_outcome_in_words() {
        let mut out = Vec::new();
        table(
            &[action(1, "OK", ""), action(2, "FAILED_PRECONDITION", "not open"), action(3, "", "")],
            Columns::All,
        )
        .write_text(&mut out)
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("1970-01-01 08:00:00 +08:00"), "{text}");
        assert!(text.contains("FAILED_PRECONDITION: not open"), "{text}");
        assert!(text.contains("(none recorded)"), "{text}");
        assert!(text.contains(r#"{"period":"2026-01"}"#), "{text}");
        let json = to_json(&action(1, "OK", ""));
        assert_eq!((json["seq"].as_u64(), json["why"].as_str()), (Some(1), Some("month end")));
    }
}
