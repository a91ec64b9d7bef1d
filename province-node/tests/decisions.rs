//! The node's decisions, without servers or a store: table-driven tests of
//! each rule, and seeded property tests that run long random sequences of
//! requests through the pure `decide_*` functions of one node (same
//! province) or two nodes joined by a hub that delivers late, twice or never.
//! A small model of the books applies each decision's changes as the store
//! would, refusing any that takes a book holding money below zero.

use std::collections::{BTreeMap, BTreeSet};

use gongji_common::{
    contract::{NoticeBody, RelationKind, ReversalOutcome},
    testing::Rng,
    Id, InstitutionCode, Money, Period, ProvinceCode, RegionCode,
};
use province_node::domain::*;

const SHIJIAZHUANG: &str = "130100";
const ZHENGZHOU: &str = "410100";

fn id(text: &str) -> Id {
    Id::parse("id", text).unwrap()
}

fn fen(n: i64) -> Money {
    Money::from_fen(n)
}

fn province(code: &str) -> ProvinceCode {
    ProvinceCode::parse("province", code).unwrap()
}

fn period() -> Period {
    Period::parse("period", "2026-12").unwrap()
}

fn person(name: &str, region: &str, insurance: InsuranceType) -> Person {
    Person {
        id: id(name),
        name: name.into(),
        insurance,
        region: RegionCode::parse("region", region).unwrap(),
        status: PersonStatus::Active,
        registered_at: 0,
        moved_to: None,
    }
}

fn hospital(region: &str) -> Payee {
    Payee::Institution(InstitutionCode::parse("institution", &format!("H{region}00001")).unwrap())
}

fn grant(donor: &Person, beneficiary: &Person, quota: Money) -> Grant {
    Grant {
        relationship_id: id(&format!("rel-{}-{}", donor.id, beneficiary.id)),
        donor_id: donor.id.clone(),
        donor_province: donor.region.province(),
        beneficiary_id: beneficiary.id.clone(),
        beneficiary_province: beneficiary.region.province(),
        kind: RelationKind::Parent,
        quota,
    }
}

/// One node's records and journal, as its store would hold them after
/// applying decisions' changes.
#[derive(Default)]
struct Books {
    here: Option<ProvinceCode>,
    balances: BTreeMap<String, Money>,
    persons: BTreeMap<Id, Person>,
    relationships: BTreeMap<Id, Relationship>,
    payments: BTreeMap<Id, AcquiredPayment>,
    debits: BTreeMap<Id, IssuedDebit>,
    refunds: BTreeMap<Id, RefundRecord>,
    tombstones: BTreeMap<Id, Tombstone>,
    transfers_out: BTreeMap<Id, TransferOut>,
    pending: BTreeSet<String>,
    lines: Vec<CrossLine>,
    notices: Vec<NoticeBody>,
    events: Vec<(Id, Event)>,
}

fn key(book: &Book) -> String {
    format!("{book:?}")
}

impl Books {
    fn new(here: &str) -> Books {
        Books {
            here: Some(province(here)),
            ..Books::default()
        }
    }

    fn here(&self) -> ProvinceCode {
        self.here.unwrap()
    }

    fn balance(&self, book: &Book) -> Money {
        self.balances.get(&key(book)).copied().unwrap_or(Money::ZERO)
    }

    /// Moves money as the journal does: books that hold someone's money
    /// never go below zero ("quotas are never overspent").
    fn post(&mut self, movement: &Move) {
        for (book, sign) in [(&movement.from, -1), (&movement.to, 1)] {
            let delta = if sign < 0 { movement.amount.negated() } else { movement.amount };
            let after = self.balance(book).checked_add(delta).unwrap();
            let holds_money = !matches!(book, Book::Contributions | Book::Province(..));
            assert!(
                !(holds_money && after.is_negative()),
                "{} would take {book:?} to {after}",
                movement.reference
            );
            self.balances.insert(key(book), after);
        }
    }

