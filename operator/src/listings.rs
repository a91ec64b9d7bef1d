//! `gongji show payments|refunds|transfers`: a page of a node's payments,
//! refunds or insurance transfers, as a table, and the cursor of the next
//! page (and that cursor line for `show transactions`).

use std::io::Write;

use gongji_proto::v1 as pb;

use crate::{
    args::{PaymentsArgs, RefundsArgs, TransfersArgs},
    error::{CliError, EXIT_OK},
    output::{self, Out, Table},
    session::Session,
};

pub async fn show_payments(session: &Session, args: PaymentsArgs, out: &mut Out<'_>) -> Result<u8, CliError> {
    let mut node = session.node(&args.node).await?;
    let page = node
        .list_payments(pb::ListPaymentsRequest {
            person_id: args.person.map(|id| id.to_string()).unwrap_or_default(),
            institution_id: args.institution.unwrap_or_default(),
            relationship_id: args.relationship.map(|id| id.to_string()).unwrap_or_default(),
            month: args.month.map(|m| m.to_string()).unwrap_or_default(),
            status: args.status.unwrap_or_default(),
            limit: args.page.limit,
            cursor: args.page.cursor.unwrap_or_default(),
        })
        .await
        .map_err(CliError::call)?
        .into_inner();
    let mut table = payments_table();
    for payment in &page.payments {
        payment_row(&mut table, payment);
    }
    write_page(out, "no payments", &table, &page.next_cursor)
}

pub async fn show_refunds(session: &Session, args: RefundsArgs, out: &mut Out<'_>) -> Result<u8, CliError> {
    let mut node = session.node(&args.node).await?;
    let page = node
        .list_refunds(pb::ListRefundsRequest {
            person_id: args.person.map(|id| id.to_string()).unwrap_or_default(),
            institution_id: args.institution.unwrap_or_default(),
            relationship_id: args.relationship.map(|id| id.to_string()).unwrap_or_default(),
            month: args.month.map(|m| m.to_string()).unwrap_or_default(),
            status: args.status.unwrap_or_default(),
            limit: args.page.limit,
            cursor: args.page.cursor.unwrap_or_default(),
        })
        .await
        .map_err(CliError::call)?
        .into_inner();
    let mut table = Table::new(&[
        "refund",
        "status",
        "payment",
        "amount",
        "relationship",
        "donor province",
        "beneficiary province",
        "created at",
    ])
    .right_aligned([3]);
    for r in &page.refunds {
        table.row(vec![
            r.refund_id.clone(),
            output::tx_status_word(r.status),
            r.payment_id.clone(),
            r.amount.clone(),
            r.relationship_id.clone(),
            r.donor_province.clone(),
            r.beneficiary_province.clone(),
            output::cst_time(r.created_at.as_ref().map(|t| t.seconds)),
        ]);
    }
    write_page(out, "no refunds", &table, &page.next_cursor)
}

pub async fn show_transfers(session: &Session, args: TransfersArgs, out: &mut Out<'_>) -> Result<u8, CliError> {
    let mut node = session.node(&args.node).await?;
    let page = node
        .list_transfers(pb::ListTransfersRequest {
            person_id: args.person.map(|id| id.to_string()).unwrap_or_default(),
            month: args.month.map(|m| m.to_string()).unwrap_or_default(),
            status: args.status.unwrap_or_default(),
            limit: args.page.limit,
            cursor: args.page.cursor.unwrap_or_default(),
        })
        .await
        .map_err(CliError::call)?
        .into_inner();
    let mut table = Table::new(&["transfer", "status", "person", "from", "to region", "amount", "created at"]).right_aligned([5]);
    for t in &page.transfers {
        table.row(vec![
            t.transfer_id.clone(),
            output::tx_status_word(t.status),
            t.person_id.clone(),
            t.from_province.clone(),
            t.to_region.clone(),
            t.amount.clone(),
            output::cst_time(t.created_at.as_ref().map(|t| t.seconds)),
        ]);
    }
    write_page(out, "no transfers", &table, &page.next_cursor)
}

/// A page of a listing: its table (`empty` if it has no rows), then the
/// next page's cursor, if any.
fn write_page(out: &mut Out<'_>, empty: &str, table: &Table, next_cursor: &str) -> Result<u8, CliError> {
    if table.is_empty() {
        writeln!(out, "{empty}")?;
    } else {
        table.write(out)?;
    }
    if !next_cursor.is_empty() {
        next_page(out, next_cursor)?;
    }
    Ok(EXIT_OK)
}

/// Where the next page of a listing starts: a line of text, or a last JSON
/// record `{"record":"next_page","cursor":…}` (CSV prints the rows only).
pub fn next_page(out: &mut Out<'_>, cursor: &str) -> std::io::Result<()> {
    writeln!(out, "next page: --cursor {cursor}")?;
    out.json(&serde_json::json!({ "record": "next_page", "cursor": cursor }))
}

fn payments_table() -> Table {
    Table::new(&[
        "payment",
        "status",
        "beneficiary",
        "institution",
        "amount",
        "relationship",
        "donor",
        "created at",
    ])
    .right_aligned([4])
}

fn payment_row(table: &mut Table, p: &pb::Payment) {
    table.row(vec![
        p.payment_id.clone(),
        output::tx_status_word(p.status),
        p.beneficiary_id.clone(),
        p.institution_id.clone(),
        p.amount.clone(),
        p.relationship_id.clone(),
        p.donor_id.clone(),
        output::cst_time(p.created_at.as_ref().map(|t| t.seconds)),
    ]);
}
