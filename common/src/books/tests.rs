//! The books' own rules, on a real store: an entry balances, an account
//! that holds money never goes below zero, and a refused entry moves nothing.

use super::*;
use crate::store::{Store, StoreError};

const APP: &[&str] = &["things"];

#[tokio::test]
async fn the_journal_refuses_unbalanced_entries_and_negative_holdings() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), APP).unwrap();
    let alice = Account::new(AccountKind::Available, "alice");
    let income = Account::new(AccountKind::Contributions, "");
    let credit = JournalEntry::transfer("c1", "contribution", &income, &alice, Money::from_fen(1000));
    store.transact(|tx| tx.post(&credit)).durable().await.unwrap();
    assert_eq!(store.balance(&alice).unwrap(), Money::from_fen(1000));

    let mut unbalanced = credit.clone();
    unbalanced.postings[0].amount = Money::from_fen(-1);
    assert!(matches!(
        store.transact(|tx| tx.post(&unbalanced)).durable().await,
        Err(StoreError::Invariant(_))
    ));

    let overdraw = JournalEntry::transfer("c2", "overdraw", &alice, &income, Money::from_fen(1001));
    assert!(matches!(
        store.transact(|tx| tx.post(&overdraw)).durable().await,
        Err(StoreError::Invariant(_))
    ));
    store.durable().await.unwrap();
    assert_eq!(store.balance(&alice).unwrap(), Money::from_fen(1000));
    assert_eq!(store.trial_balance().unwrap(), Money::ZERO);
    assert_eq!(store.journal().count(), 1);
}
