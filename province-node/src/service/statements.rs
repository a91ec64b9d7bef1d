//! A person's statement (对账单), read through the journal's index by
//! account: the cost is the person's movements, not the journal's size.
//!
//! The index (`journal_by_account`) is written in the same transaction as
//! each entry ([`index_entry`]); a store written before it existed is indexed
//! once at start ([`index_journal`]).

use gongji_common::{
    books::{Account, AccountKind, JournalEntry, JOURNAL},
    store::{key_prefix, last_key_part, Store, StoreError, Tx},
    FieldError, Id,
};

use super::Node;
use crate::{
    domain::{self, AccountHistory, Range, Role, Statement},
    error::{NodeError, NodeResult},
    store::{self, JOURNAL_BY_ACCOUNT, JOURNAL_INDEX_BUILT, PERSONS, RELATIONSHIPS, RELS_BY_BENEFICIARY, RELS_BY_DONOR, WALLETS},
};

/// Entries indexed per transaction when a store is indexed at start.
const INDEX_BATCH: usize = 10_000;

/// Whether the index keeps an account's entries: a person's available
/// balance or wallet, a relationship's quota.
fn indexed(kind: AccountKind) -> bool {
    matches!(kind, AccountKind::Available | AccountKind::Quota)
}

/// Lists entry `seq` under each of the person's accounts it moves.
pub(super) fn index_entry(tx: &Tx, entry: &JournalEntry, seq: u64) -> Result<(), StoreError> {
    for posting in entry.postings.iter().filter(|p| indexed(p.account.kind)) {
        tx.put(JOURNAL_BY_ACCOUNT, &store::journal_by_account_key(&posting.account, seq), &())?;
    }
    Ok(())
}

/// Indexes the journal of a store written before the index existed (once:
/// a marker says it is done), in batches; repeating a batch after a crash
/// writes the same keys. Answers, once it is on disk, how many entries it
/// indexed.
pub async fn index_journal(store: &Store) -> Result<usize, StoreError> {
    index_journal_in_batches(store, INDEX_BATCH).await
}

/// [`index_journal`], reading and indexing `batch` entries at a time: the
/// journal is never held in memory whole, and no scan stays open across a
/// write.
async fn index_journal_in_batches(store: &Store, batch: usize) -> Result<usize, StoreError> {
    if store.get(JOURNAL_BY_ACCOUNT, JOURNAL_INDEX_BUILT)?.is_some() {
        return Ok(0);
    }
    let mut indexed = 0;
    let mut start = Vec::new();
    loop {
        let mut entries = Vec::with_capacity(batch);
        for item in store.scan_from(JOURNAL, b"", &start).take(batch) {
            let (key, entry) = item?;
            entries.push((journal_seq(&key)?, entry));
            start = key;
        }
        if entries.is_empty() {
            break;
        }
        start.push(0);
        indexed += entries.len();
        store
            .transact(|tx| {
                for (seq, entry) in &entries {
                    index_entry(tx, entry, *seq)?;
                }
                Ok::<_, StoreError>(())
            })
            .durable()
            .await?;
    }
    store
        .transact(|tx| tx.put(JOURNAL_BY_ACCOUNT, JOURNAL_INDEX_BUILT, &()))
        .unconfirmed()?;
    Ok(indexed)
}

/// The sequence number of a journal key (u64, big-endian).
fn journal_seq(key: &[u8]) -> Result<u64, StoreError> {
    let bytes: [u8; 8] = key
        .try_into()
        .map_err(|_| StoreError::Invariant(format!("journal key of {} bytes", key.len())))?;
    Ok(u64::from_be_bytes(bytes))
}

impl Node {
    /// The statement of a person insured here over `range`: their personal
    /// account, their wallet, the quotas they give and the quotas they
    /// receive that are held here.
    pub fn person_statement(&self, person_id: &Id, range: Range) -> NodeResult<Statement> {
        if self.store.get(PERSONS, person_id)?.is_none() {
            return Err(NodeError::not_found("person", person_id));
        }
        let mut accounts = vec![(Role::Personal, store::available(person_id), None)];
        if self.store.get(WALLETS, person_id)?.is_some() {
            accounts.push((Role::Wallet, store::wallet(person_id), None));
        }
        let prefix = key_prefix(&[person_id.as_bytes()]);
        for (role, list) in [(Role::QuotaGiven, RELS_BY_DONOR), (Role::QuotaReceived, RELS_BY_BENEFICIARY)] {
            for key in self.store.scan_keys(list, &prefix) {
                let id = Id::parse("relationship", &String::from_utf8_lossy(last_key_part(&key?)))?;
                // A quota is in the books of the donor's node only.
                let held_here = self.store.get(RELATIONSHIPS, &id)?.is_some_and(|r| r.owned_by(self.province));
                if held_here {
                    accounts.push((role, store::quota(&id), Some(id)));
                }
            }
        }
        self.statement_of(person_id, range, accounts)
    }

