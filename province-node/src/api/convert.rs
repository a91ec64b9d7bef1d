//! Conversions between wire messages and the node's domain types, done once
//! at the edge: every request becomes a validated command (or an error naming
//! the field), every record a wire view. Shared vocabulary (grants, routed
//! payments, outcomes) converts in `gongji_common::contract`.

use gongji_common::{
    contract::{Decline, DeclineReason, Grant, Payee, Purpose, RelationKind, TxStatus},
    period::timestamp,
    FieldError, Id, Money, ProvinceCode, RegionCode,
};
use gongji_proto::v1 as pb;

use crate::domain::{
    AcquiredPayment, CreditCommand, EstablishCommand, Event, EventKind, InsuranceType, IssuedDebit, PayCommand, Person, PersonStatus,
    QuotaChangeCommand, QuotaChangeRecord, RefundCommand, RefundRecord, RegisterCommand, Relationship, RelationshipStatus, Tombstone,
    TransferCommand, TransferIn, TransferOut,
};
use crate::service::listings::ListingFilter;

fn enum_error(field: &str, value: i32) -> FieldError {
    if value == 0 {
        FieldError::new(field, "is required")
    } else {
        FieldError::new(field, format!("{value} is not a known value"))
    }
}

pub fn insurance_from_pb(field: &str, value: i32) -> Result<InsuranceType, FieldError> {
    match pb::InsuranceType::try_from(value) {
        Ok(pb::InsuranceType::Employee) => Ok(InsuranceType::Employee),
        Ok(pb::InsuranceType::Resident) => Ok(InsuranceType::Resident),
        _ => Err(enum_error(field, value)),
    }
}

pub fn insurance_to_pb(value: InsuranceType) -> pb::InsuranceType {
    match value {
        InsuranceType::Employee => pb::InsuranceType::Employee,
        InsuranceType::Resident => pb::InsuranceType::Resident,
    }
}

pub fn person_status_from_pb(field: &str, value: i32) -> Result<PersonStatus, FieldError> {
    match pb::PersonStatus::try_from(value) {
        Ok(pb::PersonStatus::Active) => Ok(PersonStatus::Active),
        Ok(pb::PersonStatus::Transferred) => Ok(PersonStatus::Transferred),
        Ok(pb::PersonStatus::Terminated) => Ok(PersonStatus::Terminated),
        _ => Err(enum_error(field, value)),
    }
}

pub fn person_status_to_pb(value: PersonStatus) -> pb::PersonStatus {
    match value {
        PersonStatus::Active => pb::PersonStatus::Active,
        PersonStatus::Transferred => pb::PersonStatus::Transferred,
        PersonStatus::Terminated => pb::PersonStatus::Terminated,
    }
}

fn relationship_status_to_pb(value: RelationshipStatus) -> pb::RelationshipStatus {
    match value {
        RelationshipStatus::Pending => pb::RelationshipStatus::Pending,
        RelationshipStatus::Active => pb::RelationshipStatus::Active,
        RelationshipStatus::Declined => pb::RelationshipStatus::Declined,
        RelationshipStatus::Dissolved => pb::RelationshipStatus::Dissolved,
    }
}

/// A person from the wire, with fields named under `prefix` ("person").
pub fn register_command(prefix: &str, person: Option<pb::Person>) -> Result<RegisterCommand, FieldError> {
    let person = person.ok_or_else(|| FieldError::new(prefix, "is required"))?;
    let field = |name: &str| format!("{prefix}.{name}");
    Ok(RegisterCommand {
        id: Id::parse(&field("person_id"), &person.person_id)?,
        name: RegisterCommand::check_name(&field("name"), &person.name)?,
        insurance: insurance_from_pb(&field("insurance_type"), person.insurance_type)?,
        region: RegionCode::parse(&field("region_code"), &person.region_code)?,
        status: person_status_from_pb(&field("status"), person.status)?,
    })
}

