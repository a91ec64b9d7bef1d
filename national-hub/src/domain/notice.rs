//! Which notices pass between provinces. The hub relays a notice only
//! between the two parties of a relationship in its directory, from the
//! party that sends that kind (see `Notice::check_against`), once per id. A
//! relationship its donor ended before its grant ever reached the hub is
//! checked against the grant the end carries, and kept in the directory as
//! ended. A refused notice is neither recorded nor relayed.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use gongji_common::{
    contract::{Decline, DeclineReason, Notice, NoticeBody, NoticeRefusal, TxStatus, WalletNote},
    FieldError, ProvinceCode,
};

use super::GrantRecord;

/// "Both provinces of a notice are served by the hub" (bad input otherwise).
pub fn check_provinces(notice: &Notice, registered: &BTreeSet<ProvinceCode>) -> Result<(), FieldError> {
    for (field, province) in [("from_province", notice.from), ("to_province", notice.to)] {
        if !registered.contains(&province) {
            return Err(FieldError::new(
                field,
                format!("province {province} is not connected to the national hub"),
            ));
        }
    }
    Ok(())
}

/// "A notice crosses provinces": only a same-province relationship has both
/// parties in one province, and nothing of it ever needs the hub.
pub fn check_crosses(notice: &Notice) -> Result<(), NoticeRefusal> {
    if notice.from == notice.to {
        return Err(NoticeRefusal::SameProvince {
            relationship: notice.body.relationship_id().clone(),
            province: notice.from,
            from: notice.from,
        });
    }
    Ok(())
}

/// What relaying a notice comes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayDecision {
    /// Whether it may pass (if not, nothing is written).
    pub checked: Result<(), NoticeRefusal>,
    /// A directory entry to write: an end that overtook its grant.
    pub ended: Option<GrantRecord>,
    /// Take it into the outbox (a notice of this id was not taken in before).
    pub enqueue: bool,
}

/// Decides a notice (whose provinces are checked) at `now`, given the
/// directory's entry for its relationship and whether its id was relayed.
pub fn decide(notice: &Notice, directory: Option<&GrantRecord>, relayed: bool, now: i64) -> RelayDecision {
    let relationship = notice.body.relationship_id();
    let mut ended = None;
    let checked = match (directory, &notice.body) {
        (Some(record), _) => notice.check_against(&record.grant),
        // Ended by its donor before its grant ever reached the hub (the hub
        // was down): the grant the end carries is checked instead, and kept
        // in the directory as ended, so that the beneficiary's node learns it
        // and nothing else of it passes.
        (None, NoticeBody::RelationshipEnded { grant, .. }) if grant.relationship_id == *relationship => {
            let checked = notice.check_against(grant);
            if checked.is_ok() {
                ended = Some(GrantRecord {
                    grant: grant.clone(),
                    status: TxStatus::Reversed,
                    decline: Some(Decline::new(
                        DeclineReason::RelationshipNotActive,
                        format!("relationship {relationship} was ended by its donor before its grant reached the hub"),
                    )),
                    recorded_at: now,
                    decided_at: Some(now),
                });
            }
            checked
        }
        (None, _) => Err(NoticeRefusal::Unknown {
            relationship: relationship.clone(),
            from: notice.from,
        }),
    };
    RelayDecision {
        enqueue: checked.is_ok() && !relayed,
        checked,
        ended,
    }
}

/// A cross-province wallet transfer as the hub recorded it from its
/// sender's node's notices: sent, then its one outcome and the month of it.
/// Nothing is owed for it but an acceptance, which is routed and booked as
/// a transaction of kind `WALLET_TRANSFER` (docs/WALLET.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalletRecord {
    pub sender_province: ProvinceCode,
    pub recipient_province: ProvinceCode,
    pub note: WalletNote,
    /// When the hub last learned something of it.
    pub updated_at: i64,
}