    /// The statement of one quota held here (its donor is insured here),
    /// for its donor or its beneficiary, who may be insured in another
    /// province (whose node holds no quota).
    pub fn quota_statement(&self, person_id: &Id, relationship_id: &Id, range: Range) -> NodeResult<Statement> {
        let relationship = self
            .store
            .get(RELATIONSHIPS, relationship_id)?
            .filter(|r| r.owned_by(self.province))
            .ok_or_else(|| NodeError::not_found("quota of relationship", relationship_id))?;
        let role = if relationship.grant.donor_id == *person_id {
            Role::QuotaGiven
        } else if relationship.grant.beneficiary_id == *person_id {
            Role::QuotaReceived
        } else {
            return Err(NodeError::from(FieldError::new(
                "relationship_id",
                format!("{relationship_id} is a relationship of neither donor nor beneficiary {person_id}"),
            )));
        };
        let account = (role, store::quota(relationship_id), Some(relationship_id.clone()));
        self.statement_of(person_id, range, vec![account])
    }

    /// The statement of `accounts` (role, account, relationship of a quota),
    /// read through the journal's index by account.
    fn statement_of(&self, person_id: &Id, range: Range, accounts: Vec<(Role, Account, Option<Id>)>) -> NodeResult<Statement> {
        let mut histories = Vec::with_capacity(accounts.len());
        for (role, account, relationship) in accounts {
            let prefix = key_prefix(&[account.key().as_bytes()]);
            let mut entries = Vec::new();
            for key in self.store.scan_keys(JOURNAL_BY_ACCOUNT, &prefix) {
                let key = key?;
                let seq = journal_seq(&key[prefix.len()..])?;
                let entry = self
                    .store
                    .get(JOURNAL, &seq.to_be_bytes())?
                    .ok_or_else(|| StoreError::Invariant(format!("journal entry {seq} of {account} is missing")))?;
                entries.push((seq, entry));
            }
            histories.push(AccountHistory {
                role,
                account,
                relationship,
                entries,
            });
        }
        Ok(domain::statement(person_id.clone(), range, histories)?)
    }
}

#[cfg(test)]
mod tests {
    use gongji_common::{
        books::{Account, AccountKind, Post},
        money::Money,
    };

    use super::*;

    fn keys_of(store: &Store, account: &Account) -> Vec<Vec<u8>> {
        let prefix = key_prefix(&[account.key().as_bytes()]);
        store.scan_keys(JOURNAL_BY_ACCOUNT, &prefix).map(|k| k.expect("key")).collect()
    }

    #[tokio::test]
    async fn a_journal_written_before_the_index_is_indexed_once_at_start() {
        let dir = std::env::temp_dir().join(format!("gongji-index-{}-{:?}", std::process::id(), std::thread::current().id()));
        let store = Store::open(&dir, store::TREES).expect("open a store");
        let alice = store::available(&Id::parse("person", "alice").expect("id"));
        let rel = store::quota(&Id::parse("relationship", "rel-1").expect("id"));
        let amount = Money::parse_positive("amount", "10.00").expect("money");
        // Entries posted as an older binary did: without the index.
        for (from, to) in [
            (Account::new(AccountKind::Contributions, ""), alice.clone()),
            (alice.clone(), rel.clone()),
        ] {
            store
                .transact(|tx| tx.post(&JournalEntry::transfer("ref", "test", &from, &to, amount)).map(drop))
                .durable()
                .await
                .expect("post");
        }
        assert!(keys_of(&store, &alice).is_empty());

        // In batches of one: each batch read, then written.
        assert_eq!(index_journal_in_batches(&store, 1).await.expect("index"), 2);
        // As the next start finds it.
        assert!(store.release(std::time::Duration::from_secs(10)).await);
        let store = Store::open(&dir, store::TREES).expect("open the store again");
        assert_eq!(keys_of(&store, &alice).len(), 2, "both entries moved alice");
        assert_eq!(keys_of(&store, &rel).len(), 1);
        assert_eq!(
            index_journal(&store).await.expect("index again"),
            0,
            "once: the marker says it is done"
        );
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