pub fn person_to_pb(person: &Person) -> pb::Person {
    pb::Person {
        person_id: person.id.to_string(),
        name: person.name.clone(),
        insurance_type: insurance_to_pb(person.insurance) as i32,
        region_code: person.region.to_string(),
        status: person_status_to_pb(person.status) as i32,
        registered_at: Some(timestamp(person.registered_at)),
    }
}

pub fn credit_command(request: pb::CreditContributionRequest) -> Result<CreditCommand, FieldError> {
    Ok(CreditCommand {
        contribution_id: Id::parse("contribution_id", &request.contribution_id)?,
        person_id: Id::parse("person_id", &request.person_id)?,
        amount: Money::parse_positive("amount", &request.amount)?,
    })
}

pub fn establish_command(request: pb::EstablishRelationshipRequest, donor_province: ProvinceCode) -> Result<EstablishCommand, FieldError> {
    let donor_id = Id::parse("donor_id", &request.donor_id)?;
    let beneficiary_id = Id::parse("beneficiary_id", &request.beneficiary_id)?;
    if donor_id == beneficiary_id {
        return Err(FieldError::new("beneficiary_id", "must differ from donor_id"));
    }
    Ok(EstablishCommand {
        grant: Grant {
            relationship_id: Id::parse("relationship_id", &request.relationship_id)?,
            donor_id,
            donor_province,
            beneficiary_id,
            beneficiary_province: ProvinceCode::parse("beneficiary_province", &request.beneficiary_province)?,
            kind: RelationKind::from_pb("relation_kind", request.relation_kind)?,
            quota: Money::parse_positive("quota", &request.quota)?,
        },
    })
}

pub fn relationship_to_pb(relationship: &Relationship, here: ProvinceCode) -> pb::Relationship {
    let grant = &relationship.grant;
    let (decline_reason, decline_message) = Decline::to_pb_parts(relationship.decline.as_ref());
    pb::Relationship {
        relationship_id: grant.relationship_id.to_string(),
        donor_id: grant.donor_id.to_string(),
        donor_province: grant.donor_province.to_string(),
        beneficiary_id: grant.beneficiary_id.to_string(),
        beneficiary_province: grant.beneficiary_province.to_string(),
        relation_kind: grant.kind.to_pb() as i32,
        quota: relationship.quota.to_string(),
        used: relationship.used.to_string(),
        remaining: relationship.remaining().to_string(),
        status: relationship_status_to_pb(relationship.status) as i32,
        decline_reason,
        decline_message,
        owned_here: relationship.owned_by(here),
        created_at: Some(timestamp(relationship.created_at)),
        updated_at: Some(timestamp(relationship.updated_at)),
        end_reason: relationship.end.map_or(pb::EndReason::Unspecified, |e| e.reason.to_pb()) as i32,
        ended_at: relationship.end.map(|e| timestamp(e.at)),
    }
}

pub fn pay_command(request: pb::PayRequest) -> Result<PayCommand, FieldError> {
    let purpose = Purpose::from_pb("purpose", request.purpose)?;
    Ok(PayCommand {
        payment_id: Id::parse("payment_id", &request.payment_id)?,
        beneficiary_id: Id::parse("beneficiary_id", &request.beneficiary_id)?,
        payee: Payee::for_purpose("institution_id", purpose, &request.institution_id)?,
        amount: Money::parse_positive("amount", &request.amount)?,
        purpose,
        relationship_id: match request.relationship_id.as_str() {
            "" => None,
            id => Some(Id::parse("relationship_id", id)?),
        },
    })
}