    fn apply<O>(&mut self, decision: Decision<O>) -> O {
        for change in decision.changes {
            match change {
                Change::Person(p) => drop(self.persons.insert(p.id.clone(), p)),
                Change::Relationship(r) => drop(self.relationships.insert(r.id().clone(), r)),
                Change::Payment(p) => drop(self.payments.insert(p.command.payment_id.clone(), p)),
                Change::PaymentForgotten(id) => drop(self.payments.remove(&id)),
                Change::Debit(d) => drop(self.debits.insert(d.payment.payment_id.clone(), d)),
                Change::Tombstone(id, t) => drop(self.tombstones.insert(id, t)),
                Change::Refund(r) => drop(self.refunds.insert(r.command.refund_id.clone(), r)),
                Change::RefundForgotten(id) => drop(self.refunds.remove(&id)),
                Change::TransferOut(t) => drop(self.transfers_out.insert(t.command.transfer_id.clone(), t)),
                Change::TransferOutForgotten(id) => drop(self.transfers_out.remove(&id)),
                Change::Event(id, event) => self.events.push((id, event)),
                Change::Move(m) => self.post(&m),
                Change::Cross { line, other, memo } => {
                    self.post(&line.movement(other, memo));
                    self.lines.push(line);
                }
                Change::Pending(kind, id) => drop(self.pending.insert(format!("{kind:?}/{id}"))),
                Change::Done(kind, id) => drop(self.pending.remove(&format!("{kind:?}/{id}"))),
                Change::Notice(_, body) => self.notices.push(body),
                Change::Contribution(_)
                | Change::QuotaChange(_)
                | Change::DonorIndex { .. }
                | Change::BeneficiaryIndex { .. }
                | Change::LivePair { .. }
                | Change::TransferIn(_)
                | Change::NoticeApplied(_)
                | Change::Wallet(_)
                | Change::WalletTransfer(_)
                | Change::WalletCredit(_)
                | Change::WalletIncoming(_)
                | Change::WalletAccepting(..)
                | Change::WalletPayment(_)
                | Change::WalletReversedFirst(..)
                | Change::WalletSent { .. }
                | Change::WalletUnaccepted { .. }
                | Change::WalletDue { .. } => {}
            }
        }
        decision.outcome
    }

    fn credit(&mut self, person: &Person, amount: Money) {
        let command = CreditCommand {
            contribution_id: id(&format!("c-{}", person.id)),
            person_id: person.id.clone(),
            amount,
        };
        self.apply(decide_credit(None, Some(person.clone()), &command, 0).unwrap());
    }

    fn establish(&mut self, grant: &Grant) -> Relationship {
        let state = EstablishState {
            recorded: self.relationships.get(&grant.relationship_id).cloned(),
            donor: self.persons.get(&grant.donor_id).cloned(),
            available: self.balance(&Book::Available(grant.donor_id.clone())),
            live_pair: None,
            beneficiary: self.persons.get(&grant.beneficiary_id).cloned(),
        };
        self.apply(decide_establish(state, grant, 0).unwrap())
    }

    fn held(&self, id: &Id) -> Option<Held> {
        self.relationships.get(id).map(|r| Held {
            relationship: r.clone(),
            quota_left: self.balance(&Book::Quota(id.clone())),
        })
    }

    fn recipient(&self, relationship: &Id, donor: &Id) -> Recipient {
        Recipient {
            relationship: self.relationships.get(relationship).cloned(),
            donor: self.persons.get(donor).cloned(),
            forwarded: false,
        }
    }

    fn pay(&mut self, command: &PayCommand, now: i64) -> Result<Paid, Refusal> {
        let candidates: Vec<Relationship> = self
            .relationships
            .values()
            .filter(|r| r.grant.beneficiary_id == command.beneficiary_id)
            .cloned()
            .collect();
        let donors = candidates
            .iter()
            .filter_map(|r| self.persons.get(&r.grant.donor_id).cloned())
            .collect();
        let state = PaymentState {
            here: self.here(),
            tombstone: self.tombstones.get(&command.payment_id).cloned(),
            recorded: self.payments.get(&command.payment_id).cloned(),
            beneficiary: self.persons.get(&command.beneficiary_id).cloned(),
            candidates,
            donors,
        };
        decide_payment(state, command, now).map(|d| self.apply(d))
    }

    fn refund(&mut self, command: &RefundCommand, now: i64) -> Result<RefundRecord, Refusal> {
        let payment = self.payments.get(&command.payment_id).cloned();
        let recipient = match payment.as_ref().and_then(|p| p.route.as_ref()) {
            Some(route) => self.recipient(&route.relationship_id, &route.donor_id),
            None => Recipient::default(),
        };
        let state = RefundState {
            recorded: self.refunds.get(&command.refund_id).cloned(),
            payment,
            recipient,
        };
        decide_refund(state, command, None, now).map(|d| self.apply(d))
    }

    fn reverse(&mut self, payment_id: &Id, now: i64) -> Result<Reversed, Refusal> {
        let payment = self.payments.get(payment_id).cloned();
        let recipient = match payment.as_ref().and_then(|p| p.route.as_ref()) {
            Some(route) => self.recipient(&route.relationship_id, &route.donor_id),
            None => Recipient::default(),
        };
        let state = ReversalState {
            payment,
            debit: self.debits.get(payment_id).cloned(),
            tombstone: self.tombstones.get(payment_id).cloned(),
            recipient,
        };
        decide_reversal(state, payment_id, None, now).map(|d| self.apply(d))
    }

