//! The everyday commands: each builds one request from its validated
//! arguments, calls a node or the hub, and prints the answer. Business
//! refusals (a declined payment) are answers, printed with their reason; only
//! gRPC errors fail the command.

use std::io::Write;

use gongji_proto::v1 as pb;

use crate::{
    args::{
        ChangeQuotaArgs, CreditArgs, DissolveArgs, EstablishArgs, HubArg, HubRecord, NodeArg, NodeRecord, PayArgs, PositionsArgs,
        RefundArgs, RegisterArgs, ReverseArgs, Show, TerminateArgs, TransactionsArgs, TransferArgs,
    },
    error::{CliError, EXIT_OK},
    output::{self, Out},
    session::Session,
};

pub async fn register(session: &Session, args: RegisterArgs, out: &mut Out<'_>) -> Result<u8, CliError> {
    let mut node = session.node(&args.node).await?;
    let person = pb::Person {
        person_id: args.id.to_string(),
        name: args.name,
        insurance_type: pb::InsuranceType::from(args.insurance) as i32,
        region_code: args.region.to_string(),
        status: pb::PersonStatus::from(args.status) as i32,
        registered_at: None,
    };
    let person = node
        .register_person(pb::RegisterPersonRequest { person: Some(person) })
        .await
        .map_err(CliError::call)?
        .into_inner();
    output::person(out, &person)?;
    Ok(EXIT_OK)
}

pub async fn credit(session: &Session, args: CreditArgs, out: &mut Out<'_>) -> Result<u8, CliError> {
    let mut node = session.node(&args.node).await?;
    let receipt = node
        .credit_contribution(pb::CreditContributionRequest {
            contribution_id: args.contribution_id.to_string(),
            person_id: args.person.to_string(),
            amount: args.amount.to_string(),
        })
        .await
        .map_err(CliError::call)?
        .into_inner();
    output::receipt(out, &receipt)?;
    Ok(EXIT_OK)
}

pub async fn establish(session: &Session, args: EstablishArgs, out: &mut Out<'_>) -> Result<u8, CliError> {
    let mut node = session.node(&args.node).await?;
    let id = args.id.to_string();
    let relationship = node
        .establish_relationship(pb::EstablishRelationshipRequest {
            relationship_id: id.clone(),
            donor_id: args.donor.to_string(),
            beneficiary_id: args.beneficiary.to_string(),
            beneficiary_province: args.beneficiary_province.to_string(),
            relation_kind: pb::RelationKind::from(args.kind) as i32,
            quota: args.quota.to_string(),
        })
        .await
        .map_err(|status| CliError::transaction_call(status, "relationship", &id))?
        .into_inner();
    output::relationship(out, &relationship)?;
    Ok(EXIT_OK)
}

pub async fn pay(session: &Session, args: PayArgs, out: &mut Out<'_>) -> Result<u8, CliError> {
    // Before connecting: a wrong pairing is the command line's fault.
    let institution_id = args.institution_id().map_err(CliError::Usage)?;
    let mut node = session.node(&args.node).await?;
    let id = args.id.to_string();
    let request = pb::PayRequest {
        payment_id: id.clone(),
        beneficiary_id: args.beneficiary.to_string(),
        institution_id,
        amount: args.amount.to_string(),
        purpose: pb::PaymentPurpose::from(args.purpose) as i32,
        relationship_id: args.relationship.map(|r| r.to_string()).unwrap_or_default(),
    };
    let answer = match args.from_wallet {
        true => node.pay_from_wallet(request).await,
        false => node.pay(request).await,
    };
    let payment = answer
        .map_err(|status| CliError::transaction_call(status, "payment", &id))?
        .into_inner();
    output::payment(out, &payment)?;
    Ok(EXIT_OK)
}

pub async fn refund(session: &Session, args: RefundArgs, out: &mut Out<'_>) -> Result<u8, CliError> {
    let mut node = session.node(&args.node).await?;
    let id = args.id.to_string();
    let refund = node
        .refund_payment(pb::RefundPaymentRequest {
            refund_id: id.clone(),
            payment_id: args.payment.to_string(),
            amount: args.amount.to_string(),
        })
        .await
        .map_err(|status| CliError::transaction_call(status, "refund", &id))?
        .into_inner();
    output::refund(out, &refund)?;
    Ok(EXIT_OK)
}

pub async fn reverse(session: &Session, args: ReverseArgs, out: &mut Out<'_>) -> Result<u8, CliError> {
    let mut node = session.node(&args.node).await?;
    let id = args.payment.to_string();
    let payment = node
        .reverse_payment(pb::ReversePaymentRequest { payment_id: id.clone() })
        .await
        .map_err(|status| CliError::reversal_call(status, &id))?
        .into_inner();
    output::payment(out, &payment)?;
    Ok(EXIT_OK)
}

