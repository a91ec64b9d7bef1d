//! Seeded property tests of the hub's decisions together: random sequences
//! of routed, answered, repeated and reversed transactions and month closes,
//! applied to an in-memory model of the store the way `service` applies
//! them. A failing seed reproduces.

use std::collections::BTreeMap;

use gongji_common::{
    contract::{Decline, DeclineReason, ReversalOutcome, TxKind, TxStatus},
    statement::Summer,
    testing::Rng,
    Money, Period, ProvinceCode,
};

use super::{
    books::{self, Books},
    prepaid::Reservation,
    reversal::{self, ReversalAnswerDecision, ReversalDecision, ReversalSnapshot},
    routing::{self, AnswerDecision, RouteDecision, RouteSnapshot},
    testing::{cross_payment, payment, period, province, refund, registered, transfer},
    Funds, HubAccount, HubTransaction, MonthState, PairLine, TxBody,
};

const PROVINCES: [&str; 4] = ["11", "13", "32", "41"];

/// The store, as far as the decisions see it.
#[derive(Default)]
struct Model {
    open: Option<Period>,
    transactions: BTreeMap<String, HubTransaction>,
    accounts: BTreeMap<HubAccount, Money>,
    reserved: BTreeMap<ProvinceCode, Money>,
    months: BTreeMap<Period, MonthState>,
    sums: BTreeMap<(Period, ProvinceCode), Summer>,
    pairs: BTreeMap<(Period, ProvinceCode, ProvinceCode, TxKind), PairLine>,
    now: i64,
}

impl Model {
    fn open(&self) -> Period {
        self.open.unwrap_or_else(|| period("2026-01"))
    }

    fn balance(&self, account: &HubAccount) -> Money {
        self.accounts.get(account).copied().unwrap_or(Money::ZERO)
    }

    fn reserved(&self, province: ProvinceCode) -> Money {
        self.reserved.get(&province).copied().unwrap_or(Money::ZERO)
    }

    fn funds(&self, province: ProvinceCode) -> Funds {
        Funds {
            prepaid: self.balance(&HubAccount::Prepaid(province)),
            unsettled: self.balance(&HubAccount::Unsettled(province)),
            reserved: self.reserved(province),
        }
    }

    fn tick(&mut self) -> i64 {
        self.now += 1;
        self.now
    }

    fn reserve(&mut self, reservation: Option<Reservation>) {
        if let Some(Reservation { province, reserved }) = reservation {
            assert!(!reserved.is_negative(), "{province} reserves {reserved}");
            self.reserved.insert(province, reserved);
        }
    }

    /// Loads the books, books the record and applies the booking.
    fn book(&mut self, record: &mut HubTransaction) {
        let (payer, payee, kind, period) = (record.body.payer(), record.body.payee(), record.body.kind(), record.period);
        let loaded = Books {
            month: self.months.get(&period).copied(),
            payer_position: self.balance(&HubAccount::Position(payer, period)),
            payee_position: self.balance(&HubAccount::Position(payee, period)),
            payer_sums: self.sums.get(&(period, payer)).cloned().unwrap_or_default(),
            payee_sums: self.sums.get(&(period, payee)).cloned().unwrap_or_default(),
            pair: self.pairs.get(&(period, payer, payee, kind)).cloned(),
        };
        let now = self.tick();
        let booking = books::book(record, loaded, now).expect("an approved transaction of an uncleared month books");
        if let Some(entry) = booking.entry {
            let sum = entry.legs.iter().try_fold(Money::ZERO, |s, leg| s.checked_add(leg.amount)).unwrap();
            assert_eq!(sum, Money::ZERO, "{} is unbalanced", entry.reference);
            for leg in entry.legs {
                let after = self.balance(&leg.account).checked_add(leg.amount).unwrap();
                self.accounts.insert(leg.account, after);
            }
        }
        assert_eq!(booking.payer_position, self.balance(&HubAccount::Position(payer, period)));
        assert_eq!(booking.payee_position, self.balance(&HubAccount::Position(payee, period)));
        // Each province's statement nets its position (the only ones a booking changes).
        assert_eq!(booking.payer_sums.finish().net(), Ok(booking.payer_position), "{payer} in {period}");
        assert_eq!(booking.payee_sums.finish().net(), Ok(booking.payee_position), "{payee} in {period}");
        record.payer_position = Some(booking.payer_position);
        record.payee_position = Some(booking.payee_position);
        self.sums.insert((period, payer), booking.payer_sums);
        self.sums.insert((period, payee), booking.payee_sums);
        self.pairs.insert((period, payer, payee, kind), booking.pair);
    }