    /// Every book of the node together: zero, as in any double-entry journal.
    fn trial_balance(&self) -> Money {
        self.balances.values().fold(Money::ZERO, |sum, b| sum.checked_add(*b).unwrap())
    }

    /// A relationship owned here holds in its quota book exactly what it
    /// has not used; an ended one holds nothing.
    fn check_quota_books(&self, context: &str) {
        for r in self.relationships.values().filter(|r| r.owned_by(self.here())) {
            let book = self.balance(&Book::Quota(r.id().clone()));
            let expected = if r.is_live() {
                r.quota.checked_sub(r.used).unwrap()
            } else {
                Money::ZERO
            };
            assert_eq!(
                book,
                expected,
                "{context}: quota book of {} (quota {}, used {})",
                r.id(),
                r.quota,
                r.used
            );
        }
        assert_eq!(self.trial_balance(), Money::ZERO, "{context}: trial balance");
    }
}

/// A node of province 13 with a donor holding `balance` who gives `quota`
/// to a relative insured in the same province.
fn same_province(balance: i64, quota: i64) -> (Books, Person, Person, Relationship) {
    let donor = person("donor", SHIJIAZHUANG, InsuranceType::Employee);
    let kin = person("kin", SHIJIAZHUANG, InsuranceType::Resident);
    let mut books = Books::new("13");
    books.persons.insert(donor.id.clone(), donor.clone());
    books.persons.insert(kin.id.clone(), kin.clone());
    books.credit(&donor, fen(balance));
    let relationship = books.establish(&grant(&donor, &kin, fen(quota)));
    (books, donor, kin, relationship)
}

fn pay_command(n: u64, beneficiary: &Person, amount: Money) -> PayCommand {
    PayCommand {
        payment_id: id(&format!("pay-{n}")),
        beneficiary_id: beneficiary.id.clone(),
        payee: hospital(&beneficiary.region.to_string()),
        amount,
        purpose: Purpose::Outpatient,
        relationship_id: None,
    }
}

// ---------------------------------------------------------------- tables

#[test]
fn a_payment_is_approved_only_within_the_remaining_quota() {
    // (quota, already used, asked, approved?)
    for (quota, used, asked, approved) in [
        (50_000, 0, 50_000, true),
        (50_000, 0, 50_001, false),
        (50_000, 49_999, 1, true),
        (50_000, 49_999, 2, false),
        (50_000, 50_000, 1, false),
    ] {
        let (mut books, _, kin, _) = same_province(100_000, quota);
        if used > 0 {
            let Ok(Paid::Recorded(first)) = books.pay(&pay_command(0, &kin, fen(used)), 0) else {
                panic!("first payment")
            };
            assert_eq!(first.status, TxStatus::Approved);
        }
        let Ok(Paid::Recorded(payment)) = books.pay(&pay_command(1, &kin, fen(asked)), 0) else {
            panic!("payment")
        };
        assert_eq!(
            payment.status == TxStatus::Approved,
            approved,
            "quota {quota} used {used} asked {asked}"
        );
        if !approved {
            assert_eq!(payment.decline.unwrap().reason, DeclineReason::InsufficientQuota);
        }
        books.check_quota_books("after the payment");
    }
}

#[test]
fn the_donors_node_never_debits_beyond_the_remaining_quota() {
    // What the beneficiary's node knows may be stale (payments in flight):
    // the donor's node decides on its own record. (used, asked, approved?)
    for (used, asked, approved) in [
        (0, 40_000, true),
        (0, 40_001, false),
        (39_999, 1, true),
        (39_999, 2, false),
        (40_000, 1, false),
    ] {
        let donor = person("donor", SHIJIAZHUANG, InsuranceType::Employee);
        let kin = person("kin", ZHENGZHOU, InsuranceType::Resident);
        let mut issuer = Books::new("13");
        issuer.persons.insert(donor.id.clone(), donor.clone());
        issuer.credit(&donor, fen(100_000));
        let the_grant = grant(&donor, &kin, fen(40_000));
        issuer.establish(&the_grant);
        issuer.apply(decide_grant_answer(issuer.held(&the_grant.relationship_id), &the_grant.relationship_id, &Ok(()), 0).unwrap());
        let debit = |n: u64, amount: i64, issuer: &mut Books| {
            let route = route(
                &pay_command(n, &kin, fen(amount)),
                &issuer.relationships[&the_grant.relationship_id],
            );
            let state = DebitState {
                here: issuer.here(),
                recorded: None,
                relationship: issuer.relationships.get(&the_grant.relationship_id).cloned(),
                donor: Some(donor.clone()),
            };
            issuer.apply(decide_debit(state, &route, period(), 0).unwrap())
        };
        if used > 0 {
            assert_eq!(debit(0, used, &mut issuer).status, TxStatus::Approved);
        }
        let decided = debit(1, asked, &mut issuer);
        assert_eq!(decided.status == TxStatus::Approved, approved, "used {used} asked {asked}");
        if !approved {
            assert_eq!(decided.decline.unwrap().reason, DeclineReason::InsufficientQuota);
        }
        issuer.check_quota_books(&format!("used {used} asked {asked}"));
    }
}