pub fn acquired_to_pb(payment: &AcquiredPayment) -> pb::Payment {
    let command = &payment.command;
    let route = payment.route.as_ref();
    let (decline_reason, decline_message) = Decline::to_pb_parts(payment.decline.as_ref());
    pb::Payment {
        payment_id: command.payment_id.to_string(),
        beneficiary_id: command.beneficiary_id.to_string(),
        institution_id: command.payee.institution_id().to_owned(),
        amount: command.amount.to_string(),
        purpose: command.purpose.to_pb() as i32,
        relationship_id: route.map(|r| r.relationship_id.to_string()).unwrap_or_default(),
        donor_id: route.map(|r| r.donor_id.to_string()).unwrap_or_default(),
        donor_province: route.map(|r| r.donor_province.to_string()).unwrap_or_default(),
        beneficiary_province: route.map(|r| r.beneficiary_province.to_string()).unwrap_or_default(),
        period: payment.period.map(|p| p.to_string()).unwrap_or_default(),
        status: payment.status.to_pb() as i32,
        decline_reason,
        decline_message,
        created_at: Some(timestamp(payment.created_at)),
        decided_at: payment.decided_at.map(timestamp),
        refunded: payment.refunded.to_string(),
        reversal_period: payment.reversal.and_then(|r| r.period).map(|p| p.to_string()).unwrap_or_default(),
    }
}

/// A payment id reversed before this node ever saw the payment; it names
/// the institution that reversed it, if one did.
pub fn cancelled_to_pb(payment_id: &Id, tombstone: &Tombstone) -> pb::Payment {
    let by = match &tombstone.institution {
        Some(institution) => format!("institution {institution}"),
        None => "an operator or the institution".to_owned(),
    };
    pb::Payment {
        payment_id: payment_id.to_string(),
        institution_id: tombstone.institution.as_ref().map(|code| code.to_string()).unwrap_or_default(),
        status: pb::TransactionStatus::Reversed as i32,
        decline_reason: pb::DeclineReason::Reversed as i32,
        decline_message: format!("reversed by {by} before the payment arrived; this id can never be approved"),
        created_at: Some(timestamp(tombstone.at)),
        decided_at: Some(timestamp(tombstone.at)),
        refunded: Money::ZERO.to_string(),
        ..Default::default()
    }
}

pub fn issued_to_pb(debit: &IssuedDebit) -> pb::Payment {
    let p = &debit.payment;
    let (decline_reason, decline_message) = Decline::to_pb_parts(debit.decline.as_ref());
    pb::Payment {
        payment_id: p.payment_id.to_string(),
        beneficiary_id: p.beneficiary_id.to_string(),
        institution_id: p.payee.institution_id().to_owned(),
        amount: p.amount.to_string(),
        purpose: p.purpose.to_pb() as i32,
        relationship_id: p.relationship_id.to_string(),
        donor_id: p.donor_id.to_string(),
        donor_province: p.donor_province.to_string(),
        beneficiary_province: p.beneficiary_province.to_string(),
        period: debit.period.to_string(),
        status: debit.status.to_pb() as i32,
        decline_reason,
        decline_message,
        created_at: Some(timestamp(debit.decided_at)),
        decided_at: Some(timestamp(debit.decided_at)),
        refunded: debit.refunded.to_string(),
        reversal_period: debit.reversal.and_then(|r| r.period).map(|p| p.to_string()).unwrap_or_default(),
    }
}

/// The answer to the hub for a decided debit.
pub fn debit_answer(debit: &IssuedDebit) -> pb::DebitAnswer {
    // A reversed id is declined, whatever happened to it before.
    let decline = match debit.status {
        TxStatus::Reversed => Some(Decline::new(
            DeclineReason::Reversed,
            "the payment was reversed; it can never be approved",
        )),
        _ => debit.decline.clone(),
    };
    let status = if debit.status == TxStatus::Reversed {
        TxStatus::Declined
    } else {
        debit.status
    };
    let (decline_reason, message) = Decline::to_pb_parts(decline.as_ref());
    pb::DebitAnswer {
        status: status.to_pb() as i32,
        decline_reason,
        message,
    }
}

/// The answer to the hub for a refund taken back (or not).
pub fn refund_answer(record: &RefundRecord) -> pb::DebitAnswer {
    let (decline_reason, message) = Decline::to_pb_parts(record.decline.as_ref());
    pb::DebitAnswer {
        status: record.status.to_pb() as i32,
        decline_reason,
        message,
    }
}

