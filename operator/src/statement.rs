//! `gongji statement PERSON --month YYYY-MM` (or `--from DAY --to DAY`): a
//! person's statement (对账单) at their province's node.

use std::io;

use gongji_proto::v1 as pb;

use crate::{
    args::StatementArgs,
    error::{CliError, EXIT_OK},
    output::{cst_time, Fields, Out, Table},
    session::Session,
};

pub async fn statement(session: &Session, args: StatementArgs, out: &mut Out<'_>) -> Result<u8, CliError> {
    let mut node = session.node(&args.node).await?;
    let statement = node
        .get_person_statement(pb::GetPersonStatementRequest {
            person_id: args.person.to_string(),
            month: args.month.map(|m| m.to_string()).unwrap_or_default(),
            from: args.from.unwrap_or_default(),
            to: args.to.unwrap_or_default(),
        })
        .await
        .map_err(CliError::call)?
        .into_inner();
    print(out, &statement)?;
    Ok(EXIT_OK)
}

/// The statement's range, then its accounts with their balances, then its
/// movements: three kinds of records (`statement`, `account`, `movement`).
pub fn print(out: &mut Out, s: &pb::PersonStatement) -> io::Result<()> {
    let seconds = |t: &Option<prost_types::Timestamp>| cst_time(t.as_ref().map(|t| t.seconds));
    Fields::new()
        .record("statement")
        .add("statement of", &s.person_id)
        .add("from", seconds(&s.from))
        .add("until", seconds(&s.until))
        .write(out)?;
    let mut accounts = Table::new(&["role", "account", "relationship", "opening", "closing"])
        .record("account")
        .right_aligned([3, 4]);
    for a in &s.accounts {
        accounts.row(vec![
            a.role.clone(),
            a.account.clone(),
            a.relationship_id.clone(),
            a.opening.clone(),
            a.closing.clone(),
        ]);
    }
    accounts.write(out)?;
    let mut movements = Table::new(&[
        "seq",
        "at",
        "role",
        "account",
        "reference",
        "memo",
        "amount",
        "balance",
        "counterpart",
    ])
    .record("movement")
    .right_aligned([0, 6, 7]);
    for m in &s.movements {
        movements.row(vec![
            m.seq.to_string(),
            seconds(&m.at),
            m.role.clone(),
            m.account.clone(),
            m.reference.clone(),
            m.memo.clone(),
            m.amount.clone(),
            m.balance.clone(),
            m.counterpart.clone(),
        ]);
    }
    if movements.is_empty() {
        use std::io::Write;
        writeln!(out, "no movements in this range")?;
    }
    movements.write(out)
}