#[test]
fn a_refusal_writes_nothing() {
    let (mut books, donor, kin, _) = same_province(100_000, 10_000);
    let first = pay_command(1, &kin, fen(100));
    books.pay(&first, 0).unwrap();
    // The same id with other content, a refund of an unknown payment, a
    // person who is not there: refused, and no decision to apply.
    let mut reused = first.clone();
    reused.amount = fen(200);
    let candidates = books.relationships.values().cloned().collect();
    let state = PaymentState {
        here: books.here(),
        tombstone: None,
        recorded: books.payments.get(&first.payment_id).cloned(),
        beneficiary: Some(kin.clone()),
        candidates,
        donors: vec![donor.clone()],
    };
    assert!(matches!(decide_payment(state, &reused, 0), Err(Refusal::AlreadyExists(_))));
    let unknown = RefundCommand {
        refund_id: id("ref-x"),
        payment_id: id("nowhere"),
        amount: fen(1),
    };
    assert!(decide_refund(
        RefundState {
            recorded: None,
            payment: None,
            recipient: Recipient::default()
        },
        &unknown,
        None,
        0
    )
    .is_err());
    let stranger = pay_command(2, &person("stranger", SHIJIAZHUANG, InsuranceType::Resident), fen(1));
    assert!(matches!(books.pay(&stranger, 0), Err(Refusal::NotFound { what: "person", .. })));
}

#[test]
fn a_refund_is_never_above_what_the_payment_has_left() {
    let (mut books, _, kin, _) = same_province(100_000, 10_000);
    let payment = pay_command(1, &kin, fen(3_000));
    books.pay(&payment, 0).unwrap();
    // (refund, approved?) in order: 3,000 paid; 1,000 + 2,000 refundable, then nothing.
    for (n, (amount, approved)) in [(1_000, true), (2_001, false), (2_000, true), (1, false)].into_iter().enumerate() {
        let command = RefundCommand {
            refund_id: id(&format!("ref-{n}")),
            payment_id: payment.payment_id.clone(),
            amount: fen(amount),
        };
        let record = books.refund(&command, 0).unwrap();
        assert_eq!(record.status == TxStatus::Approved, approved, "refund {n} of {amount}");
        if !approved {
            assert_eq!(record.decline.unwrap().reason, DeclineReason::RefundExceedsPayment);
        }
        books.check_quota_books(&format!("refund {n}"));
    }
    assert_eq!(books.payments[&payment.payment_id].refunded, fen(3_000));
    assert_eq!(books.balance(&Book::Payee(payment.payee.clone())), Money::ZERO);
}

#[test]
fn dissolution_returns_exactly_the_unused_quota() {
    for (quota, spent, refunded) in [(10_000, 0, 0), (10_000, 4_000, 0), (10_000, 4_000, 1_500), (10_000, 10_000, 10_000)] {
        let (mut books, donor, kin, relationship) = same_province(50_000, quota);
        if spent > 0 {
            books.pay(&pay_command(1, &kin, fen(spent)), 0).unwrap();
        }
        if refunded > 0 {
            let command = RefundCommand {
                refund_id: id("ref"),
                payment_id: id("pay-1"),
                amount: fen(refunded),
            };
            books.refund(&command, 0).unwrap();
        }
        let available = books.balance(&Book::Available(donor.id.clone()));
        let held = books.held(relationship.id());
        let ended = books.apply(decide_dissolve(held, relationship.id(), EndReason::DonorRequest, books.here(), 1).unwrap());
        assert_eq!(ended.status, RelationshipStatus::Dissolved);
        let unused = fen(quota - spent + refunded);
        assert_eq!(
            books.balance(&Book::Available(donor.id.clone())),
            available.checked_add(unused).unwrap(),
            "quota {quota}, spent {spent}, refunded {refunded}: the donor gets back exactly {unused}"
        );
        books.check_quota_books("after the end");
        // Ending it again changes nothing.
        let again = decide_dissolve(
            books.held(relationship.id()),
            relationship.id(),
            EndReason::DonorRequest,
            books.here(),
            2,
        )
        .unwrap();
        assert!(again.changes.is_empty());
    }
}

