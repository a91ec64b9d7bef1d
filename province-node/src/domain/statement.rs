//! A person's statement (对账单): the movements of every account of theirs
//! over a range of CST days, with each account's balance at the start and at
//! the end. A pure fold over the journal entries that touched those accounts
//! (the service loads them through the journal's index by account), so the
//! balances are the journal's own: opening is the sum of the account's
//! postings before the range, closing is opening plus the movements in it.

use gongji_common::{
    books::{Account, JournalEntry},
    money::Overflow,
    FieldError, Id, Money, Period,
};

/// What an account of a statement is to the person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Their personal account's available balance.
    Personal,
    /// Their medical-insurance wallet (医保钱包).
    Wallet,
    /// The frozen quota of a relationship in which they are the donor.
    QuotaGiven,
    /// The frozen quota of a relationship in which they are the
    /// beneficiary (held at this node when the donor is insured here).
    QuotaReceived,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Personal => "personal",
            Role::Wallet => "wallet",
            Role::QuotaGiven => "quota_given",
            Role::QuotaReceived => "quota_received",
        }
    }
}

/// A range of CST days, `from` to `until` (exclusive), in Unix milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub from: i64,
    pub until: i64,
}

impl Range {
    /// The range of a month, `YYYY-MM`, or of two CST days `YYYY-MM-DD`
    /// (both included): exactly one of the two ways.
    pub fn parse(month: &str, from: &str, to: &str) -> Result<Range, FieldError> {
        match (month.is_empty(), from.is_empty(), to.is_empty()) {
            (false, true, true) => {
                let period = Period::parse("month", month)?;
                Ok(Range {
                    from: period.first_millis(),
                    until: period.next().first_millis(),
                })
            }
            (true, false, false) => {
                let first = gongji_common::period::parse_cst_day("from", from)?;
                let last = gongji_common::period::parse_cst_day("to", to)?;
                if last < first {
                    return Err(FieldError::new("to", format!("{to} is before from ({from})")));
                }
                Ok(Range {
                    from: gongji_common::period::cst_day_hour_millis(first, 0),
                    until: gongji_common::period::cst_day_hour_millis(last + 1, 0),
                })
            }
            (false, _, _) => Err(FieldError::new("month", "give a month or from and to, not both")),
            (true, true, _) => Err(FieldError::new("from", "a month or from and to is required")),
            (true, false, true) => Err(FieldError::new("to", "from needs to (the last day included)")),
        }
    }
}

/// One account of the person with the entries that touched it, in the
/// order they were posted (journal sequence, entry).
pub struct AccountHistory {
    pub role: Role,
    pub account: Account,
    /// The relationship of a quota account.
    pub relationship: Option<Id>,
    pub entries: Vec<(u64, JournalEntry)>,
}

/// One movement of one of the person's accounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Movement {
    pub seq: u64,
    pub at: i64,
    pub role: Role,
    pub account: String,
    pub reference: String,
    pub memo: String,
    /// Signed: positive into the account, negative out of it.
    pub amount: Money,
    /// The account's balance after the movement.
    pub balance: Money,
    /// The other accounts of the entry.
    pub counterpart: String,
}

/// Opening and closing balances of one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Balances {
    pub role: Role,
    pub account: String,
    pub relationship: Option<Id>,
    pub opening: Money,
    pub closing: Money,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub person_id: Id,
    pub range: Range,
    pub accounts: Vec<Balances>,
    /// Every movement in the range, in the order it was posted.
    pub movements: Vec<Movement>,
}

