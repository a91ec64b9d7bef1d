//! How records look on a terminal: aligned `key: value` blocks and small
//! tables, enums as lowercase words (`approved`, `insufficient_quota`), times
//! in China Standard Time. Pure formatting: no calls, no parsing of input.
//! The monthly cycle's records are in `cycle`.

use std::io::{self, Write};

use gongji_proto::v1 as pb;

pub mod cycle;
pub mod format;
pub mod html;

pub use format::{Fields, Format, Out, Table};

/// `PREFIX_SOME_VALUE` → `some_value`; an unknown number shows as itself.
fn word(name: Option<&str>, prefix: &str, value: i32) -> String {
    match name {
        Some(name) => name.strip_prefix(prefix).unwrap_or(name).to_ascii_lowercase(),
        None => format!("unknown ({value})"),
    }
}

pub fn insurance_word(value: i32) -> String {
    word(
        pb::InsuranceType::try_from(value).ok().map(|v| v.as_str_name()),
        "INSURANCE_TYPE_",
        value,
    )
}

pub fn person_status_word(value: i32) -> String {
    word(
        pb::PersonStatus::try_from(value).ok().map(|v| v.as_str_name()),
        "PERSON_STATUS_",
        value,
    )
}

pub fn kind_word(value: i32) -> String {
    word(
        pb::RelationKind::try_from(value).ok().map(|v| v.as_str_name()),
        "RELATION_KIND_",
        value,
    )
}

pub fn purpose_word(value: i32) -> String {
    word(
        pb::PaymentPurpose::try_from(value).ok().map(|v| v.as_str_name()),
        "PAYMENT_PURPOSE_",
        value,
    )
}

pub fn tx_status_word(value: i32) -> String {
    word(
        pb::TransactionStatus::try_from(value).ok().map(|v| v.as_str_name()),
        "TRANSACTION_STATUS_",
        value,
    )
}

pub fn relationship_status_word(value: i32) -> String {
    word(
        pb::RelationshipStatus::try_from(value).ok().map(|v| v.as_str_name()),
        "RELATIONSHIP_STATUS_",
        value,
    )
}

/// The decline reason, or "" when there is none.
pub fn decline_word(value: i32) -> String {
    if value == pb::DeclineReason::Unspecified as i32 {
        return String::new();
    }
    word(
        pb::DeclineReason::try_from(value).ok().map(|v| v.as_str_name()),
        "DECLINE_REASON_",
        value,
    )
}

pub fn tx_kind_word(value: i32) -> String {
    word(
        pb::TransactionKind::try_from(value).ok().map(|v| v.as_str_name()),
        "TRANSACTION_KIND_",
        value,
    )
}

/// Why a relationship ended, or "" while it has not.
pub fn end_reason_word(value: i32) -> String {
    if value == pb::EndReason::Unspecified as i32 {
        return String::new();
    }
    word(pb::EndReason::try_from(value).ok().map(|v| v.as_str_name()), "END_REASON_", value)
}

pub fn event_kind_word(value: i32) -> String {
    word(
        pb::RelationshipEventKind::try_from(value).ok().map(|v| v.as_str_name()),
        "RELATIONSHIP_EVENT_KIND_",
        value,
    )
}

/// A status word with its reason in brackets, if there is one: `declined (insufficient_quota)`.
fn with_reason(status: String, reason: String) -> String {
    if reason.is_empty() {
        status
    } else {
        format!("{status} ({reason})")
    }
}

/// An amount that is worth a line only when it is not zero.
fn nonzero(amount: &str) -> &str {
    if amount == "0.00" {
        ""
    } else {
        amount
    }
}

/// A Unix time in seconds as `YYYY-MM-DD HH:MM:SS +08:00` (China Standard
/// Time, the clock of every Gongji month); "" when unset.
pub fn cst_time(seconds: Option<i64>) -> String {
    seconds.map(gongji_common::period::cst_datetime).unwrap_or_default()
}

fn province_label(code: &str) -> String {
    let name = gongji_common::ProvinceCode::parse("province", code)
        .ok()
        .and_then(|c| c.known_name());
    match name {
        Some(name) => format!("{code} ({name})"),
        None => code.to_owned(),
    }
}

pub fn person(out: &mut Out, p: &pb::Person) -> io::Result<()> {
    Fields::new()
        .add("person", &p.person_id)
        .add("name", &p.name)
        .add("insurance", insurance_word(p.insurance_type))
        .add("region", &p.region_code)
        .add("status", person_status_word(p.status))
        .add_some("registered at", cst_time(p.registered_at.as_ref().map(|t| t.seconds)))
        .write(out)
}

