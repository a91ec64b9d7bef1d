//! Builders for the domain's tests: short names for money, months,
//! provinces and the transactions the hub routes.

use std::collections::BTreeSet;

use gongji_common::{
    contract::{CrossPayment, CrossRefund, CrossTransfer, Grant, Payee, Purpose, RelationKind},
    Id, InstitutionCode, Money, Period, ProvinceCode, RegionCode,
};

use super::TxBody;

pub fn money(text: &str) -> Money {
    let negative = text.starts_with('-');
    let amount = Money::parse_unsigned("amount", text.trim_start_matches('-')).expect("test money");
    if negative {
        amount.negated()
    } else {
        amount
    }
}

pub fn period(text: &str) -> Period {
    Period::parse("period", text).expect("test month")
}

pub fn province(code: &str) -> ProvinceCode {
    ProvinceCode::parse("province", code).expect("test province")
}

pub fn id(text: &str) -> Id {
    Id::parse("id", text).expect("test id")
}

/// The provinces the hub serves.
pub fn registered(codes: &[&str]) -> BTreeSet<ProvinceCode> {
    codes.iter().map(|code| province(code)).collect()
}

/// A payment from a donor of `donor` to a beneficiary served in `beneficiary`.
pub fn cross_payment(payment_id: &str, donor: &str, beneficiary: &str, amount: &str) -> CrossPayment {
    CrossPayment {
        payment_id: id(payment_id),
        relationship_id: id("rel-1"),
        donor_id: id("donor-1"),
        donor_province: province(donor),
        beneficiary_id: id("kin-1"),
        beneficiary_province: province(beneficiary),
        payee: Payee::Institution(InstitutionCode::parse("institution", &format!("H{beneficiary}010000001")).expect("test institution")),
        amount: money(amount),
        purpose: Purpose::Outpatient,
    }
}

pub fn payment(payment_id: &str, donor: &str, beneficiary: &str, amount: &str) -> TxBody {
    TxBody::Payment(cross_payment(payment_id, donor, beneficiary, amount))
}

pub fn refund(refund_id: &str, payment_id: &str, donor: &str, beneficiary: &str, amount: &str) -> TxBody {
    TxBody::Refund(CrossRefund {
        refund_id: id(refund_id),
        payment: cross_payment(payment_id, donor, beneficiary, "1000.00"),
        amount: money(amount),
    })
}

pub fn transfer(transfer_id: &str, from: &str, to: &str, amount: &str) -> TxBody {
    TxBody::Transfer(CrossTransfer {
        transfer_id: id(transfer_id),
        person_id: id("person-1"),
        name: "Person".into(),
        employee: true,
        from_province: province(from),
        to_province: province(to),
        to_region: RegionCode::parse("region", &format!("{to}0100")).expect("test region"),
        amount: money(amount),
        follow_up: false,
    })
}

pub fn grant(relationship_id: &str, donor: &str, beneficiary: &str) -> Grant {
    Grant {
        relationship_id: id(relationship_id),
        donor_id: id("donor-1"),
        donor_province: province(donor),
        beneficiary_id: id("kin-1"),
        beneficiary_province: province(beneficiary),
        kind: RelationKind::Parent,
        quota: money("5000.00"),
    }
}
