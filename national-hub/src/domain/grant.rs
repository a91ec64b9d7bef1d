//! The hub's directory of cross-province relationships: each grant it
//! routed from the donor's node to the beneficiary's, with that node's
//! answer. A new grant between provinces the hub does not serve is declined
//! with nothing recorded; a repeat gets its recorded answer; a grant whose
//! id holds another is refused. The directory is what notices are checked
//! against (see `notice`).

use std::collections::BTreeSet;

use gongji_common::{
    contract::{Decline, DeclineReason, Grant, TxStatus},
    ProvinceCode,
};
use serde::{Deserialize, Serialize};

use super::{check_connected, Refusal};

/// A grant routed by the hub: the directory entry of a cross-province relationship.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantRecord {
    pub grant: Grant,
    pub status: TxStatus,
    pub decline: Option<Decline>,
    pub recorded_at: i64,
    pub decided_at: Option<i64>,
}

impl GrantRecord {
    /// The answer the donor's node gets; none while the beneficiary's node has not given one.
    pub fn answer(&self) -> Option<Result<(), Decline>> {
        match self.status {
            TxStatus::Pending => None,
            TxStatus::Approved => Some(Ok(())),
            TxStatus::Declined | TxStatus::Reversed => Some(Err(self
                .decline
                .clone()
                .unwrap_or_else(|| Decline::new(DeclineReason::RefusedByPeer, "declined")))),
        }
    }
}

/// What routing a grant comes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrantDecision {
    /// Routed before with this content: its answer stands (the
    /// beneficiary's node is asked again while it is pending). Nothing written.
    Recorded(GrantRecord),
    /// A province the hub does not serve: declined, nothing recorded.
    NotConnected(Decline),
    /// New: recorded pending, for the beneficiary's node.
    New(GrantRecord),
}

/// Decides a grant (checked to cross a border) arriving at `now`, given the
/// directory's entry under its id and the provinces the hub serves.
pub fn decide(
    existing: Option<&GrantRecord>,
    grant: &Grant,
    registered: &BTreeSet<ProvinceCode>,
    now: i64,
) -> Result<GrantDecision, Refusal> {
    if let Some(existing) = existing {
        return if existing.grant == *grant {
            Ok(GrantDecision::Recorded(existing.clone()))
        } else {
            Err(Refusal::reused("relationship", &grant.relationship_id))
        };
    }
    // Only a new grant is refused for a province the hub does not know: an
    // existing one keeps its recorded answer whatever the registry says.
    if let Err(decline) = check_connected(registered, [grant.donor_province, grant.beneficiary_province]) {
        return Ok(GrantDecision::NotConnected(decline));
    }
    Ok(GrantDecision::New(GrantRecord {
        grant: grant.clone(),
        status: TxStatus::Pending,
        decline: None,
        recorded_at: now,
        decided_at: None,
    }))
}

/// The beneficiary's node's `answer` recorded at `now`; `None` when the
/// grant was answered meanwhile (nothing changes).
pub fn decide_answer(record: &GrantRecord, answer: &Result<(), Decline>, now: i64) -> Option<GrantRecord> {
    if record.status != TxStatus::Pending {
        return None;
    }
    let mut record = record.clone();
    record.status = if answer.is_ok() { TxStatus::Approved } else { TxStatus::Declined };
    record.decline = answer.clone().err();
    record.decided_at = Some(now);
    Some(record)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::testing::{grant, registered};

    #[test]
    fn a_new_grant_waits_for_the_beneficiarys_node_and_one_to_a_province_not_served_is_declined() {
        let served = registered(&["13", "41"]);
        let GrantDecision::New(record) = decide(None, &grant("rel-1", "13", "41"), &served, 3).unwrap() else {
            panic!("not recorded");
        };
        assert_eq!((record.status, record.recorded_at, record.answer()), (TxStatus::Pending, 3, None));
        let Ok(GrantDecision::NotConnected(decline)) = decide(None, &grant("rel-1", "13", "32"), &served, 3) else {
            panic!("not declined");
        };
        assert_eq!(decline.message, "province 32 is not connected to the national hub");
    }

    #[test]
    fn a_repeated_grant_gets_its_answer_and_another_under_its_id_is_refused() {
        let recorded = GrantRecord {
            grant: grant("rel-1", "13", "41"),
            status: TxStatus::Approved,
            decline: None,
            recorded_at: 1,
            decided_at: Some(2),
        };
        let nobody = registered(&[]);
        assert_eq!(
            decide(Some(&recorded), &grant("rel-1", "13", "41"), &nobody, 3),
            Ok(GrantDecision::Recorded(recorded.clone()))
        );
        assert_eq!(
            decide(Some(&recorded), &grant("rel-1", "13", "32"), &nobody, 3),
            Err(Refusal::AlreadyExists(
                "relationship id rel-1 was already used with different content".into()
            ))
        );
    }

    #[test]
    fn the_beneficiarys_answer_is_recorded_once() {
        let GrantDecision::New(pending) = decide(None, &grant("rel-1", "13", "41"), &registered(&["13", "41"]), 1).unwrap() else {
            panic!("not recorded");
        };
        let decline = Decline::new(DeclineReason::PersonNotActive, "not insured here");
        let declined = decide_answer(&pending, &Err(decline.clone()), 5).expect("recorded");
        assert_eq!((declined.status, declined.decided_at), (TxStatus::Declined, Some(5)));
        assert_eq!(declined.answer(), Some(Err(decline)));
        assert_eq!(decide_answer(&declined, &Ok(()), 6), None, "a later answer changes nothing");
    }
}