pub fn quota_change_command(request: pb::ChangeQuotaRequest) -> Result<QuotaChangeCommand, FieldError> {
    Ok(QuotaChangeCommand {
        change_id: Id::parse("change_id", &request.change_id)?,
        relationship_id: Id::parse("relationship_id", &request.relationship_id)?,
        quota: Money::parse_positive("quota", &request.quota)?,
    })
}

pub fn quota_change_to_pb(record: &QuotaChangeRecord, relationship: &Relationship, here: ProvinceCode) -> pb::QuotaChange {
    let (decline_reason, decline_message) = Decline::to_pb_parts(record.decline.as_ref());
    let status = if record.decline.is_some() {
        TxStatus::Declined
    } else {
        TxStatus::Approved
    };
    pb::QuotaChange {
        change_id: record.command.change_id.to_string(),
        relationship_id: record.command.relationship_id.to_string(),
        old_quota: record.old_quota.to_string(),
        new_quota: record.command.quota.to_string(),
        status: status.to_pb() as i32,
        decline_reason,
        decline_message,
        relationship: Some(relationship_to_pb(relationship, here)),
    }
}

pub fn event_to_pb(event: &Event) -> pb::RelationshipEvent {
    use pb::RelationshipEventKind as K;
    let kind = match event.kind {
        EventKind::Established => K::Established,
        EventKind::GrantAccepted => K::GrantAccepted,
        EventKind::Declined => K::Declined,
        EventKind::QuotaChanged => K::QuotaChanged,
        EventKind::Payment => K::Payment,
        EventKind::Refund => K::Refund,
        EventKind::Reversal => K::Reversal,
        EventKind::DissolutionRequested => K::DissolutionRequested,
        EventKind::Dissolved => K::Dissolved,
    };
    pb::RelationshipEvent {
        at: Some(timestamp(event.at)),
        kind: kind as i32,
        amount: event.amount.map(|a| a.to_string()).unwrap_or_default(),
        reference: event.reference.clone().unwrap_or_default(),
        detail: event.detail.clone(),
        end_reason: event.end_reason.map_or(pb::EndReason::Unspecified, |r| r.to_pb()) as i32,
    }
}

pub fn transfer_command(request: pb::TransferInsuranceRequest) -> Result<TransferCommand, FieldError> {
    Ok(TransferCommand {
        transfer_id: Id::parse("transfer_id", &request.transfer_id)?,
        person_id: Id::parse("person_id", &request.person_id)?,
        to_region: RegionCode::parse("to_region", &request.to_region)?,
    })
}

pub fn transfer_out_to_pb(record: &TransferOut, here: ProvinceCode) -> pb::InsuranceTransfer {
    let (decline_reason, decline_message) = Decline::to_pb_parts(record.decline.as_ref());
    pb::InsuranceTransfer {
        transfer_id: record.command.transfer_id.to_string(),
        person_id: record.command.person_id.to_string(),
        from_province: here.to_string(),
        to_province: record.command.to_region.province().to_string(),
        to_region: record.command.to_region.to_string(),
        amount: record.amount.map(|a| a.to_string()).unwrap_or_default(),
        period: record.period.map(|p| p.to_string()).unwrap_or_default(),
        status: record.status.to_pb() as i32,
        decline_reason,
        decline_message,
        created_at: Some(timestamp(record.created_at)),
        decided_at: record.decided_at.map(timestamp),
    }
}

pub fn transfer_in_to_pb(record: &TransferIn) -> pb::InsuranceTransfer {
    let t = &record.transfer;
    let (decline_reason, decline_message) = Decline::to_pb_parts(record.decline.as_ref());
    let status = record.status();
    pb::InsuranceTransfer {
        transfer_id: t.transfer_id.to_string(),
        person_id: t.person_id.to_string(),
        from_province: t.from_province.to_string(),
        to_province: t.to_province.to_string(),
        to_region: t.to_region.to_string(),
        amount: t.amount.to_string(),
        period: record.period.to_string(),
        status: status.to_pb() as i32,
        decline_reason,
        decline_message,
        created_at: Some(timestamp(record.at)),
        decided_at: Some(timestamp(record.at)),
    }
}