pub async fn change_quota(session: &Session, args: ChangeQuotaArgs, out: &mut Out<'_>) -> Result<u8, CliError> {
    let mut node = session.node(&args.node).await?;
    let change = node
        .change_quota(pb::ChangeQuotaRequest {
            change_id: args.id.to_string(),
            relationship_id: args.relationship.to_string(),
            quota: args.quota.to_string(),
        })
        .await
        .map_err(CliError::call)?
        .into_inner();
    output::quota_change(out, &change)?;
    Ok(EXIT_OK)
}

pub async fn dissolve(session: &Session, args: DissolveArgs, out: &mut Out<'_>) -> Result<u8, CliError> {
    let mut node = session.node(&args.node).await?;
    let relationship = node
        .dissolve_relationship(pb::DissolveRelationshipRequest {
            relationship_id: args.relationship.to_string(),
            requested_by: pb::Party::from(args.by) as i32,
        })
        .await
        .map_err(CliError::call)?
        .into_inner();
    output::relationship(out, &relationship)?;
    Ok(EXIT_OK)
}

pub async fn terminate(session: &Session, args: TerminateArgs, out: &mut Out<'_>) -> Result<u8, CliError> {
    let mut node = session.node(&args.node).await?;
    let person = node
        .terminate_insurance(pb::TerminateInsuranceRequest {
            person_id: args.person.to_string(),
        })
        .await
        .map_err(CliError::call)?
        .into_inner();
    output::person(out, &person)?;
    Ok(EXIT_OK)
}

pub async fn transfer(session: &Session, args: TransferArgs, out: &mut Out<'_>) -> Result<u8, CliError> {
    let mut node = session.node(&args.node).await?;
    let id = args.id.to_string();
    let transfer = node
        .transfer_insurance(pb::TransferInsuranceRequest {
            transfer_id: id.clone(),
            person_id: args.person.to_string(),
            to_region: args.to_region.to_string(),
        })
        .await
        .map_err(|status| CliError::transaction_call(status, "transfer", &id))?
        .into_inner();
    output::transfer(out, &transfer)?;
    Ok(EXIT_OK)
}

pub async fn info(session: &Session, args: NodeArg, out: &mut Out<'_>) -> Result<u8, CliError> {
    let mut node = session.node(&args).await?;
    let info = node
        .get_node_info(pb::GetNodeInfoRequest {})
        .await
        .map_err(CliError::call)?
        .into_inner();
    output::node_info(out, &info)?;
    Ok(EXIT_OK)
}

pub async fn show(session: &Session, what: Show, out: &mut Out<'_>) -> Result<u8, CliError> {
    match what {
        Show::Person(record) => show_person(session, record, out).await,
        Show::Account(record) => show_account(session, record, out).await,
        Show::Relationships(record) => show_relationships(session, record, out).await,
        Show::Relationship(record) => show_relationship(session, record, out).await,
        Show::Payment(record) => show_payment(session, record, out).await,
        Show::Payments(args) => crate::listings::show_payments(session, args, out).await,
        Show::Refunds(args) => crate::listings::show_refunds(session, args, out).await,
        Show::Transfers(args) => crate::listings::show_transfers(session, args, out).await,
        Show::Refund(record) => show_refund(session, record, out).await,
        Show::Transfer(record) => show_transfer(session, record, out).await,
        Show::History(record) => show_history(session, record, out).await,
        Show::Transaction(record) => show_transaction(session, record, out).await,
        Show::Transactions(args) => show_transactions(session, args, out).await,
        Show::Positions(args) => show_positions(session, args, out).await,
        Show::Provinces(hub) => show_provinces(session, hub, out).await,
    }
}

async fn show_person(session: &Session, record: NodeRecord, out: &mut Out<'_>) -> Result<u8, CliError> {
    let mut node = session.node(&record.node).await?;
    let person = node
        .get_person(pb::GetPersonRequest {
            person_id: record.id.to_string(),
        })
        .await
        .map_err(CliError::call)?
        .into_inner();
    output::person(out, &person)?;
    Ok(EXIT_OK)
}

async fn show_account(session: &Session, record: NodeRecord, out: &mut Out<'_>) -> Result<u8, CliError> {
    let mut node = session.node(&record.node).await?;
    let account = node
        .get_account(pb::GetAccountRequest {
            person_id: record.id.to_string(),
        })
        .await
        .map_err(CliError::call)?
        .into_inner();
    output::account(out, &account)?;
    Ok(EXIT_OK)
}

async fn show_relationships(session: &Session, record: NodeRecord, out: &mut Out<'_>) -> Result<u8, CliError> {
    let mut node = session.node(&record.node).await?;
    let list = node
        .list_relationships(pb::ListRelationshipsRequest {
            person_id: record.id.to_string(),
        })
        .await
        .map_err(CliError::call)?
        .into_inner();
    output::relationships(out, &format!("{} as donor", record.id), &list.as_donor)?;
    writeln!(out)?;
    output::relationships(out, &format!("{} as beneficiary", record.id), &list.as_beneficiary)?;
    Ok(EXIT_OK)
}