#[test]
fn a_transfer_is_all_or_nothing() {
    let mover = person("mover", SHIJIAZHUANG, InsuranceType::Employee);
    let kin = person("kin", SHIJIAZHUANG, InsuranceType::Resident);
    let command = TransferCommand {
        transfer_id: id("t-1"),
        person_id: mover.id.clone(),
        to_region: RegionCode::parse("r", ZHENGZHOU).unwrap(),
    };
    for answer in [
        HubAnswer::Approved(period()),
        HubAnswer::Declined(Some(period()), Decline::new(DeclineReason::AlreadyInsured, "insured there")),
        HubAnswer::Taken("id used at province 32's node".into()),
    ] {
        let mut books = Books::new("13");
        books.persons.insert(mover.id.clone(), mover.clone());
        books.persons.insert(kin.id.clone(), kin.clone());
        books.credit(&mover, fen(80_000));
        let relationship = books.establish(&grant(&mover, &kin, fen(30_000)));
        let started = books.apply(decide_transfer(None, Some(mover.clone()), &command, 1).unwrap());
        assert_eq!(books.persons[&mover.id].status, PersonStatus::Transferred);
        let available = books.balance(&Book::Available(mover.id.clone()));
        assert_eq!(available, fen(50_000));
        books.apply(decide_hold(Some(started), &command.transfer_id, available).unwrap());
        assert_eq!(books.balance(&Book::Transit(command.transfer_id.clone())), fen(50_000));
        let state = TransferAnswerState {
            here: books.here(),
            record: books.transfers_out.get(&command.transfer_id).cloned(),
            person: books.persons.get(&mover.id).cloned(),
            arrived: books.balance(&Book::Available(mover.id.clone())),
            forwarded: false,
        };
        let answered = books.apply(decide_transfer_answer(state, &command.transfer_id, &answer, 2).unwrap());
        // The relationship is never touched by the answer itself.
        assert_eq!(books.relationships[relationship.id()].status, RelationshipStatus::Active);
        assert_eq!(books.balance(&Book::Transit(command.transfer_id.clone())), Money::ZERO);
        match answer {
            HubAnswer::Approved(_) => {
                assert!(matches!(answered, Answered::Recorded(ref t) if t.status == TxStatus::Approved));
                assert_eq!(books.balance(&Book::Province(province("41"), period())), fen(50_000));
                assert!(
                    books.pending.contains(&format!("Cascade/{}", mover.id)),
                    "the relationships end next"
                );
                assert!(books.persons[&mover.id].moved_to.is_some());
            }
            _ => {
                // Everything as it was: the balance back, the person active, nothing owed.
                assert_eq!(books.persons[&mover.id].status, PersonStatus::Active);
                assert_eq!(books.balance(&Book::Available(mover.id.clone())), fen(50_000));
                assert_eq!(books.balance(&Book::Province(province("41"), period())), Money::ZERO);
                assert!(books.pending.is_empty(), "{:?}", books.pending);
                assert_eq!(
                    matches!(answered, Answered::Taken(_)),
                    !books.transfers_out.contains_key(&command.transfer_id),
                    "a taken id leaves no trace"
                );
            }
        }
        books.check_quota_books("after the answer");
    }
}

#[test]
fn a_taken_id_answered_again_after_its_record_was_forgotten_is_the_same_refusal_and_changes_nothing() {
    // The request and the recovery pass asked the hub at once: the first
    // answer forgot the record; the second is the same answer, not "not found".
    let mover = person("mover", SHIJIAZHUANG, InsuranceType::Employee);
    let state = TransferAnswerState {
        here: province("13"),
        record: None,
        person: Some(mover),
        arrived: Money::ZERO,
        forwarded: false,
    };
    let why = "transfer id t-1 is already recorded at the hub for another transfer, served at province 32's node";
    let answered = decide_transfer_answer(state.clone(), &id("t-1"), &HubAnswer::Taken(why.into()), 2).unwrap();
    assert_eq!(answered.outcome, Answered::Taken(why.into()));
    assert!(answered.changes.is_empty());
    assert!(decide_transfer_answer(state, &id("t-1"), &HubAnswer::Approved(period()), 2).is_err());
}