pub fn refund_command(request: pb::RefundPaymentRequest) -> Result<RefundCommand, FieldError> {
    Ok(RefundCommand {
        refund_id: Id::parse("refund_id", &request.refund_id)?,
        payment_id: Id::parse("payment_id", &request.payment_id)?,
        amount: Money::parse_positive("amount", &request.amount)?,
    })
}

pub fn refund_to_pb(record: &RefundRecord) -> pb::Refund {
    let (decline_reason, decline_message) = Decline::to_pb_parts(record.decline.as_ref());
    pb::Refund {
        refund_id: record.command.refund_id.to_string(),
        payment_id: record.command.payment_id.to_string(),
        amount: record.command.amount.to_string(),
        relationship_id: record.payment.relationship_id.to_string(),
        donor_province: record.payment.donor_province.to_string(),
        beneficiary_province: record.payment.beneficiary_province.to_string(),
        period: record.period.map(|p| p.to_string()).unwrap_or_default(),
        status: record.status.to_pb() as i32,
        decline_reason,
        decline_message,
        created_at: Some(timestamp(record.created_at)),
        decided_at: record.decided_at.map(timestamp),
    }
}

pub fn reconciliation_to_pb(report: &crate::domain::Report, province: ProvinceCode) -> pb::Reconciliation {
    use crate::domain::Comparison;
    let comparison = |c: Comparison| match c {
        Comparison::OnlyAtHub => pb::Comparison::OnlyAtHub,
        Comparison::OnlyAtNode => pb::Comparison::OnlyAtNode,
        Comparison::AmountDiffers => pb::Comparison::AmountDiffers,
        Comparison::CounterpartDiffers => pb::Comparison::CounterpartDiffers,
    };
    pb::Reconciliation {
        period: report.period.to_string(),
        province: province.to_string(),
        confirmed: report.confirmed,
        matched: report.matched,
        only_at_hub: report.only_at_hub,
        only_at_node: report.only_at_node,
        amount_differs: report.amount_differs,
        counterpart_differs: report.counterpart_differs,
        mismatches: report
            .mismatches
            .iter()
            .map(|m| pb::Mismatch {
                comparison: comparison(m.comparison) as i32,
                at_hub: m.at_hub.as_ref().map(|l| l.to_pb()),
                at_node: m.at_node.as_ref().map(|l| l.to_pb()),
            })
            .collect(),
        regions: report
            .regions
            .iter()
            .map(|(region, t)| pb::RegionTotal {
                region: region.to_string(),
                lines: t.lines,
                payable: t.payable.to_string(),
                receivable: t.receivable.to_string(),
                net: t.receivable.checked_sub(t.payable).unwrap_or(Money::ZERO).to_string(),
            })
            .collect(),
        statement_lines: report.statement.lines,
        statement_digest: report.statement.digest.clone(),
        net: report.statement.net().unwrap_or(Money::ZERO).to_string(),
        reconciled_at: Some(timestamp(report.at)),
    }
}

pub fn send_command(request: pb::SendToWalletRequest) -> Result<crate::domain::SendCommand, FieldError> {
    Ok(crate::domain::SendCommand {
        transfer_id: Id::parse("transfer_id", &request.transfer_id)?,
        sender_id: Id::parse("sender_id", &request.sender_id)?,
        recipient_id: Id::parse("recipient_id", &request.recipient_id)?,
        recipient_province: ProvinceCode::parse("recipient_province", &request.recipient_province)?,
        kind: RelationKind::from_pb("relation_kind", request.relation_kind)?,
        amount: Money::parse_positive("amount", &request.amount)?,
    })
}

