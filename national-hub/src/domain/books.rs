//! Booking an approved transaction into its month: the payer's position
//! goes down and the payee's up by the amount (their unsettled totals with
//! them), each province gets its statement line (payable for the payer,
//! receivable for the payee), and the sums a month's clearing reads grow
//! with the lines. A cleared month is never booked into: what is stamped
//! with it can no longer change.

use gongji_common::{
    statement::{Direction, Line, Summer},
    Money, ProvinceCode,
};
use serde::{Deserialize, Serialize};

use super::{Entry, HubAccount, HubTransaction, Leg, MonthState, PairLine, Refusal};

/// A statement line at the hub, with the province it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HubLine {
    pub owner: ProvinceCode,
    pub line: Line,
}

/// What the store holds, in the transaction's month, that booking it changes.
#[derive(Debug, Clone, Default)]
pub struct Books {
    /// The month's state, once it has started closing (`None` while open).
    pub month: Option<MonthState>,
    pub payer_position: Money,
    pub payee_position: Money,
    /// The payer's and the payee's statement sums so far.
    pub payer_sums: Summer,
    pub payee_sums: Summer,
    /// The sums of the pair (payer → payee) for this kind so far, if any.
    pub pair: Option<PairLine>,
}

/// What booking a transaction writes.
#[derive(Debug, Clone)]
pub struct Booking {
    /// The positions' entry; none for a zero amount (a transfer of an empty account).
    pub entry: Option<Entry>,
    /// The positions right after, as recorded on the transaction.
    pub payer_position: Money,
    pub payee_position: Money,
    /// The payer's line, then the payee's.
    pub lines: [HubLine; 2],
    pub payer_sums: Summer,
    pub payee_sums: Summer,
    pub pair: PairLine,
}

/// Books `record` (approved) into its month at `now`.
pub fn book(record: &HubTransaction, books: Books, now: i64) -> Result<Booking, Refusal> {
    let body = &record.body;
    let period = record.period;
    if books.month.is_some_and(MonthState::is_cleared) {
        return Err(Refusal::Broken(format!(
            "{} would change month {period}, which is already cleared",
            body.key()
        )));
    }
    let (payer, payee, amount, kind) = (body.payer(), body.payee(), body.amount(), body.kind());
    if payer == payee {
        return Err(Refusal::Broken(format!("{} does not cross provinces", body.key())));
    }
    let entry = (!amount.is_zero()).then(|| {
        let leg = |account, amount| Leg { account, amount };
        Entry {
            reference: body.key(),
            memo: kind.as_str().to_owned(),
            at: now,
            legs: vec![
                leg(HubAccount::Position(payer, period), amount.negated()),
                leg(HubAccount::Position(payee, period), amount),
                leg(HubAccount::Unsettled(payer), amount.negated()),
                leg(HubAccount::Unsettled(payee), amount),
            ],
        }
    });
    let line = |counterpart, direction| Line {
        kind,
        id: body.id().to_string(),
        counterpart,
        direction,
        amount,
    };
    let payer_line = line(payee, Direction::Payable);
    let payee_line = line(payer, Direction::Receivable);
    let mut payer_sums = books.payer_sums;
    payer_sums.add(&payer_line)?;
    let mut payee_sums = books.payee_sums;
    payee_sums.add(&payee_line)?;
    let mut pair = books.pair.unwrap_or(PairLine {
        payer,
        payee,
        kind,
        count: 0,
        gross: Money::ZERO,
    });
    pair.count += 1;
    pair.gross = pair.gross.checked_add(amount)?;
    Ok(Booking {
        entry,
        payer_position: books.payer_position.checked_add(amount.negated())?,
        payee_position: books.payee_position.checked_add(amount)?,
        lines: [
            HubLine {
                owner: payer,
                line: payer_line,
            },
            HubLine {
                owner: payee,
                line: payee_line,
            },
        ],
        payer_sums,
        payee_sums,
        pair,
    })
}

#[cfg(test)]
mod tests {
    use gongji_common::contract::TxStatus;