#[test]
fn the_quotas_of_a_person_who_moved_follow_them() {
    let mover = person("mover", SHIJIAZHUANG, InsuranceType::Employee);
    let kin = person("kin", SHIJIAZHUANG, InsuranceType::Resident);
    let mut books = Books::new("13");
    books.persons.insert(kin.id.clone(), kin.clone());
    books.persons.insert(mover.id.clone(), mover.clone());
    books.credit(&mover, fen(80_000));
    let relationship = books.establish(&grant(&mover, &kin, fen(30_000)));
    books.pay(&pay_command(1, &kin, fen(5_000)), 0).unwrap();
    let mut moved = books.persons[&mover.id].clone();
    moved.status = PersonStatus::Transferred;
    moved.moved_to = Some(RegionCode::parse("r", ZHENGZHOU).unwrap());
    books.persons.insert(mover.id.clone(), moved.clone());
    books.balances.insert(key(&Book::Available(mover.id.clone())), Money::ZERO);
    books.balances.insert(key(&Book::Contributions), fen(-30_000));
    let state = CascadeState {
        here: books.here(),
        person: Some(moved),
        relationships: books.held(relationship.id()).into_iter().collect(),
        available: Money::ZERO,
        forwarded: false,
    };
    let ended = books.apply(decide_cascade(state, &mover.id, 3).unwrap());
    assert_eq!(ended, 1);
    let follow_up = forward_id(&quotas_reference(&mover.id));
    assert_eq!(
        books.balance(&Book::Transit(follow_up.clone())),
        fen(25_000),
        "the unused quota is on its way"
    );
    assert!(books.transfers_out[&follow_up].follow_up);
    assert_eq!(books.balance(&Book::Available(mover.id.clone())), Money::ZERO);
    books.check_quota_books("after the cascade");
}

#[test]
fn an_institution_refunds_and_reverses_only_its_own_payments() {
    let (mut books, donor, kin, _) = same_province(50_000, 10_000);
    let payment = pay_command(1, &kin, fen(1_000));
    books.pay(&payment, 0).unwrap();
    let other = InstitutionCode::parse("i", "H13010000099").unwrap();
    let Payee::Institution(own) = payment.payee.clone() else {
        unreachable!()
    };
    let command = RefundCommand {
        refund_id: id("r"),
        payment_id: payment.payment_id.clone(),
        amount: fen(1),
    };
    for (acting, allowed) in [(Some(&other), false), (Some(&own), true), (None, true)] {
        let state = RefundState {
            recorded: None,
            payment: books.payments.get(&payment.payment_id).cloned(),
            recipient: books.recipient(&id("rel-donor-kin"), &donor.id),
        };
        let refunded = decide_refund(state, &command, acting, 0);
        assert_eq!(refunded.is_ok(), allowed, "{acting:?}");
        if !allowed {
            assert!(matches!(refunded, Err(Refusal::PermissionDenied(_))));
        }
        let state = ReversalState {
            payment: books.payments.get(&payment.payment_id).cloned(),
            debit: None,
            tombstone: None,
            recipient: books.recipient(&id("rel-donor-kin"), &donor.id),
        };
        assert_eq!(
            decide_reversal(state, &payment.payment_id, acting, 0).is_ok(),
            allowed,
            "{acting:?}"
        );
    }
    // An id reversed first by one institution is taken for any other.
    let reversal = decide_reversal(
        ReversalState {
            payment: None,
            debit: None,
            tombstone: None,
            recipient: Recipient::default(),
        },
        &id("early"),
        Some(&own),
        0,
    )
    .unwrap();
    let Reversed::Cancelled(tombstone) = books.apply(reversal) else {
        panic!("cancelled")
    };
    assert!(tombstone.cancels(&payment.payee));
    assert!(!tombstone.cancels(&Payee::Institution(other)));
}

// ---------------------------------------------------------- properties