    fn route(&mut self, body: TxBody) {
        let served = registered(&PROVINCES);
        let snapshot = RouteSnapshot {
            existing: self.transactions.get(&body.key()).cloned(),
            open: self.open(),
            registered: &served,
            payer_funds: self.funds(body.payer()),
        };
        let now = self.tick();
        let Ok(decided) = routing::decide(&snapshot, &body, now) else {
            return; // the id holds another transaction: refused, nothing written
        };
        match decided {
            RouteDecision::Recorded(record) => assert_eq!(record.body, body),
            RouteDecision::NotConnected { .. } => panic!("every province is served"),
            RouteDecision::New { record, reservation } => {
                if let Some(Reservation { reserved, .. }) = reservation {
                    let funds = snapshot.payer_funds;
                    assert!(
                        funds.owed().checked_add(reserved).unwrap() <= funds.prepaid,
                        "reserved beyond cover: {funds:?}"
                    );
                }
                self.reserve(reservation);
                self.transactions.insert(body.key(), record);
            }
        }
    }

    fn answer(&mut self, key: &str, answer: Result<(), Decline>) {
        let Some(record) = self.transactions.get(key).cloned() else {
            return;
        };
        let now = self.tick();
        match routing::decide_answer(&record, self.reserved(record.body.payer()), &answer, now) {
            AnswerDecision::Unchanged => assert!(!record.is_pending()),
            AnswerDecision::Decided { mut record, book, release } => {
                self.reserve(release);
                if book {
                    self.book(&mut record);
                }
                self.transactions.insert(key.to_owned(), record);
            }
        }
    }

    fn reverse(&mut self, body: &TxBody, donor_approved: bool) {
        let TxBody::Payment(payment) = body else {
            return;
        };
        let snapshot = ReversalSnapshot {
            original: self.transactions.get(&body.key()).cloned(),
            reversal: self.transactions.get(&TxKind::Reversal.key(&payment.payment_id)).cloned(),
            open: self.open(),
            donor_reserved: self.reserved(payment.donor_province),
        };
        let now = self.tick();
        match reversal::decide(&snapshot, payment, now) {
            ReversalDecision::Done(_) | ReversalDecision::HeldByAnother => return,
            ReversalDecision::CancelUnknown(cancelled) => {
                self.transactions.insert(body.key(), cancelled);
                return;
            }
            ReversalDecision::AskDonor => {}
            ReversalDecision::Start {
                cancelled,
                release,
                reversal,
            } => {
                if let Some(cancelled) = cancelled {
                    self.transactions.insert(body.key(), cancelled);
                }
                self.reserve(release);
                self.transactions.insert(reversal.body.key(), reversal);
            }
        }
        // The donor's node answers: it had approved what the hub recorded
        // approved, and maybe a payment whose approval never reached the hub.
        let original = self.transactions[&body.key()].clone();
        let reversal_key = TxKind::Reversal.key(&payment.payment_id);
        let pending = self.transactions[&reversal_key].clone();
        let answer = ReversalOutcome {
            was_approved: original.status == TxStatus::Approved || donor_approved,
            original_period: None,
            reversal_period: None,
        };
        let now = self.tick();
        match reversal::decide_answer(&original, &pending, &answer, now) {
            ReversalAnswerDecision::Unchanged(_) => {}
            ReversalAnswerDecision::Decided {
                mut original,
                mut reversal,
                book_original,
                book_reversal,
                contradicts_hub,
            } => {
                assert!(!contradicts_hub, "the model's donor never contradicts the hub");
                if book_original {
                    self.book(&mut original);
                }
                if book_reversal {
                    self.book(&mut reversal);
                }
                self.transactions.insert(body.key(), original);
                self.transactions.insert(reversal_key, reversal);
            }
        }
    }

    /// Each month's positions sum to zero; each province's unsettled total
    /// is the sum of its positions. (That each statement nets its position
    /// is checked as each booking is applied.)
    fn check_books(&self, seed: u64, step: usize) {
        let mut by_month: BTreeMap<Period, Money> = BTreeMap::new();
        let mut by_province: BTreeMap<ProvinceCode, Money> = BTreeMap::new();
        for (account, balance) in &self.accounts {
            if let HubAccount::Position(province, period) = account {
                let month = by_month.entry(*period).or_insert(Money::ZERO);
                *month = month.checked_add(*balance).unwrap();
                let total = by_province.entry(*province).or_insert(Money::ZERO);
                *total = total.checked_add(*balance).unwrap();
            }
        }
        for (month, sum) in by_month {
            assert_eq!(sum, Money::ZERO, "seed {seed} step {step}: the positions of {month} sum to {sum}");
        }
        for code in PROVINCES {
            let p = province(code);
            let unsettled = self.balance(&HubAccount::Unsettled(p));
            assert_eq!(
                by_province.get(&p).copied().unwrap_or(Money::ZERO),
                unsettled,
                "seed {seed} step {step}: {p}"
            );
        }
    }