    use super::*;
    use crate::domain::testing::{money, payment, period, province, refund};

    fn approved(body: crate::domain::TxBody) -> HubTransaction {
        let mut record = HubTransaction::pending(body, period("2026-03"), 1);
        record.status = TxStatus::Approved;
        record
    }

    #[test]
    fn an_approved_payment_moves_the_donors_position_down_and_the_beneficiarys_up_by_its_amount() {
        let record = approved(payment("P1", "13", "41", "120.00"));
        let books = Books {
            payer_position: money("-10.00"),
            payee_position: money("10.00"),
            ..Books::default()
        };
        let booking = book(&record, books, 7).unwrap();
        assert_eq!(booking.payer_position, money("-130.00"));
        assert_eq!(booking.payee_position, money("130.00"));
        let entry = booking.entry.expect("an entry for a non-zero amount");
        assert_eq!(
            (entry.reference.as_str(), entry.memo.as_str(), entry.at),
            ("payment/P1", "payment", 7)
        );
        let legs: Vec<(HubAccount, Money)> = entry.legs.into_iter().map(|l| (l.account, l.amount)).collect();
        assert_eq!(
            legs,
            vec![
                (HubAccount::Position(province("13"), period("2026-03")), money("-120.00")),
                (HubAccount::Position(province("41"), period("2026-03")), money("120.00")),
                (HubAccount::Unsettled(province("13")), money("-120.00")),
                (HubAccount::Unsettled(province("41")), money("120.00")),
            ]
        );
    }

    #[test]
    fn each_province_gets_its_line_and_only_the_payer_adds_to_the_pairs_sums() {
        let record = approved(refund("R1", "P1", "13", "41", "20.00"));
        let booking = book(&record, Books::default(), 7).unwrap();
        let [payer, payee] = &booking.lines;
        // A refund: the beneficiary's province (41) pays the donor's (13).
        assert_eq!(
            (payer.owner, payer.line.direction, payer.line.counterpart),
            (province("41"), Direction::Payable, province("13"))
        );
        assert_eq!(
            (payee.owner, payee.line.direction, payee.line.counterpart),
            (province("13"), Direction::Receivable, province("41"))
        );
        assert_eq!(booking.payer_sums.finish().payable, money("20.00"));
        assert_eq!(booking.payee_sums.finish().receivable, money("20.00"));
        assert_eq!((booking.pair.payer, booking.pair.payee), (province("41"), province("13")));
        assert_eq!((booking.pair.count, booking.pair.gross), (1, money("20.00")));
        let again = book(
            &approved(refund("R2", "P1", "13", "41", "5.00")),
            Books {
                pair: Some(booking.pair),
                ..Books::default()
            },
            8,
        )
        .unwrap();
        assert_eq!((again.pair.count, again.pair.gross), (2, money("25.00")));
    }

    #[test]
    fn a_zero_amount_posts_no_entry_but_still_has_its_lines() {
        let record = approved(crate::domain::testing::transfer("T1", "13", "41", "0.00"));
        let booking = book(&record, Books::default(), 7).unwrap();
        assert!(booking.entry.is_none());
        assert_eq!(booking.payer_sums.finish().lines, 1);
        assert_eq!((booking.payer_position, booking.payee_position), (Money::ZERO, Money::ZERO));
    }

    #[test]
    fn a_cleared_month_is_never_booked_into() {
        let record = approved(payment("P1", "13", "41", "1.00"));
        for (state, allowed) in [
            (None, true),
            (Some(MonthState::Closing), true),
            (Some(MonthState::Closed), false),
            (Some(MonthState::Reconciled), false),
            (Some(MonthState::Settled), false),
        ] {
            let books = Books {
                month: state,
                ..Books::default()
            };
            match book(&record, books, 7) {
                Ok(_) => assert!(allowed, "{state:?}"),
                Err(refusal) => {
                    assert!(!allowed, "{state:?}");
                    assert_eq!(
                        refusal,
                        Refusal::Broken("payment/P1 would change month 2026-03, which is already cleared".into())
                    );
                }
            }
        }
    }
}