#[test]
fn within_a_province_quotas_are_never_overspent_and_refunds_never_exceed_payments() {
    for seed in 1..=30u64 {
        let mut rng = Rng::new(seed);
        let (mut books, donor, kin, relationship) = same_province(200_000, 50_000);
        let rel = relationship.id().clone();
        let mut paid = Vec::new();
        for step in 0..300u64 {
            let context = format!("seed {seed} step {step}");
            match rng.below(5) {
                0 | 1 => {
                    let command = pay_command(step, &kin, fen(rng.below(15_000) as i64 + 1));
                    let remaining = books.relationships[&rel].remaining();
                    let Ok(Paid::Recorded(payment)) = books.pay(&command, step as i64) else {
                        panic!("{context}")
                    };
                    assert_eq!(payment.status == TxStatus::Approved, command.amount <= remaining, "{context}");
                    if payment.status == TxStatus::Approved {
                        paid.push(command.payment_id);
                    }
                }
                2 if !paid.is_empty() => {
                    let payment_id = rng.pick(&paid).clone();
                    let command = RefundCommand {
                        refund_id: id(&format!("ref-{step}")),
                        payment_id: payment_id.clone(),
                        amount: fen(rng.below(8_000) as i64 + 1),
                    };
                    let before = books.payments[&payment_id].clone();
                    match books.refund(&command, step as i64) {
                        Ok(record) => assert_eq!(
                            record.status == TxStatus::Approved,
                            command.amount <= before.refundable(),
                            "{context}"
                        ),
                        Err(refusal) => assert_ne!(before.status, TxStatus::Approved, "{context}: {refusal}"),
                    }
                }
                3 if !paid.is_empty() => {
                    let payment_id = rng.pick(&paid).clone();
                    let _ = books.reverse(&payment_id, step as i64);
                }
                _ => {
                    let command = QuotaChangeCommand {
                        change_id: id(&format!("chg-{step}")),
                        relationship_id: rel.clone(),
                        quota: fen(rng.below(80_000) as i64 + 1),
                    };
                    let state = QuotaChangeState {
                        recorded: None,
                        relationship: books.relationships.get(&rel).cloned(),
                        available: books.balance(&Book::Available(donor.id.clone())),
                    };
                    let used = books.relationships[&rel].used;
                    let (record, _) = books.apply(decide_quota_change(state, &command, books.here(), step as i64).unwrap());
                    if command.quota < used {
                        assert!(record.decline.is_some(), "{context}: a quota below what was used");
                    }
                }
            }
            books.check_quota_books(&context);
            for payment in books.payments.values() {
                assert!(payment.refunded <= payment.command.amount, "{context}");
                let payee = books.balance(&Book::Payee(payment.command.payee.clone()));
                assert!(!payee.is_negative(), "{context}");
            }
        }
        // The end: the donor has everything back but what institutions kept.
        let kept = books.balance(&Book::Payee(hospital(SHIJIAZHUANG)));
        books.apply(decide_dissolve(books.held(&rel), &rel, EndReason::DonorRequest, books.here(), 1_000).unwrap());
        assert_eq!(
            books.balance(&Book::Available(donor.id.clone())).checked_add(kept).unwrap(),
            fen(200_000),
            "seed {seed}"
        );
    }
}

/// Two nodes joined by a hub that may deliver a message late or never
/// (until the end, when everything is retried, as the recovery passes do).
struct Network {
    acquirer: Books,
    issuer: Books,
    /// Payments routed to the issuer whose answer has not reached the acquirer.
    answers: Vec<(Id, HubAnswer)>,
}

impl Network {
    /// The hub routes a pending payment to the donor's node; its answer may
    /// be held back.
    fn route_payment(&mut self, payment_id: &Id, now: i64) {
        let route = self.acquirer.payments[payment_id].route.clone().unwrap();
        let state = DebitState {
            here: self.issuer.here(),
            recorded: self.issuer.debits.get(payment_id).cloned(),
            relationship: self.issuer.relationships.get(&route.relationship_id).cloned(),
            donor: self.issuer.persons.get(&route.donor_id).cloned(),
        };
        let debit = self.issuer.apply(decide_debit(state, &route, period(), now).unwrap());
        let answer = match debit.status {
            TxStatus::Approved => HubAnswer::Approved(period()),
            _ => HubAnswer::Declined(
                Some(period()),
                debit.decline.unwrap_or_else(|| Decline::new(DeclineReason::Reversed, "reversed")),
            ),
        };
        self.answers.push((payment_id.clone(), answer));
    }

    fn deliver_answer(&mut self, index: usize, now: i64) {
        let (payment_id, answer) = self.answers.remove(index);
        let route = self.acquirer.payments[&payment_id].route.clone().unwrap();
        let state = AnswerState {
            payment: self.acquirer.payments.get(&payment_id).cloned(),
            relationship: self.acquirer.relationships.get(&route.relationship_id).cloned(),
            region: payee_region(&route.payee, None, self.acquirer.here()),
        };
        self.acquirer
            .apply(decide_payment_answer(state, &payment_id, &answer, now).unwrap());
    }

    /// The donor's side of a reversal, and its answer back.
    fn settle_reversal(&mut self, payment_id: &Id, now: i64) {
        let route = self.acquirer.payments[payment_id].route.clone().unwrap();
        let state = DebitReversalState {
            here: self.issuer.here(),
            debit: self.issuer.debits.get(payment_id).cloned(),
            recipient: self.issuer.recipient(&route.relationship_id, &route.donor_id),
        };
        let outcome: ReversalOutcome = self.issuer.apply(decide_debit_reversal(state, &route, period(), now).unwrap());
        let state = ReversalAnswerState {
            payment: self.acquirer.payments.get(payment_id).cloned(),
            relationship: self.acquirer.relationships.get(&route.relationship_id).cloned(),
            region: payee_region(&route.payee, None, self.acquirer.here()),
        };
        self.acquirer
            .apply(decide_reversal_answer(state, payment_id, &outcome, now).unwrap());
    }
}

