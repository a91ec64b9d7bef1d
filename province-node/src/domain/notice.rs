//! Notices from the other party's node of a relationship: its end, a
//! request to end it, a new quota. Applied once per notice id, and only
//! from the other party as this node recorded the relationship.

use gongji_common::contract::{Notice, NoticeBody, NoticeRefusal, WalletNote};

use super::{
    decide_settle, end, quota_event, Change, Decision, End, Event, EventKind, Held, IncomingWallet, RecipientState, Relationship,
    RelationshipStatus, Settle, WalletTransfer,
};
use gongji_common::Period;
use gongji_common::ProvinceCode;

/// What became of a delivered notice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    Applied,
    /// Its id was applied before.
    Repeated,
    /// It may not be applied here: acknowledged all the same, so that it is
    /// not sent again forever, and its id is not recorded as applied, so
    /// that a false notice cannot take the id of the true one.
    Refused(NoticeRefusal),
}

/// What a notice is applied on.
#[derive(Debug, Clone)]
pub struct NoticeState {
    pub here: ProvinceCode,
    /// Whether this notice id was applied before.
    pub applied: bool,
    /// The relationship it is about, as held here.
    pub held: Option<Held>,
    /// For a wallet notice: the transfer from another province as recorded here.
    pub incoming: Option<IncomingWallet>,
    /// For a request to decline a wallet transfer: the transfer as sent from here.
    pub sent: Option<WalletTransfer>,
    /// For a wallet notice: the recipient's wallet here is closed (their
    /// insurance ended or moved).
    pub wallet_closed: bool,
}

/// Applies a notice once per id, if it comes from the other party of a
/// relationship this node holds (see [`Notice::check_against`]). Only an
/// end may find none: it can overtake the grant it ends (the hub relays the
/// end while its recovery pass still forwards the grant), so it is checked
/// against the grant it carries, and recorded ended so that a late grant
/// can never make it live.
pub fn decide_notice(state: NoticeState, notice: &Notice, now: i64) -> Decision<Delivery> {
    if state.applied {
        return Decision::unchanged(Delivery::Repeated);
    }
    if let NoticeBody::Wallet(note) = &notice.body {
        return decide_wallet_notice(state.incoming, state.wallet_closed, notice, note, now);
    }
    if let NoticeBody::WalletDeclineAsked { recipient_id, .. } = &notice.body {
        return decide_wallet_decline_asked(state.sent, notice, recipient_id, state.here, now);
    }
    let checked = match (&state.held, &notice.body) {
        (Some(held), _) => notice.check_against(&held.relationship.grant),
        (None, NoticeBody::RelationshipEnded { grant, .. }) => notice.check_against(grant),
        (None, _) => Err(NoticeRefusal::Unknown {
            relationship: notice.body.relationship_id().clone(),
            from: notice.from,
        }),
    };
    if let Err(refusal) = checked {
        return Decision::unchanged(Delivery::Refused(refusal));
    }
    let mut changes = Vec::new();
    match &notice.body {
        NoticeBody::RelationshipEnded {
            grant,
            reason,
            quota,
            used,
            version,
        } => {
            let relationship = match state.held {
                Some(held) if held.relationship.owned_by(state.here) => None,
                Some(held) => Some(held.relationship),
                None => {
                    let mut r = Relationship::new(grant.clone(), RelationshipStatus::Dissolved, None, now);
                    r.quota = *quota;
                    r.used = *used;
                    Some(r)
                }
            };
            if let Some(mut relationship) = relationship {
                relationship.status = RelationshipStatus::Dissolved;
                // An end asked for here keeps its own time; otherwise it ends now.
                relationship.end.get_or_insert(End { reason: *reason, at: now });
                relationship.version = relationship.version.max(*version);
                relationship.updated_at = now;
                changes.push(Change::Relationship(relationship));
                changes.push(Change::Event(
                    grant.relationship_id.clone(),
                    Event::new(
                        EventKind::Dissolved,
                        format!("{}; the donor's province returned the unused quota", reason.describe()),
                        now,
                    )
                    .ended(*reason),
                ));
            }
        }
        NoticeBody::DissolutionRequested { reason, .. } => {
            if let Some(held) = state
                .held
                .filter(|h| h.relationship.owned_by(state.here) && h.relationship.is_live())
            {
                changes.extend(end(held, *reason, state.here, now).1);
            }
        }
        NoticeBody::QuotaChanged {
            change_id, quota, version, ..
        } => {
            // Only a newer change of a live grant record counts; a late
            // notice never undoes a later one.
            if let Some(Held { mut relationship, .. }) = state
                .held
                .filter(|h| !h.relationship.owned_by(state.here) && h.relationship.is_live() && *version > h.relationship.version)
            {
                let old_quota = relationship.quota;
                relationship.quota = *quota;
                relationship.version = *version;
                relationship.updated_at = now;
                changes.push(quota_event(&relationship, old_quota, change_id, now));
                changes.push(Change::Relationship(relationship));
            }
        }
        // Decided by `decide_wallet_notice` and `decide_wallet_decline_asked`, above.
        NoticeBody::Wallet(_) | NoticeBody::WalletDeclineAsked { .. } => {}
    }
    changes.push(Change::NoticeApplied(notice.id.clone()));
    Decision::new(Delivery::Applied, changes)
}

