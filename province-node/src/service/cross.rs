//! This node's own record of its cross-province transactions, month by
//! month: every posting against another province's account goes through
//! [`Node::post_cross`], which also writes the line this node expects on its
//! statement at the hub, with the pooling region it belongs to.

use gongji_common::{
    contract::{Payee, TxKind},
    statement::{Direction, Line},
    store::{Account, JournalEntry, Tx, TxFail},
    Id, Money, Period, ProvinceCode, RegionCode,
};
use serde::{Deserialize, Serialize};

use super::Node;
use crate::{
    domain::Person,
    store::{self, CROSS_LINES, PERSONS},
};

/// One of this node's cross-province transactions in a month.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrossLine {
    pub period: Period,
    pub line: Line,
    /// The pooling region of this province the line belongs to.
    pub region: RegionCode,
}

impl CrossLine {
    pub fn new(
        period: Period,
        kind: TxKind,
        id: &Id,
        counterpart: ProvinceCode,
        direction: Direction,
        amount: Money,
        region: RegionCode,
    ) -> CrossLine {
        CrossLine {
            period,
            line: Line {
                kind,
                id: id.to_string(),
                counterpart,
                direction,
                amount,
            },
            region,
        }
    }
}

impl Node {
    /// Books a cross-province transaction: a payable line moves `amount`
    /// from `other` to what this node owes the counterpart for the month; a
    /// receivable one from the counterpart's account to `other`. The line is
    /// recorded either way (a zero amount moves nothing but still counts).
    pub(super) fn post_cross(tx: &Tx, cross: &CrossLine, other: &Account, memo: &str) -> Result<(), TxFail> {
        let line = &cross.line;
        let province = store::province(line.counterpart, cross.period);
        if !line.amount.is_zero() {
            let (from, to) = match line.direction {
                Direction::Payable => (other, &province),
                Direction::Receivable => (&province, other),
            };
            tx.post(&JournalEntry::transfer(&line.id, memo, from, to, line.amount))?;
        }
        tx.put(
            CROSS_LINES,
            &store::cross_line_key(cross.period, line.kind.as_str(), &line.id),
            cross,
        )
    }

    /// The pooling region of a person insured here (the province level if
    /// the person is unknown, which cannot happen for a booked line).
    pub(super) fn region_of(&self, tx: &Tx, person: &Id) -> Result<RegionCode, TxFail> {
        Ok(tx
            .get::<Person>(PERSONS, person.as_bytes())?
            .map_or_else(|| RegionCode::of_province(self.province), |p| p.region))
    }

    /// The region a payee is in: an institution's own, or the beneficiary's for a fund.
    pub(super) fn payee_region(&self, tx: &Tx, payee: &Payee, beneficiary: &Id) -> Result<RegionCode, TxFail> {
        match payee {
            Payee::Institution(code) => Ok(code.region()),
            Payee::Fund(_) => self.region_of(tx, beneficiary),
        }
    }
}