/// A transfer sent from this node (`here`).
pub fn wallet_transfer_to_pb(transfer: &crate::domain::WalletTransfer, here: ProvinceCode) -> pb::WalletTransfer {
    let command = &transfer.command;
    let crossing = command.recipient_province != here;
    pb::WalletTransfer {
        transfer_id: command.transfer_id.to_string(),
        sender_id: command.sender_id.to_string(),
        recipient_id: command.recipient_id.to_string(),
        recipient_province: command.recipient_province.to_string(),
        relation_kind: command.kind.to_pb() as i32,
        amount: command.amount.to_string(),
        status: transfer.status.to_pb() as i32,
        sent_at: Some(timestamp(transfer.sent_at)),
        return_at: Some(timestamp(transfer.return_at)),
        settled_at: transfer.settled_at.map(timestamp),
        sender_province: here.to_string(),
        period: match (crossing, transfer.note().outcome) {
            (true, Some(outcome)) => outcome.period.to_string(),
            _ => String::new(),
        },
    }
}

/// A transfer from another province as its sender's node told this node
/// (`here`), with its credit here once accepted (which the outcome's notice
/// may not have told yet).
pub fn incoming_wallet_to_pb(
    incoming: &crate::domain::IncomingWallet,
    credit: Option<&crate::domain::WalletCredit>,
    here: ProvinceCode,
) -> pb::WalletTransfer {
    let note = &incoming.note;
    let (status, settled_at, period) = match (note.outcome, credit) {
        (Some(outcome), _) => (outcome.status.to_pb(), Some(outcome.at), outcome.period.to_string()),
        (None, Some(credit)) => (pb::WalletTransferStatus::Accepted, Some(credit.at), credit.period.to_string()),
        (None, None) => (pb::WalletTransferStatus::Unaccepted, None, String::new()),
    };
    pb::WalletTransfer {
        transfer_id: note.transfer_id.to_string(),
        sender_id: note.sender_id.to_string(),
        recipient_id: note.recipient_id.to_string(),
        recipient_province: here.to_string(),
        relation_kind: 0,
        amount: note.amount.to_string(),
        status: status as i32,
        sent_at: Some(timestamp(note.sent_at)),
        return_at: Some(timestamp(note.return_at)),
        settled_at: settled_at.map(timestamp),
        sender_province: incoming.sender_province.to_string(),
        period,
    }
}

/// A transfer from another province credited here, as this node knows it.
pub fn wallet_credit_to_pb(credit: &crate::domain::WalletCredit, here: ProvinceCode) -> pb::WalletTransfer {
    pb::WalletTransfer {
        transfer_id: credit.transfer_id.to_string(),
        sender_id: String::new(),
        recipient_id: credit.recipient_id.to_string(),
        recipient_province: here.to_string(),
        relation_kind: 0,
        amount: credit.amount.to_string(),
        status: pb::WalletTransferStatus::Accepted as i32,
        sent_at: None,
        return_at: None,
        settled_at: Some(timestamp(credit.at)),
        sender_province: credit.sender_province.to_string(),
        period: credit.period.to_string(),
    }
}

pub fn wallet_payment_to_pb(payment: &crate::domain::WalletPayment) -> pb::Payment {
    let command = &payment.command;
    let (decline_reason, decline_message) = Decline::to_pb_parts(payment.decline.as_ref());
    pb::Payment {
        payment_id: command.payment_id.to_string(),
        beneficiary_id: command.beneficiary_id.to_string(),
        institution_id: command.payee.institution_id().to_owned(),
        amount: command.amount.to_string(),
        purpose: command.purpose.to_pb() as i32,
        status: payment.status.to_pb() as i32,
        decline_reason,
        decline_message,
        created_at: Some(timestamp(payment.created_at)),
        decided_at: Some(timestamp(payment.reversed_at.unwrap_or(payment.created_at))),
        ..Default::default()
    }
}

