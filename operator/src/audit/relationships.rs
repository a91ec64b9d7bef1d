//! The audit's comparison of relationships: each cross-province
//! relationship as its donor's node (the owner, which holds the frozen
//! quota) and its beneficiary's node (a grant record) hold it. Both must
//! record the same parties and status, and while it is active the same
//! quota and the same used (once it has ended the two may keep different
//! last figures: only the donor's node moves money then). A node that is
//! no party to a relationship must not hold it at all.

use std::collections::{BTreeMap, BTreeSet};

use gongji_common::ProvinceCode;
use gongji_proto::v1 as pb;
use tonic::{Code, Streaming};

use crate::{error::CliError, session::NodeClient};

/// A relationship as each audited node that holds it records it, by province.
pub(super) type Held = Vec<(ProvinceCode, pb::Relationship)>;

/// How the nodes' records of one relationship disagree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Difference {
    /// A sentence naming the relationship, the nodes and what each records.
    pub text: String,
    /// Only what payments used differs: parties, statuses and quotas agree.
    pub used_only: bool,
}

/// A relationship whose records disagree, as last read.
#[derive(Debug, Clone)]
pub(super) struct Unsettled {
    pub difference: Difference,
    pub held: Held,
    /// The records changed between the last two readings: it is in use.
    pub changing: bool,
}

/// Every node's relationships read once, and those whose records disagree.
#[derive(Debug, Default)]
pub(super) struct Comparison {
    /// Relationships read (each once, however many nodes hold it).
    pub relationships: u64,
    /// Those whose records disagree, by id.
    pub unsettled: BTreeMap<String, Unsettled>,
}

/// Reads every relationship of every node, each node from one snapshot, and
/// merges them by id as the nodes stream them (in id order): constant
/// memory but for the differences.
pub(super) async fn compare(nodes: &mut BTreeMap<ProvinceCode, NodeClient>) -> Result<Comparison, CliError> {
    let audited: BTreeSet<ProvinceCode> = nodes.keys().copied().collect();
    let mut streams = Vec::new();
    for (code, node) in nodes.iter_mut() {
        let stream = node
            .stream_relationships(pb::StreamRelationshipsRequest {})
            .await
            .map_err(CliError::call)?
            .into_inner();
        streams.push((*code, stream));
    }
    let mut heads = Vec::new();
    for (_, stream) in streams.iter_mut() {
        heads.push(next(stream).await?);
    }
    let mut comparison = Comparison::default();
    // The least id at any stream's head is the next relationship: every
    // node that holds it has it at its head now.
    while let Some(id) = heads.iter().flatten().map(|r| r.relationship_id.clone()).min() {
        let mut held = Held::new();
        for ((code, stream), head) in streams.iter_mut().zip(heads.iter_mut()) {
            if let Some(record) = head.take_if(|r| r.relationship_id == id) {
                held.push((*code, record));
                *head = next(stream).await?;
            }
        }
        comparison.relationships += 1;
        if let Some(difference) = judge(&id, &held, &audited)? {
            comparison.unsettled.insert(
                id,
                Unsettled {
                    difference,
                    held,
                    changing: false,
                },
            );
        }
    }
    Ok(comparison)
}

async fn next(stream: &mut Streaming<pb::Relationship>) -> Result<Option<pb::Relationship>, CliError> {
    stream.message().await.map_err(CliError::call)
}

/// Reads relationship `id` again at every audited node that held it or is
/// one of its parties, and judges it again: `None` once the records agree.
pub(super) async fn read_again(
    nodes: &mut BTreeMap<ProvinceCode, NodeClient>,
    id: &str,
    before: &Unsettled,
) -> Result<Option<Unsettled>, CliError> {
    let audited: BTreeSet<ProvinceCode> = nodes.keys().copied().collect();
    let mut asked = BTreeSet::new();
    for (at, record) in &before.held {
        asked.insert(*at);
        asked.insert(province(&record.donor_province)?);
        asked.insert(province(&record.beneficiary_province)?);
    }
    // In province order, as the first reading: readings compare as equal
    // when nothing changed.
    let mut held = Held::new();
    for at in asked {
        let Some(node) = nodes.get_mut(&at) else {
            continue;
        };
        let request = pb::GetRelationshipRequest {
            relationship_id: id.to_owned(),
        };
        match node.get_relationship(request).await {
            Ok(found) => held.push((at, found.into_inner())),
            Err(status) if status.code() == Code::NotFound => {}
            Err(status) => return Err(CliError::call(status)),
        }
    }
    Ok(judge(id, &held, &audited)?.map(|difference| Unsettled {
        difference,
        changing: held != before.held,
        held,
    }))
}