pub fn account(out: &mut Out, a: &pb::Account) -> io::Result<()> {
    Fields::new()
        .add("person", &a.person_id)
        .add("available", &a.available)
        .add("frozen", &a.frozen)
        .add("total", &a.total)
        .write(out)
}

pub fn receipt(out: &mut Out, r: &pb::ContributionReceipt) -> io::Result<()> {
    Fields::new()
        .add("contribution", &r.contribution_id)
        .add("person", &r.person_id)
        .add("amount", &r.amount)
        .add_some("credited at", cst_time(r.credited_at.as_ref().map(|t| t.seconds)))
        .write(out)
}

pub fn relationship(out: &mut Out, r: &pb::Relationship) -> io::Result<()> {
    Fields::new()
        .record("relationship")
        .add("relationship", &r.relationship_id)
        .add("status", relationship_status_word(r.status))
        .add_some("decline reason", decline_word(r.decline_reason))
        .add_some("decline message", &r.decline_message)
        .add("donor", format!("{} in {}", r.donor_id, province_label(&r.donor_province)))
        .add(
            "beneficiary",
            format!("{} in {}", r.beneficiary_id, province_label(&r.beneficiary_province)),
        )
        .add("kind", kind_word(r.relation_kind))
        .add("quota", &r.quota)
        .add("used", &r.used)
        .add("remaining", &r.remaining)
        .add(
            "owned here",
            if r.owned_here {
                "yes (donor's node)"
            } else {
                "no (beneficiary's node)"
            },
        )
        .add_some("created at", cst_time(r.created_at.as_ref().map(|t| t.seconds)))
        .add_some("updated at", cst_time(r.updated_at.as_ref().map(|t| t.seconds)))
        .add_some("end reason", end_reason_word(r.end_reason))
        .add_some("ended at", cst_time(r.ended_at.as_ref().map(|t| t.seconds)))
        .write(out)
}

/// Relationships as a table, one line each.
pub fn relationships(out: &mut Out, title: &str, list: &[pb::Relationship]) -> io::Result<()> {
    writeln!(out, "{title}:")?;
    if list.is_empty() {
        return writeln!(out, "(none)");
    }
    let mut table = Table::new(&[
        "relationship",
        "donor",
        "beneficiary",
        "kind",
        "quota",
        "used",
        "remaining",
        "status",
    ])
    .record("relationship");
    for r in list {
        let reason = match decline_word(r.decline_reason) {
            declined if declined.is_empty() => end_reason_word(r.end_reason),
            declined => declined,
        };
        let status = with_reason(relationship_status_word(r.status), reason);
        table.row(vec![
            r.relationship_id.clone(),
            format!("{} ({})", r.donor_id, r.donor_province),
            format!("{} ({})", r.beneficiary_id, r.beneficiary_province),
            kind_word(r.relation_kind),
            r.quota.clone(),
            r.used.clone(),
            r.remaining.clone(),
            status,
        ]);
    }
    table.write(out)
}

pub fn payment(out: &mut Out, p: &pb::Payment) -> io::Result<()> {
    let donor = match (p.donor_id.as_str(), p.donor_province.as_str()) {
        ("", _) => String::new(),
        (id, "") => id.to_owned(),
        (id, province) => format!("{id} in {}", province_label(province)),
    };
    let purpose = if p.purpose == pb::PaymentPurpose::Unspecified as i32 {
        String::new()
    } else {
        purpose_word(p.purpose)
    };
    let payee = payee(p);
    Fields::new()
        .add("payment", &p.payment_id)
        .add("status", tx_status_word(p.status))
        .add_some("decline reason", decline_word(p.decline_reason))
        .add_some("decline message", &p.decline_message)
        // A payment reversed before this node saw it has only an id and a status.
        .add_some("beneficiary", &p.beneficiary_id)
        .add_some("beneficiary province", province_label(&p.beneficiary_province))
        .add_some(payee.0, payee.1)
        .add_some("amount", &p.amount)
        .add_some("purpose", purpose)
        .add_some("refunded", nonzero(&p.refunded))
        .add_some("relationship", &p.relationship_id)
        .add_some("donor", donor)
        .add_some("period", &p.period)
        .add_some("reversal period", &p.reversal_period)
        .add_some("created at", cst_time(p.created_at.as_ref().map(|t| t.seconds)))
        .add_some("decided at", cst_time(p.decided_at.as_ref().map(|t| t.seconds)))
        .write(out)
}

