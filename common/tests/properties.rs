//! Property tests: the journal under random operation sequences, and every
//! parser of input under arbitrary text. Seeded, so a failure reproduces.

use std::collections::BTreeMap;

use gongji_common::{
    books::{check_books, Account, AccountKind, JournalEntry, Ledger, Post},
    contract::{CrossPayment, CrossRefund, CrossTransfer, Grant, Notice, ReversalOutcome},
    statement::Line,
    store::{Store, StoreError},
    testing::Rng,
    Id, InstitutionCode, Money, Period, ProvinceCode, RegionCode,
};
use gongji_proto::v1 as pb;
use prost::Message;

#[tokio::test]
async fn the_journal_keeps_balances_non_negative_and_the_books_at_zero_under_random_operations() {
    for seed in 1..=5u64 {
        let mut rng = Rng::new(seed);
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &[]).unwrap();
        let persons = ["a", "b", "c"].map(|p| Account::new(AccountKind::Available, p));
        let quotas = ["r1", "r2"].map(|r| Account::new(AccountKind::Quota, r));
        let institution = Account::new(AccountKind::Institution, "H32050000001");
        let income = Account::new(AccountKind::Contributions, "");
        let mut model: BTreeMap<String, i64> = BTreeMap::new();

        for step in 0..400 {
            let fen = rng.below(50_000) as i64 + 1;
            let (from, to) = match rng.below(5) {
                0 => (income.clone(), rng.pick(&persons).clone()),
                1 => (rng.pick(&persons).clone(), rng.pick(&quotas).clone()),
                2 => (rng.pick(&quotas).clone(), institution.clone()),
                3 => (rng.pick(&quotas).clone(), rng.pick(&persons).clone()),
                _ => (institution.clone(), rng.pick(&quotas).clone()),
            };
            let entry = JournalEntry::transfer(&format!("op-{step}"), "test", &from, &to, Money::from_fen(fen));
            let result = store.transact(|tx| tx.post(&entry)).unconfirmed();
            let would_go_negative = !from.kind.may_go_negative() && model.get(&from.key()).copied().unwrap_or(0) < fen;
            match result {
                Ok(_) => {
                    assert!(!would_go_negative, "seed {seed} step {step}: {from} went negative");
                    *model.entry(from.key()).or_insert(0) -= fen;
                    *model.entry(to.key()).or_insert(0) += fen;
                }
                Err(StoreError::Invariant(_)) => assert!(would_go_negative, "seed {seed} step {step}: refused a valid entry"),
                Err(other) => panic!("seed {seed} step {step}: {other}"),
            }
        }
        store.durable().await.unwrap();
        for (account, fen) in &model {
            let kind = account.split('/').next().unwrap();
            let stored = store.balances().find(|b| b.as_ref().unwrap().0 == *account).unwrap().unwrap().1;
            assert_eq!(stored, Money::from_fen(*fen), "seed {seed}: {account}");
            assert!(*fen >= 0 || kind == "contributions", "seed {seed}: {account} is {fen}");
        }
        let books = check_books(&store.snapshot().unwrap()).unwrap();
        assert_eq!(
            (books.violations.count, books.trial_balance),
            (0, Money::ZERO),
            "seed {seed}: {:?}",
            books.violations
        );
    }
}

#[test]
fn parsers_refuse_arbitrary_text_without_panicking_and_accept_only_what_they_print() {
    let mut rng = Rng::new(42);
    for _ in 0..20_000 {
        let text = rng.text(24);
        if let Ok(money) = Money::parse_unsigned("amount", &text) {
            assert_eq!(Money::parse_unsigned("amount", &money.to_string()).unwrap(), money, "{text:?}");
            assert!(!money.is_negative());
        }
        if let Ok(money) = Money::parse_positive("amount", &text) {
            assert!(!money.is_zero() && !money.is_negative(), "{text:?}");
        }
        if let Ok(id) = Id::parse("id", &text) {
            assert!(id.as_str().len() <= 64 && !id.as_str().contains('\u{1f}'), "{text:?}");
        }
        let _ = ProvinceCode::parse("province", &text);
        let _ = RegionCode::parse("region", &text);
        let _ = InstitutionCode::parse("institution", &text);
        let _ = Period::parse("period", &text);
    }
}

#[test]
fn wire_decoders_refuse_arbitrary_bytes_without_panicking() {
    let mut rng = Rng::new(7);
    for _ in 0..20_000 {
        let bytes = rng.bytes(64);
        if let Ok(m) = pb::CrossPayment::decode(bytes.as_slice()) {
            let _ = CrossPayment::from_pb("", m);
        }
        if let Ok(m) = pb::CrossRefund::decode(bytes.as_slice()) {
            let _ = CrossRefund::from_pb("", m);
        }
        if let Ok(m) = pb::CrossTransfer::decode(bytes.as_slice()) {
            let _ = CrossTransfer::from_pb("", m);
        }
        if let Ok(m) = pb::GrantNotice::decode(bytes.as_slice()) {
            let _ = Grant::from_pb(m);
        }
        if let Ok(m) = pb::Notice::decode(bytes.as_slice()) {
            let _ = Notice::from_pb(m);
        }
        if let Ok(m) = pb::ReversalAnswer::decode(bytes.as_slice()) {
            let _ = ReversalOutcome::from_pb(m);
        }
        if let Ok(m) = pb::StatementLine::decode(bytes.as_slice()) {
            let _ = Line::from_pb(m);
        }
    }
}