#[test]
fn across_provinces_a_reversal_wins_over_a_late_approval_and_the_books_mirror() {
    for seed in 1..=30u64 {
        let mut rng = Rng::new(seed);
        let donor = person("donor", SHIJIAZHUANG, InsuranceType::Employee);
        let kin = person("kin", ZHENGZHOU, InsuranceType::Resident);
        let mut network = Network {
            acquirer: Books::new("41"),
            issuer: Books::new("13"),
            answers: Vec::new(),
        };
        network.issuer.persons.insert(donor.id.clone(), donor.clone());
        network.acquirer.persons.insert(kin.id.clone(), kin.clone());
        network.issuer.credit(&donor, fen(100_000));
        let the_grant = grant(&donor, &kin, fen(40_000));
        let pending = network.issuer.establish(&the_grant);
        assert_eq!(pending.status, RelationshipStatus::Pending);
        let answer = network
            .acquirer
            .apply(decide_grant_received(None, Some(&kin), &the_grant, province("41"), 0).unwrap());
        let held = network.issuer.held(&the_grant.relationship_id);
        network
            .issuer
            .apply(decide_grant_answer(held, &the_grant.relationship_id, &answer, 0).unwrap());
        let mut reversed = BTreeSet::new();
        for step in 0..200u64 {
            let now = step as i64;
            match rng.below(4) {
                0 | 1 => {
                    let command = pay_command(step, &kin, fen(rng.below(9_000) as i64 + 1));
                    let Ok(Paid::Recorded(payment)) = network.acquirer.pay(&command, now) else {
                        panic!("seed {seed} step {step}")
                    };
                    if payment.is_pending() && rng.chance(80) {
                        network.route_payment(&command.payment_id, now);
                    }
                }
                2 if !network.answers.is_empty() => {
                    let index = rng.below(network.answers.len() as u64) as usize;
                    network.deliver_answer(index, now);
                }
                _ => {
                    // The institution gives up on a payment (any of them).
                    let count = network.acquirer.payments.len().max(1) as u64;
                    if let Some(payment_id) = network.acquirer.payments.keys().nth(rng.below(count) as usize).cloned() {
                        if let Ok(Reversed::Payment(p)) = network.acquirer.reverse(&payment_id, now) {
                            if p.status == TxStatus::Reversed {
                                reversed.insert(payment_id.clone());
                                if rng.chance(50) {
                                    network.settle_reversal(&payment_id, now);
                                }
                            }
                        }
                    }
                }
            }
            network.issuer.check_quota_books(&format!("seed {seed} step {step}"));
            assert_eq!(network.acquirer.trial_balance(), Money::ZERO);
        }
        // Quiescence: every pending payment is routed, every answer and
        // every reversal delivered (twice, as retries do: nothing changes).
        let waiting: Vec<Id> = network
            .acquirer
            .payments
            .values()
            .filter(|p| p.is_pending())
            .map(|p| p.command.payment_id.clone())
            .collect();
        for payment_id in waiting {
            network.route_payment(&payment_id, 1_000);
        }
        while !network.answers.is_empty() {
            network.deliver_answer(0, 1_001);
        }
        for payment_id in &reversed {
            network.settle_reversal(payment_id, 1_002);
            network.settle_reversal(payment_id, 1_003);
        }
        for payment_id in &reversed {
            let payment = &network.acquirer.payments[payment_id];
            assert_eq!(payment.status, TxStatus::Reversed, "seed {seed}: a reversed payment stays reversed");
            assert!(payment.reversal.unwrap().settled, "seed {seed}");
            if let Some(debit) = network.issuer.debits.get(payment_id) {
                assert_eq!(
                    debit.status,
                    TxStatus::Reversed,
                    "seed {seed}: the donor's side reversed {payment_id} too"
                );
            }
        }
        // The two nodes' books of each other mirror, and the donor's quota
        // paid exactly what the institutions hold.
        let owed_by_issuer = network.issuer.balance(&Book::Province(province("41"), period()));
        let owed_to_acquirer = network.acquirer.balance(&Book::Province(province("13"), period()));
        assert_eq!(owed_by_issuer.checked_add(owed_to_acquirer).unwrap(), Money::ZERO, "seed {seed}");
        assert_eq!(
            network.acquirer.balance(&Book::Payee(hospital(ZHENGZHOU))),
            owed_by_issuer,
            "seed {seed}"
        );
        let grant_record = &network.acquirer.relationships[&the_grant.relationship_id];
        let owned = &network.issuer.relationships[&the_grant.relationship_id];
        assert_eq!(
            grant_record.used, owned.used,
            "seed {seed}: the grant record mirrors the quota's use"
        );
        assert_eq!(owned.used, owed_by_issuer, "seed {seed}");
        network.issuer.check_quota_books(&format!("seed {seed} at the end"));
    }
}