/// Who a payment pays: the institution, or for a contribution (which names
/// none) the beneficiary's province fund.
fn payee(p: &pb::Payment) -> (&'static str, String) {
    if !p.institution_id.is_empty() {
        return ("institution", p.institution_id.clone());
    }
    match pb::PaymentPurpose::try_from(p.purpose) {
        Ok(pb::PaymentPurpose::ResidentContribution) => ("payee", "resident-insurance fund".to_owned()),
        Ok(pb::PaymentPurpose::LongTermCareContribution) => ("payee", "long-term-care fund".to_owned()),
        _ => ("institution", String::new()),
    }
}

pub fn transaction(out: &mut Out, t: &pb::Transaction) -> io::Result<()> {
    Fields::new()
        .add("transaction", &t.transaction_id)
        .add("kind", tx_kind_word(t.kind))
        .add("status", tx_status_word(t.status))
        .add_some("decline reason", decline_word(t.decline_reason))
        .add_some("decline message", &t.message)
        .add("payer", province_label(&t.payer_province))
        .add("payee", province_label(&t.payee_province))
        .add("amount", &t.amount)
        .add("period", &t.period)
        .add_some("relationship", &t.relationship_id)
        .add_some("payment", &t.payment_id)
        .add_some("person", &t.person_id)
        .add_some("reversal period", &t.reversal_period)
        .add_some("payer position", &t.payer_position)
        .add_some("payee position", &t.payee_position)
        .add_some("recorded at", cst_time(t.recorded_at.as_ref().map(|t| t.seconds)))
        .add_some("decided at", cst_time(t.decided_at.as_ref().map(|t| t.seconds)))
        .write(out)
}

/// The header of the transactions table.
pub fn transactions_table() -> Table {
    Table::new(&[
        "transaction",
        "kind",
        "payer",
        "payee",
        "amount",
        "status",
        "relationship",
        "payer position",
        "payee position",
        "recorded at",
    ])
}

pub fn transaction_row(table: &mut Table, t: &pb::Transaction) {
    let status = with_reason(tx_status_word(t.status), decline_word(t.decline_reason));
    table.row(vec![
        t.transaction_id.clone(),
        tx_kind_word(t.kind),
        t.payer_province.clone(),
        t.payee_province.clone(),
        t.amount.clone(),
        status,
        t.relationship_id.clone(),
        t.payer_position.clone(),
        t.payee_position.clone(),
        cst_time(t.recorded_at.as_ref().map(|t| t.seconds)),
    ]);
}

pub fn quota_change(out: &mut Out, q: &pb::QuotaChange) -> io::Result<()> {
    let declined = q.status == pb::TransactionStatus::Declined as i32;
    let quota = format!("{} → {}{}", q.old_quota, q.new_quota, if declined { " (not changed)" } else { "" });
    Fields::new()
        .record("quota_change")
        .add("change", &q.change_id)
        .add("status", tx_status_word(q.status))
        .add_some("decline reason", decline_word(q.decline_reason))
        .add_some("decline message", &q.decline_message)
        .add("quota", quota)
        .write(out)?;
    if let Some(r) = &q.relationship {
        writeln!(out)?;
        relationship(out, r)?;
    }
    Ok(())
}

/// A relationship's history as a table, oldest first.
pub fn history(out: &mut Out, h: &pb::RelationshipHistory) -> io::Result<()> {
    if h.events.is_empty() {
        return writeln!(out, "no events recorded for relationship {}", h.relationship_id);
    }
    let mut table = Table::new(&["time", "event", "amount", "reference", "detail"]);
    for e in &h.events {
        table.row(vec![
            cst_time(e.at.as_ref().map(|t| t.seconds)),
            with_reason(event_kind_word(e.kind), end_reason_word(e.end_reason)),
            e.amount.clone(),
            e.reference.clone(),
            e.detail.clone(),
        ]);
    }
    table.write(out)
}

pub fn refund(out: &mut Out, r: &pb::Refund) -> io::Result<()> {
    Fields::new()
        .add("refund", &r.refund_id)
        .add("status", tx_status_word(r.status))
        .add_some("decline reason", decline_word(r.decline_reason))
        .add_some("decline message", &r.decline_message)
        .add("payment", &r.payment_id)
        .add("amount", &r.amount)
        .add_some("relationship", &r.relationship_id)
        .add_some("donor province", province_label(&r.donor_province))
        .add_some("beneficiary province", province_label(&r.beneficiary_province))
        .add_some("period", &r.period)
        .add_some("created at", cst_time(r.created_at.as_ref().map(|t| t.seconds)))
        .add_some("decided at", cst_time(r.decided_at.as_ref().map(|t| t.seconds)))
        .write(out)
}