    /// Each province's reservation is what its pending payments and
    /// transfers would add; a transaction is booked exactly when approved.
    fn check_records(&self, seed: u64, step: usize) {
        for code in PROVINCES {
            let p = province(code);
            // What a province has reserved is what its pending payments and transfers would add.
            let in_flight = self
                .transactions
                .values()
                .filter(|t| t.is_pending() && t.body.payer() == p && matches!(t.body.kind(), TxKind::Payment | TxKind::AccountTransfer))
                .try_fold(Money::ZERO, |sum, t| sum.checked_add(t.body.amount()))
                .unwrap();
            assert_eq!(self.reserved(p), in_flight, "seed {seed} step {step}: {p}'s reservation");
        }
        for record in self.transactions.values() {
            let booked = record.payer_position.is_some();
            assert_eq!(
                booked,
                record.status == TxStatus::Approved,
                "seed {seed} step {step}: {:?}",
                record.body.key()
            );
        }
    }
}

fn two_provinces(rng: &mut Rng) -> (&'static str, &'static str) {
    let from = *rng.pick(&PROVINCES);
    let others: Vec<&str> = PROVINCES.iter().copied().filter(|p| *p != from).collect();
    (from, *rng.pick(&others))
}

#[test]
fn positions_of_a_month_always_sum_to_zero_and_equal_its_statements_under_random_routing_answers_and_reversals() {
    // What the sequences reached, over all seeds: each must happen.
    let mut seen: BTreeMap<&str, u64> = BTreeMap::new();
    for seed in 1..=20u64 {
        let mut rng = Rng::new(seed);
        let mut model = Model::default();
        for code in PROVINCES {
            let funds = Money::from_fen(rng.below(300_000) as i64);
            model.accounts.insert(HubAccount::Prepaid(province(code)), funds);
        }
        let mut bodies: Vec<TxBody> = Vec::new();
        for step in 0..400 {
            let amount = format!("{}.{:02}", rng.below(800), rng.below(100));
            let (from, to) = two_provinces(&mut rng);
            let id = format!("X{}", rng.below(120));
            match rng.below(100) {
                0..=29 => {
                    let body = match rng.below(3) {
                        0 => payment(&id, from, to, &amount),
                        1 => refund(&id, "P0", from, to, &amount),
                        _ => transfer(&id, from, to, &amount),
                    };
                    bodies.push(body.clone());
                    model.route(body);
                }
                30..=59 if !bodies.is_empty() => {
                    let key = rng.pick(&bodies).key();
                    let answer = if rng.chance(75) {
                        Ok(())
                    } else {
                        Err(Decline::new(DeclineReason::InsufficientQuota, "no quota"))
                    };
                    model.answer(&key, answer);
                }
                60..=69 if !bodies.is_empty() => {
                    // A repeat: the recorded outcome, nothing new.
                    let body = rng.pick(&bodies).clone();
                    let before = model.transactions.get(&body.key()).cloned();
                    model.route(body.clone());
                    assert_eq!(
                        model.transactions.get(&body.key()).cloned(),
                        before,
                        "seed {seed} step {step}: a repeat changed something"
                    );
                }
                70..=96 => {
                    // A reversal of a payment routed before, or of one the hub never saw.
                    let body = if rng.chance(80) && !bodies.is_empty() {
                        rng.pick(&bodies).clone()
                    } else {
                        TxBody::Payment(cross_payment(&id, from, to, &amount))
                    };
                    let donor_approved = rng.chance(40);
                    model.reverse(&body, donor_approved);
                }
                97..=99 => {
                    // The open month closes: new transactions go into the next; the
                    // closing one takes answers until it is cleared.
                    let open = model.open();
                    model.months.insert(open, MonthState::Closing);
                    model.open = Some(open.next());
                }
                _ => {}
            }
            model.check_books(seed, step);
            if step % 20 == 0 {
                model.check_records(seed, step);
            }
        }
        model.check_records(seed, 400);
        // Cancelled payments were never booked.
        for record in model.transactions.values() {
            if record.status == TxStatus::Reversed {
                assert_eq!(record.payer_position, None, "seed {seed}: {}", record.body.key());
            }
            let what = match (record.body.kind(), record.status, &record.decline) {
                (TxKind::Reversal, TxStatus::Approved, _) => "credit back",
                (TxKind::Reversal, TxStatus::Declined, _) => "nothing to credit back",
                (_, TxStatus::Reversed, _) => "cancelled",
                (_, TxStatus::Approved, _) if record.reversal_period.is_some() => "approved, then reversed",
                (_, TxStatus::Approved, _) => "approved",
                (_, TxStatus::Declined, Some(d)) if d.reason == DeclineReason::PrepaidExhausted => "no prepaid cover",
                (_, TxStatus::Declined, _) => "declined by its node",
                (_, TxStatus::Pending, _) => "pending",
            };
            *seen.entry(what).or_insert(0) += 1;
        }
        *seen.entry("months").or_insert(0) += model.months.len() as u64;
    }
    for what in [
        "credit back",
        "nothing to credit back",
        "cancelled",
        "approved, then reversed",
        "approved",
        "no prepaid cover",
        "declined by its node",
        "pending",
        "months",
    ] {
        assert!(seen.get(what).is_some_and(|n| *n > 0), "no sequence reached {what:?}: {seen:?}");
    }
}