fn province(code: &str) -> Result<ProvinceCode, CliError> {
    ProvinceCode::parse("province", code).map_err(|e| CliError::Other(format!("a node sent a malformed relationship: {e}")))
}

fn status(record: &pb::Relationship) -> String {
    match pb::RelationshipStatus::try_from(record.status) {
        Ok(pb::RelationshipStatus::Pending) => "pending".into(),
        Ok(pb::RelationshipStatus::Active) => "active".into(),
        Ok(pb::RelationshipStatus::Declined) => "declined".into(),
        Ok(pb::RelationshipStatus::Dissolved) => "dissolved".into(),
        _ => format!("status {}", record.status),
    }
}

/// Who gives to whom, as a record says.
fn parties(record: &pb::Relationship) -> String {
    format!(
        "donor {} of province {} to beneficiary {} of province {} (kind {})",
        record.donor_id, record.donor_province, record.beneficiary_id, record.beneficiary_province, record.relation_kind
    )
}

/// One node's record, with the provinces it names.
struct Side<'a> {
    at: ProvinceCode,
    donor: ProvinceCode,
    beneficiary: ProvinceCode,
    record: &'a pb::Relationship,
}

/// How the records of relationship `id` disagree, if they do. Nodes whose
/// province is not `audited` are not read, so what they would hold is not
/// judged.
pub(super) fn judge(id: &str, held: &Held, audited: &BTreeSet<ProvinceCode>) -> Result<Option<Difference>, CliError> {
    let mut sides = Vec::new();
    for (at, record) in held {
        sides.push(Side {
            at: *at,
            donor: province(&record.donor_province)?,
            beneficiary: province(&record.beneficiary_province)?,
            record,
        });
    }
    let differs = |text: String| {
        Ok(Some(Difference {
            text: format!("relationship {id}: {text}"),
            used_only: false,
        }))
    };
    // A node that is no party holds it (a notice from a non-party applied, say).
    if let Some(side) = sides.iter().find(|s| s.at != s.donor && s.at != s.beneficiary) {
        return differs(format!(
            "province {} holds it ({}), but is no party to it (the donor's province is {}, the beneficiary's {})",
            side.at,
            status(side.record),
            side.donor,
            side.beneficiary
        ));
    }
    // A same-province relationship is one record at one node: nothing to compare.
    let crossing = |s: &&Side| s.donor != s.beneficiary;
    let donors = sides.iter().filter(crossing).find(|s| s.at == s.donor);
    let beneficiaries = sides.iter().filter(crossing).find(|s| s.at == s.beneficiary);
    match (donors, beneficiaries) {
        (Some(d), Some(b)) => {
            let at_donor = format!("at the donor's node (province {})", d.at);
            let at_beneficiary = format!("at the beneficiary's node (province {})", b.at);
            let (dr, br) = (d.record, b.record);
            if parties(dr) != parties(br) {
                return differs(format!("{at_donor} it is {}, {at_beneficiary} {}", parties(dr), parties(br)));
            }
            if dr.status != br.status {
                return differs(format!("{} {at_donor}, {} {at_beneficiary}", status(dr), status(br)));
            }
            // Only while it is active do both sides move together; once it has
            // ended, only the donor's node moves money (a late refund, say).
            if dr.status != pb::RelationshipStatus::Active as i32 {
                return Ok(None);
            }
            if dr.quota != br.quota {
                return differs(format!("quota {} {at_donor}, {} {at_beneficiary}", dr.quota, br.quota));
            }
            if dr.used != br.used {
                return Ok(Some(Difference {
                    text: format!("relationship {id}: used {} {at_donor}, {} {at_beneficiary}", dr.used, br.used),
                    used_only: true,
                }));
            }
            Ok(None)
        }
        (Some(d), None) => {
            // A grant the hub declined before any beneficiary's node saw it
            // (a province not connected) is the donor's alone.
            if !audited.contains(&d.beneficiary) || d.record.status == pb::RelationshipStatus::Declined as i32 {
                return Ok(None);
            }
            differs(format!(
                "{} at the donor's node (province {}), unknown at the beneficiary's node (province {})",
                status(d.record),
                d.at,
                d.beneficiary
            ))
        }
        (None, Some(b)) => {
            if !audited.contains(&b.donor) {
                return Ok(None);
            }
            differs(format!(
                "unknown at the donor's node (province {}), {} at the beneficiary's node (province {})",
                b.donor,
                status(b.record),
                b.at
            ))
        }
        (None, None) => Ok(None),
    }
}

