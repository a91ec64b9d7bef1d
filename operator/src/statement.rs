//! `gongji statement PERSON --month YYYY-MM` (or `--from DAY --to DAY`): a
//! person's statement (对账单) at their province's node, with the quotas
//! they receive from donors of other provinces, whose books hold them (each
//! asked at the donor's node, found in the network's address file).

use std::io;

use gongji_common::ProvinceCode;
use gongji_proto::v1 as pb;

use crate::{
    args::{NodeArg, StatementArgs},
    error::{CliError, EXIT_OK},
    output::{cst_time, Fields, Out, Table},
    session::Session,
};

pub async fn statement(session: &Session, args: StatementArgs, out: &mut Out<'_>) -> Result<u8, CliError> {
    let mut node = session.node(&args.node).await?;
    let request = pb::GetPersonStatementRequest {
        person_id: args.person.to_string(),
        month: args.month.map(|m| m.to_string()).unwrap_or_default(),
        from: args.from.unwrap_or_default(),
        to: args.to.unwrap_or_default(),
        relationship_id: String::new(),
    };
    let mut statement = node
        .get_person_statement(request.clone())
        .await
        .map_err(CliError::call)?
        .into_inner();
    let relationships = node
        .list_relationships(pb::ListRelationshipsRequest {
            person_id: request.person_id.clone(),
        })
        .await
        .map_err(CliError::call)?
        .into_inner();
    for received in relationships.as_beneficiary.iter().filter(|r| !r.owned_here) {
        let province = ProvinceCode::parse("donor_province", &received.donor_province).map_err(|e| CliError::Other(e.to_string()))?;
        let at_donor = NodeArg {
            node: None,
            province: Some(province),
        };
        let quota = session
            .node(&at_donor)
            .await?
            .get_person_statement(pb::GetPersonStatementRequest {
                relationship_id: received.relationship_id.clone(),
                ..request.clone()
            })
            .await
            .map_err(CliError::call)?
            .into_inner();
        merge(&mut statement, quota);
    }
    print(out, &statement)?;
    Ok(EXIT_OK)
}

/// Adds a quota's statement from the donor's node to the person's: its
/// account, and its movements in time order among the others (their `seq`
/// is the donor's node's).
fn merge(statement: &mut pb::PersonStatement, quota: pb::PersonStatement) {
    statement.accounts.extend(quota.accounts);
    statement.movements.extend(quota.movements);
    let at = |m: &pb::StatementMovement| m.at.as_ref().map(|t| (t.seconds, t.nanos));
    statement.movements.sort_by_key(at);
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