/// Decides a wallet notice (whose provinces are checked) at `now`, given the
/// hub's record of the transfer and whether its id was relayed: the record
/// to write (what was sent, then its outcome, whatever order the two
/// notices come in), and whether to take it into the outbox for the
/// recipient's node.
pub fn decide_wallet(
    notice: &Notice,
    note: &WalletNote,
    recorded: Option<&WalletRecord>,
    relayed: bool,
    now: i64,
) -> (Result<Option<WalletRecord>, NoticeRefusal>, bool) {
    let checked = match recorded {
        Some(r) if (r.sender_province, r.recipient_province) != (notice.from, notice.to) => Err(NoticeRefusal::wallet(
            notice,
            format!(
                "it was sent from province {} to province {}",
                r.sender_province, r.recipient_province
            ),
        )),
        _ => notice.check_wallet(note, recorded.map(|r| &r.note)),
    };
    match checked {
        Err(refusal) => (Err(refusal), false),
        Ok(merged) if recorded.is_some_and(|r| r.note == merged) => (Ok(None), !relayed),
        Ok(merged) => (
            Ok(Some(WalletRecord {
                sender_province: notice.from,
                recipient_province: notice.to,
                note: merged,
                updated_at: now,
            })),
            !relayed,
        ),
    }
}

#[cfg(test)]
mod tests {
    use gongji_common::{
        contract::{EndReason, Grant},
        Id, Money,
    };

    use super::*;
    use crate::domain::testing::{grant, id, province, registered};

    fn ended(grant: &Grant, from: &str, to: &str) -> Notice {
        let body = NoticeBody::RelationshipEnded {
            grant: grant.clone(),
            reason: EndReason::DonorRequest,
            quota: Money::ZERO,
            used: Money::ZERO,
            version: 1,
        };
        Notice {
            id: body.notice_id(),
            from: province(from),
            to: province(to),
            body,
        }
    }

    fn directory(grant: &Grant) -> GrantRecord {
        GrantRecord {
            grant: grant.clone(),
            status: TxStatus::Approved,
            decline: None,
            recorded_at: 1,
            decided_at: Some(1),
        }
    }

    #[test]
    fn a_notice_passes_once_between_the_parties_of_a_relationship_in_the_directory() {
        let relationship = grant("rel-1", "13", "41");
        let notice = ended(&relationship, "13", "41");
        let first = decide(&notice, Some(&directory(&relationship)), false, 5);
        assert_eq!((first.checked, first.enqueue, first.ended), (Ok(()), true, None));
        let again = decide(&notice, Some(&directory(&relationship)), true, 5);
        assert_eq!((again.checked, again.enqueue), (Ok(()), false));
    }

    #[test]
    fn a_province_that_is_no_party_or_not_the_sender_of_its_kind_is_refused_and_nothing_is_written() {
        let relationship = grant("rel-1", "13", "41");
        for (from, to) in [("32", "41"), ("41", "13")] {
            let decided = decide(&ended(&relationship, from, to), Some(&directory(&relationship)), false, 5);
            assert!(
                decided.checked.as_ref().is_err_and(NoticeRefusal::is_not_a_party),
                "{from} → {to}: {decided:?}"
            );
            assert_eq!((decided.enqueue, decided.ended), (false, None));
        }
        let quota = NoticeBody::QuotaChanged {
            relationship_id: id("rel-9"),
            change_id: Id::parse("c", "c1").unwrap(),
            quota: Money::ZERO,
            version: 1,
        };
        let unknown = Notice {
            id: quota.notice_id(),
            from: province("13"),
            to: province("41"),
            body: quota,
        };
        assert!(matches!(
            decide(&unknown, None, false, 5).checked,
            Err(NoticeRefusal::Unknown { .. })
        ));
    }

    #[test]
    fn an_end_that_overtook_its_grant_is_checked_against_the_grant_it_carries_and_kept_as_ended() {
        let relationship = grant("rel-1", "13", "41");
        let decided = decide(&ended(&relationship, "13", "41"), None, false, 5);
        assert_eq!((decided.checked, decided.enqueue), (Ok(()), true));
        let entry = decided.ended.expect("kept in the directory");
        assert_eq!(
            (entry.status, entry.grant, entry.recorded_at),
            (TxStatus::Reversed, relationship, 5)
        );
    }

    #[test]
    fn a_notice_between_provinces_the_hub_does_not_serve_or_within_one_province_is_refused() {
        let relationship = grant("rel-1", "13", "41");
        assert!(check_provinces(&ended(&relationship, "13", "41"), &registered(&["13"]))
            .is_err_and(|e| e.to_string().contains("province 41 is not connected")));
        assert!(matches!(
            check_crosses(&ended(&relationship, "13", "13")),
            Err(NoticeRefusal::SameProvince { .. })
        ));
    }
}