/// What the self-checks say is still on its way to a relationship's nodes.
#[derive(Debug, Default)]
pub(super) struct Waiting {
    /// Relationships whose grant is pending, or of which an end, a request
    /// to end or a quota change is still in an outbox.
    relationships: BTreeSet<String>,
    /// Some payment, refund or reversal is pending: once it completes, what
    /// a relationship used moves at the node that has not yet counted it.
    transactions: bool,
}

impl Waiting {
    pub fn of(checks: &[(String, pb::SelfCheckReport)]) -> Waiting {
        let mut waiting = Waiting::default();
        for (_, check) in checks {
            for entry in &check.pending_ids {
                match entry.split_once('/') {
                    Some(("grant", id)) => {
                        waiting.relationships.insert(id.to_owned());
                    }
                    Some(("payment" | "refund" | "reversal", _)) => waiting.transactions = true,
                    _ => {}
                }
            }
            for entry in &check.outbox_ids {
                if let Some((_, id)) = entry.split_once('/') {
                    waiting.relationships.insert(id.to_owned());
                }
            }
        }
        waiting
    }

    /// Why a difference still found is in flight rather than a violation, if it is.
    pub fn in_flight(&self, id: &str, unsettled: &Unsettled) -> Option<&'static str> {
        if self.relationships.contains(id) {
            Some("its grant, an end, a request to end or a quota change is still on its way")
        } else if unsettled.difference.used_only && self.transactions {
            Some("payments were pending")
        } else if unsettled.changing {
            Some("it changed while the audit read it")
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(text: &str) -> ProvinceCode {
        ProvinceCode::parse("p", text).unwrap()
    }

    fn record(donor: &str, beneficiary: &str, status: pb::RelationshipStatus, quota: &str, used: &str) -> pb::Relationship {
        pb::Relationship {
            relationship_id: "rel-1".into(),
            donor_id: "d".into(),
            donor_province: donor.into(),
            beneficiary_id: "b".into(),
            beneficiary_province: beneficiary.into(),
            quota: quota.into(),
            used: used.into(),
            status: status as i32,
            ..pb::Relationship::default()
        }
    }

    fn judged(held: &[(&str, pb::Relationship)]) -> Option<Difference> {
        let held: Held = held.iter().map(|(at, r)| (code(at), r.clone())).collect();
        let audited = [code("32"), code("34"), code("37")].into();
        judge("rel-1", &held, &audited).unwrap()
    }

    #[test]
    fn both_sides_must_agree_while_active_and_on_the_status_after() {
        use pb::RelationshipStatus::{Active, Declined, Dissolved};
        let active = record("34", "37", Active, "1000.00", "10.00");
        assert_eq!(judged(&[("34", active.clone()), ("37", active.clone())]), None);

        let ended = record("34", "37", Dissolved, "1000.00", "10.00");
        let found = judged(&[("34", active.clone()), ("37", ended.clone())]).unwrap();
        assert_eq!(
            found.text,
            "relationship rel-1: active at the donor's node (province 34), dissolved at the beneficiary's node (province 37)"
        );

        let less = record("34", "37", Active, "800.00", "10.00");
        assert!(judged(&[("34", active.clone()), ("37", less)])
            .unwrap()
            .text
            .contains("quota 1000.00"));
        let used = record("34", "37", Active, "1000.00", "12.00");
        assert!(judged(&[("34", active.clone()), ("37", used)]).unwrap().used_only);
        // Ended on both sides: the last figures may differ.
        let ended_used = record("34", "37", Dissolved, "1000.00", "0.00");
        assert_eq!(judged(&[("34", ended), ("37", ended_used)]), None);

        // One side only: unknown at the other, unless the hub declined it first.
        assert!(judged(&[("34", active.clone())])
            .unwrap()
            .text
            .contains("unknown at the beneficiary's node"));
        assert!(judged(&[("37", active.clone())])
            .unwrap()
            .text
            .contains("unknown at the donor's node"));
        assert_eq!(judged(&[("34", record("34", "37", Declined, "1000.00", "0.00"))]), None);

        // A node that is no party holds it; a same-province one has nothing to compare.
        assert!(judged(&[("32", active.clone()), ("34", active.clone()), ("37", active)])
            .unwrap()
            .text
            .contains("province 32 holds it (active), but is no party to it"));
        assert_eq!(judged(&[("34", record("34", "34", Active, "1.00", "0.00"))]), None);
    }
}
