//! The audit's comparison of cross-province wallet transfers: each one as
//! its sender's node (the record that decides), the hub and its recipient's
//! node record it. All three must say the same outcome (or unaccepted) and
//! the same month of it; a transfer the hub or a recipient's node holds must
//! be held by its sender's node. Read a page at a time (`ListWalletTransfers`
//! at the hub and at each node, outgoing and incoming).

use std::collections::{BTreeMap, BTreeSet};

use gongji_common::ProvinceCode;
use gongji_proto::v1 as pb;

use crate::{
    error::CliError,
    session::{HubClient, NodeClient},
};

/// Records read a page at a time.
const PAGE: u32 = 1000;

/// One transfer as each server that holds it records it.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Seen {
    hub: Option<pb::WalletTransfer>,
    sender: Option<pb::WalletTransfer>,
    recipient: Option<pb::WalletTransfer>,
}

/// Every transfer read once, and those whose records disagree (by id, with
/// the sentence naming the three values).
#[derive(Debug, Default)]
pub(super) struct Comparison {
    pub transfers: u64,
    pub differences: BTreeMap<String, String>,
}

/// Reads every cross-province wallet transfer at the hub and at every node,
/// and compares the three records of each.
pub(super) async fn compare(hub: &HubClient, nodes: &BTreeMap<ProvinceCode, NodeClient>) -> Result<Comparison, CliError> {
    let audited: BTreeSet<String> = nodes.keys().map(|code| code.to_string()).collect();
    let mut seen: BTreeMap<String, Seen> = BTreeMap::new();
    let at_hub = hub.clone();
    for t in every_page(|cursor| {
        let mut hub = at_hub.clone();
        async move { hub.list_wallet_transfers(request(false, &cursor)).await }
    })
    .await?
    {
        let id = t.transfer_id.clone();
        seen.entry(id).or_default().hub = Some(t);
    }
    for node in nodes.values() {
        for incoming in [false, true] {
            let transfers = every_page(|cursor| {
                let mut node = node.clone();
                async move { node.list_wallet_transfers(request(incoming, &cursor)).await }
            })
            .await?;
            for t in transfers {
                let id = t.transfer_id.clone();
                let entry = seen.entry(id).or_default();
                if incoming {
                    entry.recipient = Some(t);
                } else {
                    entry.sender = Some(t);
                }
            }
        }
    }
    let mut comparison = Comparison {
        transfers: seen.len() as u64,
        ..Comparison::default()
    };
    for (id, records) in &seen {
        if let Some(text) = judge(id, records, &audited) {
            comparison.differences.insert(id.clone(), text);
        }
    }
    Ok(comparison)
}

/// Every transfer of a listing, page after page (`list` asks for the page
/// after a cursor).
async fn every_page<F, Fut>(mut list: F) -> Result<Vec<pb::WalletTransfer>, CliError>
where
    F: FnMut(String) -> Fut,
    Fut: std::future::Future<Output = Result<tonic::Response<pb::ListWalletTransfersResponse>, tonic::Status>>,
{
    let (mut all, mut cursor) = (Vec::new(), String::new());
    loop {
        let page = list(cursor).await.map_err(CliError::call)?.into_inner();
        all.extend(page.transfers);
        if page.next_cursor.is_empty() {
            return Ok(all);
        }
        cursor = page.next_cursor;
    }
}

fn request(incoming: bool, cursor: &str) -> pb::ListWalletTransfersRequest {
    pb::ListWalletTransfersRequest {
        incoming,
        cursor: cursor.to_owned(),
        limit: PAGE,
    }
}

/// "declined in 2026-12", "unaccepted", or "missing".
fn says(record: Option<&pb::WalletTransfer>) -> String {
    let Some(t) = record else {
        return "missing".to_owned();
    };
    let status = pb::WalletTransferStatus::try_from(t.status)
        .map(|s| s.as_str_name().trim_start_matches("WALLET_TRANSFER_STATUS_").to_lowercase())
        .unwrap_or_else(|_| format!("status {}", t.status));
    if t.period.is_empty() {
        status
    } else {
        format!("{status} in {}", t.period)
    }
}

/// How the records of transfer `id` disagree, if they do. A server whose
/// province is not audited is not read, so what it would hold is not judged.
fn judge(id: &str, seen: &Seen, audited: &BTreeSet<String>) -> Option<String> {
    let any = seen.sender.as_ref().or(seen.hub.as_ref()).or(seen.recipient.as_ref())?;
    let (from, to) = (any.sender_province.clone(), any.recipient_province.clone());
    let values = [
        (audited.contains(&from), seen.sender.as_ref()),
        (true, seen.hub.as_ref()),
        (audited.contains(&to), seen.recipient.as_ref()),
    ];
    let compared: Vec<String> = values.iter().filter(|(read, _)| *read).map(|(_, r)| says(*r)).collect();
    if compared.windows(2).all(|pair| pair[0] == pair[1]) {
        return None;
    }
    Some(format!(
        "wallet transfer {id} from province {from} to province {to}: the sender's node says {}, the hub says {}, the recipient's node says {}",
        if audited.contains(&from) { says(seen.sender.as_ref()) } else { "(not audited)".to_owned() },
        says(seen.hub.as_ref()),
        if audited.contains(&to) { says(seen.recipient.as_ref()) } else { "(not audited)".to_owned() },
    ))
}