async fn show_relationship(session: &Session, record: NodeRecord, out: &mut Out<'_>) -> Result<u8, CliError> {
    let mut node = session.node(&record.node).await?;
    let relationship = node
        .get_relationship(pb::GetRelationshipRequest {
            relationship_id: record.id.to_string(),
        })
        .await
        .map_err(CliError::call)?
        .into_inner();
    output::relationship(out, &relationship)?;
    Ok(EXIT_OK)
}

async fn show_payment(session: &Session, record: NodeRecord, out: &mut Out<'_>) -> Result<u8, CliError> {
    let mut node = session.node(&record.node).await?;
    let payment = node
        .get_payment(pb::GetPaymentRequest {
            payment_id: record.id.to_string(),
        })
        .await
        .map_err(CliError::call)?
        .into_inner();
    output::payment(out, &payment)?;
    Ok(EXIT_OK)
}

async fn show_refund(session: &Session, record: NodeRecord, out: &mut Out<'_>) -> Result<u8, CliError> {
    let mut node = session.node(&record.node).await?;
    let refund = node
        .get_refund(pb::GetRefundRequest {
            refund_id: record.id.to_string(),
        })
        .await
        .map_err(CliError::call)?
        .into_inner();
    output::refund(out, &refund)?;
    Ok(EXIT_OK)
}

async fn show_transfer(session: &Session, record: NodeRecord, out: &mut Out<'_>) -> Result<u8, CliError> {
    let mut node = session.node(&record.node).await?;
    let transfer = node
        .get_transfer(pb::GetTransferRequest {
            transfer_id: record.id.to_string(),
        })
        .await
        .map_err(CliError::call)?
        .into_inner();
    output::transfer(out, &transfer)?;
    Ok(EXIT_OK)
}

async fn show_history(session: &Session, record: NodeRecord, out: &mut Out<'_>) -> Result<u8, CliError> {
    let mut node = session.node(&record.node).await?;
    let history = node
        .get_relationship_history(pb::GetRelationshipHistoryRequest {
            relationship_id: record.id.to_string(),
        })
        .await
        .map_err(CliError::call)?
        .into_inner();
    output::history(out, &history)?;
    Ok(EXIT_OK)
}

async fn show_transaction(session: &Session, record: HubRecord, out: &mut Out<'_>) -> Result<u8, CliError> {
    let mut hub = session.hub(&record.hub).await?;
    let transaction = hub
        .get_transaction(pb::GetTransactionRequest {
            transaction_id: record.id.to_string(),
            kind: record.kind.map_or(pb::TransactionKind::Unspecified, pb::TransactionKind::from) as i32,
        })
        .await
        .map_err(CliError::call)?
        .into_inner();
    output::transaction(out, &transaction)?;
    Ok(EXIT_OK)
}

async fn show_transactions(session: &Session, args: TransactionsArgs, out: &mut Out<'_>) -> Result<u8, CliError> {
    let mut hub = session.hub(&args.hub).await?;
    let mut stream = hub
        .list_transactions(pb::ListTransactionsRequest {
            period: args.period.to_string(),
            province: args.province.map(|p| p.to_string()).unwrap_or_default(),
            counterpart: args.counterpart.map(|p| p.to_string()).unwrap_or_default(),
            kind: args.kind.map_or(pb::TransactionKind::Unspecified, pb::TransactionKind::from) as i32,
            status: args.status.unwrap_or_default(),
            limit: args.limit.unwrap_or(0),
            cursor: args.cursor.unwrap_or_default(),
        })
        .await
        .map_err(CliError::call)?
        .into_inner();
    let mut table = output::transactions_table();
    let mut last = String::new();
    while let Some(transaction) = stream.message().await.map_err(CliError::call)? {
        output::transaction_row(&mut table, &transaction);
        last = transaction.cursor;
    }
    if table.is_empty() {
        writeln!(out, "no cross-province transactions in {}", args.period)?;
    } else {
        table.write(out)?;
    }
    if args.limit.is_some_and(|limit| table.rows().len() == limit as usize) {
        crate::listings::next_page(out, &last)?;
    }
    Ok(EXIT_OK)
}

async fn show_positions(session: &Session, args: PositionsArgs, out: &mut Out<'_>) -> Result<u8, CliError> {
    let mut hub = session.hub(&args.hub).await?;
    let positions = hub
        .get_positions(pb::GetPositionsRequest {
            period: args.period.map(|p| p.to_string()).unwrap_or_default(),
        })
        .await
        .map_err(CliError::call)?
        .into_inner();
    output::positions(out, &positions)?;
    Ok(EXIT_OK)
}

async fn show_provinces(session: &Session, args: HubArg, out: &mut Out<'_>) -> Result<u8, CliError> {
    let mut hub = session.hub(&args).await?;
    let provinces = hub
        .list_provinces(pb::ListProvincesRequest {})
        .await
        .map_err(CliError::call)?
        .into_inner();
    output::provinces(out, &provinces)?;
    Ok(EXIT_OK)
}