/// The sender's node declines a transfer its recipient's node asked it to
/// (the recipient's insurance there ended or moved): settled once, as any
/// decline, with its `wallet_settled` notice. A transfer already settled
/// (accepted, cancelled, returned, or declined before) keeps its outcome:
/// the request is acknowledged and not applied.
fn decide_wallet_decline_asked(
    sent: Option<WalletTransfer>,
    notice: &Notice,
    recipient_id: &gongji_common::Id,
    here: ProvinceCode,
    now: i64,
) -> Decision<Delivery> {
    let refused = |why: String| Decision::unchanged(Delivery::Refused(NoticeRefusal::wallet(notice, why)));
    let Some(transfer) = sent else {
        return refused(format!("no wallet transfer of that id was sent from province {here}"));
    };
    if transfer.command.recipient_province != notice.from {
        return refused(format!("it was sent to province {}", transfer.command.recipient_province));
    }
    let settle = Settle::Decline { by: recipient_id.clone() };
    let id = transfer.id().clone();
    match decide_settle(
        Some(transfer),
        &id,
        &settle,
        RecipientState::Inactive,
        Period::of_unix_millis(now),
        here,
        now,
    ) {
        Ok(decided) => {
            let mut changes = decided.changes;
            changes.push(Change::NoticeApplied(notice.id.clone()));
            Decision::new(Delivery::Applied, changes)
        }
        Err(refusal) => refused(refusal.to_string()),
    }
}

/// Records what the sender's node of another province says of a wallet
/// transfer to a person of this province: sent (listed unaccepted), then its
/// one outcome. Whatever order the two notices arrive in, the record ends
/// the same; a notice that says otherwise than the record is refused. The
/// sending of a transfer to a wallet closed meanwhile (the recipient's
/// insurance ended or moved while its notice was on its way) is answered at
/// once with a request to decline it, as the closing asks for the others.
fn decide_wallet_notice(
    recorded: Option<IncomingWallet>,
    wallet_closed: bool,
    notice: &Notice,
    note: &WalletNote,
    now: i64,
) -> Decision<Delivery> {
    let checked = match &recorded {
        Some(incoming) if incoming.sender_province != notice.from => Err(NoticeRefusal::wallet(
            notice,
            format!("it was sent from province {}", incoming.sender_province),
        )),
        _ => notice.check_wallet(note, recorded.as_ref().map(|r| &r.note)),
    };
    let note = match checked {
        Ok(note) => note,
        Err(refusal) => return Decision::unchanged(Delivery::Refused(refusal)),
    };
    let mut changes = Vec::new();
    if recorded.is_none() && note.outcome.is_none() && wallet_closed {
        let body = NoticeBody::WalletDeclineAsked {
            transfer_id: note.transfer_id.clone(),
            recipient_id: note.recipient_id.clone(),
        };
        changes.push(Change::Notice(notice.from, body));
    }
    let incoming = IncomingWallet {
        sender_province: notice.from,
        note,
        updated_at: now,
    };
    changes.extend([Change::WalletIncoming(incoming), Change::NoticeApplied(notice.id.clone())]);
    Decision::new(Delivery::Applied, changes)
}