pub fn wallet_refund_to_pb(payment: &crate::domain::WalletPayment, refund_id: &Id, amount: Money) -> pb::Refund {
    pb::Refund {
        refund_id: refund_id.to_string(),
        payment_id: payment.command.payment_id.to_string(),
        amount: amount.to_string(),
        status: pb::TransactionStatus::Approved as i32,
        ..Default::default()
    }
}

pub fn wallet_statement_to_pb(view: &crate::service::WalletView) -> pb::WalletStatement {
    pb::WalletStatement {
        wallet: view.wallet.as_ref().map(|wallet| pb::Wallet {
            person_id: wallet.person_id.to_string(),
            open: wallet.is_open(),
            balance: view.balance.to_string(),
            opened_at: Some(timestamp(wallet.opened_at)),
        }),
        sent: view.sent.iter().map(|t| wallet_transfer_to_pb(t, view.here)).collect(),
        received: view
            .received
            .iter()
            .map(|t| wallet_transfer_to_pb(t, view.here))
            .chain(
                view.incoming
                    .iter()
                    .map(|(incoming, credit)| incoming_wallet_to_pb(incoming, credit.as_ref(), view.here)),
            )
            .chain(view.credited.iter().map(|c| wallet_credit_to_pb(c, view.here)))
            .collect(),
    }
}

pub fn person_statement_to_pb(s: &crate::domain::Statement) -> pb::PersonStatement {
    pb::PersonStatement {
        person_id: s.person_id.to_string(),
        from: Some(timestamp(s.range.from)),
        until: Some(timestamp(s.range.until)),
        accounts: s
            .accounts
            .iter()
            .map(|a| pb::StatementAccount {
                role: a.role.as_str().to_owned(),
                account: a.account.clone(),
                relationship_id: a.relationship.as_ref().map(Id::to_string).unwrap_or_default(),
                opening: a.opening.to_string(),
                closing: a.closing.to_string(),
            })
            .collect(),
        movements: s
            .movements
            .iter()
            .map(|m| pb::StatementMovement {
                seq: m.seq,
                at: Some(timestamp(m.at)),
                role: m.role.as_str().to_owned(),
                account: m.account.clone(),
                reference: m.reference.clone(),
                memo: m.memo.clone(),
                amount: m.amount.to_string(),
                balance: m.balance.to_string(),
                counterpart: m.counterpart.clone(),
            })
            .collect(),
    }
}

/// The filters and page size of a listing (empty fields filter nothing).
fn listing_filter(
    person_id: &str,
    institution_id: &str,
    relationship_id: &str,
    month: &str,
    status: &str,
    limit: u32,
) -> Result<(ListingFilter, usize), FieldError> {
    use gongji_common::cursor::{check_limit, parse_status};
    let given = |text: &str| (!text.trim().is_empty()).then(|| text.trim().to_string());
    let filter = ListingFilter {
        person: given(person_id).map(|text| Id::parse("person_id", &text)).transpose()?,
        institution: given(institution_id),
        relationship: given(relationship_id).map(|text| Id::parse("relationship_id", &text)).transpose()?,
        month: given(month).map(|text| gongji_common::Period::parse("month", &text)).transpose()?,
        status: given(status).map(|text| parse_status("status", &text)).transpose()?,
    };
    Ok((filter, check_limit("limit", limit)?))
}

pub fn payment_filter(r: &pb::ListPaymentsRequest) -> Result<(ListingFilter, usize), FieldError> {
    listing_filter(&r.person_id, &r.institution_id, &r.relationship_id, &r.month, &r.status, r.limit)
}

pub fn refund_filter(r: &pb::ListRefundsRequest) -> Result<(ListingFilter, usize), FieldError> {
    listing_filter(&r.person_id, &r.institution_id, &r.relationship_id, &r.month, &r.status, r.limit)
}

pub fn transfer_filter(r: &pb::ListTransfersRequest) -> Result<(ListingFilter, usize), FieldError> {
    listing_filter(&r.person_id, "", "", &r.month, &r.status, r.limit)
}
