//! `gongji show payments`: a page of a node's payments, as a table, and
//! the cursor of the next page (and that cursor line for `show transactions`).

use std::io::Write;

use gongji_proto::v1 as pb;

use crate::{
    args::PaymentsArgs,
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
            limit: args.limit,
            cursor: args.cursor.unwrap_or_default(),
        })
        .await
        .map_err(CliError::call)?
        .into_inner();
    if page.payments.is_empty() {
        writeln!(out, "no payments")?;
    } else {
        let mut table = payments_table();
        for payment in &page.payments {
            payment_row(&mut table, payment);
        }
        table.write(out)?;
    }
    if !page.next_cursor.is_empty() {
        next_page(out, &page.next_cursor)?;
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