pub fn transfer(out: &mut Out, t: &pb::InsuranceTransfer) -> io::Result<()> {
    Fields::new()
        .add("transfer", &t.transfer_id)
        .add("status", tx_status_word(t.status))
        .add_some("decline reason", decline_word(t.decline_reason))
        .add_some("decline message", &t.decline_message)
        .add("person", &t.person_id)
        .add("from", province_label(&t.from_province))
        .add("to", format!("{} in {}", t.to_region, province_label(&t.to_province)))
        // Fixed only once the person's relationships have dissolved.
        .add(
            "amount",
            if t.amount.is_empty() {
                "not fixed yet".to_owned()
            } else {
                t.amount.clone()
            },
        )
        .add_some("period", &t.period)
        .add_some("created at", cst_time(t.created_at.as_ref().map(|t| t.seconds)))
        .add_some("decided at", cst_time(t.decided_at.as_ref().map(|t| t.seconds)))
        .write(out)
}

/// A wallet transfer's status as a word.
fn wallet_status_word(status: i32) -> &'static str {
    match pb::WalletTransferStatus::try_from(status) {
        Ok(pb::WalletTransferStatus::Unaccepted) => "UNACCEPTED",
        Ok(pb::WalletTransferStatus::Accepted) => "ACCEPTED",
        Ok(pb::WalletTransferStatus::Declined) => "DECLINED",
        Ok(pb::WalletTransferStatus::Cancelled) => "CANCELLED",
        Ok(pb::WalletTransferStatus::Returned) => "RETURNED",
        _ => "UNKNOWN",
    }
}

pub fn wallet_transfer(out: &mut Out, t: &pb::WalletTransfer) -> io::Result<()> {
    Fields::new()
        .add("wallet transfer", &t.transfer_id)
        .add("status", wallet_status_word(t.status))
        .add_some("from", &t.sender_id)
        .add("to", format!("{} in {}", t.recipient_id, province_label(&t.recipient_province)))
        .add("amount", &t.amount)
        .add_some("sent at", cst_time(t.sent_at.as_ref().map(|t| t.seconds)))
        .add_some("returns at", cst_time(t.return_at.as_ref().map(|t| t.seconds)))
        .add_some("settled at", cst_time(t.settled_at.as_ref().map(|t| t.seconds)))
        .write(out)
}

pub fn wallet(out: &mut Out, person: &str, w: &pb::WalletStatement) -> io::Result<()> {
    match &w.wallet {
        Some(wallet) => Fields::new()
            .record("wallet")
            .add("wallet of", &wallet.person_id)
            .add("state", if wallet.open { "open" } else { "closed" })
            .add("balance", &wallet.balance)
            .write(out)?,
        None => writeln!(out, "person {person} has not opened a wallet")?,
    }
    let mut table = Table::new(&["transfer", "direction", "status", "amount", "with"]).record("wallet_transfer");
    for (direction, list) in [("sent", &w.sent), ("received", &w.received)] {
        for t in list {
            let with = if direction == "sent" { &t.recipient_id } else { &t.sender_id };
            table.row(vec![
                t.transfer_id.clone(),
                direction.to_owned(),
                wallet_status_word(t.status).to_owned(),
                t.amount.clone(),
                with.clone(),
            ]);
        }
    }
    table.write(out)
}

pub fn positions(out: &mut Out, p: &pb::Positions) -> io::Result<()> {
    Fields::new().record("positions").add("period", &p.period).write(out)?;
    let mut table = Table::new(&["province", "name", "net"]).record("position");
    for position in &p.positions {
        let name = gongji_common::ProvinceCode::parse("province", &position.province)
            .ok()
            .and_then(|c| c.known_name())
            .unwrap_or("");
        table.row(vec![position.province.clone(), name.to_owned(), position.net.clone()]);
    }
    table.write(out)
}

pub fn provinces(out: &mut Out, list: &pb::ListProvincesResponse) -> io::Result<()> {
    let mut table = Table::new(&["code", "name", "address"]);
    for p in &list.provinces {
        table.row(vec![p.code.clone(), p.name.clone(), p.address.clone()]);
    }
    table.write(out)
}

