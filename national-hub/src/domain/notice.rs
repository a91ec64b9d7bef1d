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

/// Decides a recipient's node's request to decline a wallet transfer (its
/// recipient's insurance ended or moved), given the hub's record of the
/// transfer: it passes, once per id, only from the recipient's province to
/// the sender's, for the recipient the transfer was sent to. The hub records
/// nothing of it: the sender's node decides, and tells the outcome.
pub fn decide_wallet_decline_asked(notice: &Notice, recorded: Option<&WalletRecord>, relayed: bool) -> (Result<(), NoticeRefusal>, bool) {
    let NoticeBody::WalletDeclineAsked { recipient_id, .. } = &notice.body else {
        return (Err(NoticeRefusal::wallet(notice, "it is no request to decline")), false);
    };
    let checked = match recorded {
        None => Err(NoticeRefusal::wallet(notice, "the hub has no record of its sending")),
        Some(r) if (r.recipient_province, r.sender_province) != (notice.from, notice.to) => Err(NoticeRefusal::wallet(
            notice,
            format!(
                "it was sent from province {} to province {}; only the recipient's node asks the sender's to decline it",
                r.sender_province, r.recipient_province
            ),
        )),
        Some(r) if r.note.recipient_id != *recipient_id => Err(NoticeRefusal::wallet(
            notice,
            format!("it was sent to {}, not {recipient_id}", r.note.recipient_id),
        )),
        Some(_) if notice.id != notice.body.notice_id() => Err(NoticeRefusal::wallet(
            notice,
            format!("its id must be {:?}, made from what it says", notice.body.notice_id()),
        )),
        Some(_) => Ok(()),
    };
    let enqueue = checked.is_ok() && !relayed;
    (checked, enqueue)
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

    fn sent_13_to_41() -> WalletRecord {
        WalletRecord {
            sender_province: province("13"),
            recipient_province: province("41"),
            note: WalletNote {
                transfer_id: id("w-1"),
                sender_id: id("son-13"),
                recipient_id: id("mother-41"),
                amount: Money::parse_positive("amount", "100.00").unwrap(),
                sent_at: 1,
                return_at: 2,
                outcome: None,
            },
            updated_at: 1,
        }
    }

    fn decline_asked(from: &str, to: &str, recipient: &str) -> Notice {
        let body = NoticeBody::WalletDeclineAsked {
            transfer_id: id("w-1"),
            recipient_id: id(recipient),
        };
        Notice {
            id: body.notice_id(),
            from: province(from),
            to: province(to),
            body,
        }
    }

    #[test]
    fn only_the_recipients_node_asks_the_senders_to_decline_a_wallet_transfer_once_per_id() {
        let record = sent_13_to_41();
        let asked = decline_asked("41", "13", "mother-41");
        assert_eq!(asked.id, "wallet_decline/w-1");
        assert_eq!(decide_wallet_decline_asked(&asked, Some(&record), false), (Ok(()), true));
        assert_eq!(decide_wallet_decline_asked(&asked, Some(&record), true), (Ok(()), false));
        for (notice, why) in [
            (decline_asked("13", "41", "mother-41"), "only the recipient's node"),
            (decline_asked("41", "13", "aunt-41"), "not aunt-41"),
        ] {
            let (checked, enqueue) = decide_wallet_decline_asked(&notice, Some(&record), false);
            assert!(!enqueue);
            assert!(checked.unwrap_err().to_string().contains(why), "{why}");
        }
        let (checked, _) = decide_wallet_decline_asked(&asked, None, false);
        assert!(checked.unwrap_err().to_string().contains("no record of its sending"));
    }
}