/// The statement of `person` over `range` from the histories of their
/// accounts.
pub fn statement(person_id: Id, range: Range, histories: Vec<AccountHistory>) -> Result<Statement, Overflow> {
    let mut accounts = Vec::with_capacity(histories.len());
    let mut movements = Vec::new();
    for history in histories {
        let key = history.account.key();
        let mut balance = Money::ZERO;
        let mut opening = Money::ZERO;
        for (seq, entry) in &history.entries {
            if entry.at >= range.until {
                break;
            }
            let amount = net_on(entry, &history.account)?;
            balance = balance.checked_add(amount)?;
            if entry.at < range.from {
                opening = balance;
                continue;
            }
            movements.push(Movement {
                seq: *seq,
                at: entry.at,
                role: history.role,
                account: key.clone(),
                reference: entry.reference.clone(),
                memo: entry.memo.clone(),
                amount,
                balance,
                counterpart: counterparts(entry, &history.account),
            });
        }
        accounts.push(Balances {
            role: history.role,
            account: key,
            relationship: history.relationship,
            opening,
            closing: balance,
        });
    }
    movements.sort_by_key(|m| (m.seq, m.account.clone()));
    Ok(Statement {
        person_id,
        range,
        accounts,
        movements,
    })
}

/// What an entry moved on `account` (the sum of its postings there).
fn net_on(entry: &JournalEntry, account: &Account) -> Result<Money, Overflow> {
    let mut sum = Money::ZERO;
    for posting in entry.postings.iter().filter(|p| &p.account == account) {
        sum = sum.checked_add(posting.amount)?;
    }
    Ok(sum)
}

fn counterparts(entry: &JournalEntry, account: &Account) -> String {
    let others: Vec<String> = entry
        .postings
        .iter()
        .filter(|p| &p.account != account)
        .map(|p| p.account.key())
        .collect();
    others.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use gongji_common::books::{AccountKind, Posting};

    fn entry(at: i64, account: &Account, amount: &str) -> JournalEntry {
        let amount = money(amount);
        JournalEntry {
            reference: format!("ref-{at}"),
            memo: "test".into(),
            at,
            postings: vec![
                Posting {
                    account: account.clone(),
                    amount,
                },
                Posting {
                    account: Account::new(AccountKind::Contributions, ""),
                    amount: amount.negated(),
                },
            ],
        }
    }

    fn money(text: &str) -> Money {
        match text.strip_prefix('-') {
            Some(positive) => Money::parse_unsigned("amount", positive).expect("money").negated(),
            None => Money::parse_unsigned("amount", text).expect("money"),
        }
    }

    #[test]
    fn opening_plus_movements_is_closing_and_later_entries_are_left_out() {
        let alice = Account::new(AccountKind::Available, "alice");
        let history = AccountHistory {
            role: Role::Personal,
            account: alice.clone(),
            relationship: None,
            entries: vec![
                (1, entry(5, &alice, "100.00")),
                (2, entry(10, &alice, "-30.00")),
                (3, entry(15, &alice, "5.50")),
                (4, entry(20, &alice, "1.00")),
            ],
        };
        let person = Id::parse("person", "alice").expect("id");
        let s = statement(person, Range { from: 10, until: 20 }, vec![history]).expect("statement");
        assert_eq!(s.accounts[0].opening, money("100.00"));
        assert_eq!(s.accounts[0].closing, money("75.50"));
        assert_eq!(s.movements.len(), 2);
        assert_eq!(s.movements[1].balance, s.accounts[0].closing);
        assert_eq!(s.movements[0].counterpart, "contributions/");
    }

    #[test]
    fn a_statement_takes_a_month_or_two_days_and_names_the_field_otherwise() {
        let month = Range::parse("2026-11", "", "").expect("month");
        let days = Range::parse("", "2026-11-01", "2026-11-30").expect("days");
        assert_eq!(month, days);
        assert_eq!(Range::parse("2026-11", "2026-11-01", "").unwrap_err().field, "month");
        assert_eq!(Range::parse("", "", "").unwrap_err().field, "from");
        assert_eq!(Range::parse("", "2026-11-01", "").unwrap_err().field, "to");
        assert_eq!(Range::parse("", "2026-11-02", "2026-11-01").unwrap_err().field, "to");
        assert_eq!(Range::parse("", "2026-13-01", "2026-11-01").unwrap_err().field, "from");
    }
}