pub fn node_info(out: &mut Out, info: &pb::NodeInfo) -> io::Result<()> {
    Fields::new()
        .add("province", province_label(&info.province_code))
        .add("persons", info.persons.to_string())
        .add("relationships", info.relationships.to_string())
        .add("payments", info.payments.to_string())
        .add("pending", info.pending.to_string())
        .add(
            "trial balance",
            if info.trial_balance == "0.00" {
                "0.00 (the books balance)".to_owned()
            } else {
                format!("{} (the books do NOT balance)", info.trial_balance)
            },
        )
        .write(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cell_cannot_start_a_line_of_its_own() {
        let mut table = Table::new(&["seq", "why"]);
        table.row(vec!["1".into(), "month end\n    99  forged row\u{1b}[2K".into()]);
        let mut out = Vec::new();
        table.write_text(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.lines().count(), 2, "{text}");
        assert!(text.contains("month end\\n    99  forged row\\u{1b}[2K"), "{text}");
    }

    #[test]
    fn times_are_shown_in_china_standard_time() {
        // 2024-12-01 00:00:00 UTC is 08:00 in Beijing.
        assert_eq!(cst_time(Some(1_733_011_200)), "2024-12-01 08:00:00 +08:00");
        // 2025-12-31 16:00:00 UTC is already 2026 in Beijing.
        assert_eq!(cst_time(Some(1_767_196_800)), "2026-01-01 00:00:00 +08:00");
        assert_eq!(cst_time(None), "");
    }

    #[test]
    fn enums_are_lowercase_words() {
        assert_eq!(tx_status_word(pb::TransactionStatus::Approved as i32), "approved");
        assert_eq!(decline_word(pb::DeclineReason::InsufficientQuota as i32), "insufficient_quota");
        assert_eq!(decline_word(0), "");
        assert_eq!(kind_word(pb::RelationKind::MaternalGrandchild as i32), "maternal_grandchild");
        assert_eq!(purpose_word(42), "unknown (42)");
        assert_eq!(
            purpose_word(pb::PaymentPurpose::LongTermCareContribution as i32),
            "long_term_care_contribution"
        );
        assert_eq!(end_reason_word(pb::EndReason::BeneficiaryRequest as i32), "beneficiary_request");
        assert_eq!(end_reason_word(0), "");
        assert_eq!(
            event_kind_word(pb::RelationshipEventKind::DissolutionRequested as i32),
            "dissolution_requested"
        );
    }

    #[test]
    fn a_contribution_shows_the_fund_it_pays_instead_of_an_institution() {
        let paid = |purpose: pb::PaymentPurpose, institution: &str| {
            let mut out = Vec::new();
            payment(
                &mut Out::text(&mut out),
                &pb::Payment {
                    payment_id: "p-1".into(),
                    institution_id: institution.into(),
                    purpose: purpose as i32,
                    refunded: "0.00".into(),
                    ..Default::default()
                },
            )
            .unwrap();
            String::from_utf8(out).unwrap()
        };
        let text = paid(pb::PaymentPurpose::ResidentContribution, "");
        assert!(text.contains("payee:   resident-insurance fund\n"), "{text}");
        assert!(!text.contains("institution") && !text.contains("refunded"), "{text}");
        let text = paid(pb::PaymentPurpose::LongTermCareContribution, "");
        assert!(text.contains("long-term-care fund"), "{text}");
        let text = paid(pb::PaymentPurpose::Pharmacy, "P32050000001");
        assert!(text.contains("institution: P32050000001\n"), "{text}");
    }

    #[test]
    fn a_declined_quota_change_says_the_quota_did_not_change() {
        let mut out = Vec::new();
        quota_change(
            &mut Out::text(&mut out),
            &pb::QuotaChange {
                change_id: "q-1".into(),
                old_quota: "500.00".into(),
                new_quota: "10.00".into(),
                status: pb::TransactionStatus::Declined as i32,
                decline_reason: pb::DeclineReason::QuotaBelowUsed as i32,
                ..Default::default()
            },
        )
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("decline reason: quota_below_used\n"), "{text}");
        assert!(text.contains("quota:          500.00 → 10.00 (not changed)\n"), "{text}");
    }

    #[test]
    fn fields_align_their_values() {
        let mut out = Vec::new();
        Fields::new()
            .add("id", "x")
            .add("status", "approved")
            .add_some("empty", "")
            .write_text(&mut out)
            .unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "id:     x\nstatus: approved\n");
    }
}
