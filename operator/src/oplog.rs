//! `gongji oplog`: a province node's or the hub's operator audit log, read
//! page by page (ListOperatorActions) and printed as a table, or as one
//! JSON object per line with --json.

use std::io::Write;

use gongji_proto::v1 as pb;
use tonic::Status;

use crate::{
    args::OplogArgs,
    error::{CliError, EXIT_OK},
    output::{cst_time, Table},
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

pub async fn command(session: &Session, args: OplogArgs, out: &mut dyn Write) -> Result<u8, CliError> {
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
    let actions = read(&mut server, args.after, args.limit).await?;
    if args.json {
        for action in &actions {
            writeln!(out, "{}", to_json(action))?;
        }
    } else if actions.is_empty() {
        writeln!(out, "no operator actions after #{}", args.after)?;
    } else {
        table(&actions).write(out)?;
    }
    Ok(EXIT_OK)
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

pub fn table(actions: &[pb::OperatorAction]) -> Table {
    let mut table = Table::new(&["seq", "at", "who", "role", "action", "outcome", "why", "what"]).right_aligned([0]);
    for action in actions {
        table.row(vec![
            action.seq.to_string(),
            cst_time(seconds(&action.at)),
            action.who.clone(),
            action.role.clone(),
            action.action.clone(),
            outcome(action),
            action.why.clone(),
            action.what.clone(),
        ]);
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
        table(&[action(1, "OK", ""), action(2, "FAILED_PRECONDITION", "not open"), action(3, "", "")])
            .write(&mut out)
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
