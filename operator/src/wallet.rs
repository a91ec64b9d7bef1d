//! `gongji wallet …`: the medical-insurance wallet (医保钱包) at a province
//! node (docs/WALLET.md).

use gongji_proto::v1 as pb;

use crate::{
    args::{WalletAcceptArgs, WalletCommand, WalletPerson, WalletSendArgs, WalletSettleArgs},
    error::{CliError, EXIT_OK},
    output::{self, Out},
    session::Session,
};

pub async fn command(session: &Session, command: WalletCommand, out: &mut Out<'_>) -> Result<u8, CliError> {
    match command {
        WalletCommand::Open(args) => open(session, args, out).await,
        WalletCommand::Send(args) => send(session, args, out).await,
        WalletCommand::Accept(args) => accept(session, args, true, out).await,
        WalletCommand::Decline(args) => accept(session, args, false, out).await,
        WalletCommand::Cancel(args) => cancel(session, args, out).await,
        WalletCommand::Show(args) => show(session, args, out).await,
    }
}

async fn open(session: &Session, args: WalletPerson, out: &mut Out<'_>) -> Result<u8, CliError> {
    let mut node = session.node(&args.node).await?;
    node.open_wallet(pb::OpenWalletRequest {
        person_id: args.person.to_string(),
    })
    .await
    .map_err(CliError::call)?;
    show(session, args, out).await
}

async fn send(session: &Session, args: WalletSendArgs, out: &mut Out<'_>) -> Result<u8, CliError> {
    let mut node = session.node(&args.node).await?;
    let id = args.id.to_string();
    let transfer = node
        .send_to_wallet(pb::SendToWalletRequest {
            transfer_id: id.clone(),
            sender_id: args.from.to_string(),
            recipient_id: args.to.to_string(),
            recipient_province: args.to_province.to_string(),
            relation_kind: pb::RelationKind::from(args.kind) as i32,
            amount: args.amount.to_string(),
        })
        .await
        .map_err(|status| CliError::transaction_call(status, "wallet transfer", &id))?
        .into_inner();
    output::wallet_transfer(out, &transfer)?;
    Ok(EXIT_OK)
}

/// Accepts (`accept`) or declines a transfer at the recipient's node.
async fn accept(session: &Session, args: WalletAcceptArgs, accept: bool, out: &mut Out<'_>) -> Result<u8, CliError> {
    let mut node = session.node(&args.node).await?;
    let id = args.transfer.to_string();
    let sender_province = args.from_province.map(|p| p.to_string()).unwrap_or_default();
    let amount = args.amount.map(|a| a.to_string()).unwrap_or_default();
    let answer = if accept {
        node.accept_wallet_transfer(pb::AcceptWalletTransferRequest {
            transfer_id: id.clone(),
            recipient_id: args.by.to_string(),
            sender_province,
            amount,
        })
        .await
    } else {
        node.decline_wallet_transfer(pb::DeclineWalletTransferRequest {
            transfer_id: id.clone(),
            recipient_id: args.by.to_string(),
            sender_province,
            amount,
        })
        .await
    };
    let transfer = answer
        .map_err(|status| CliError::transaction_call(status, "wallet transfer", &id))?
        .into_inner();
    output::wallet_transfer(out, &transfer)?;
    Ok(EXIT_OK)
}

async fn cancel(session: &Session, args: WalletSettleArgs, out: &mut Out<'_>) -> Result<u8, CliError> {
    let mut node = session.node(&args.node).await?;
    let id = args.transfer.to_string();
    let answer = node
        .cancel_wallet_transfer(pb::CancelWalletTransferRequest {
            transfer_id: id.clone(),
            sender_id: args.by.to_string(),
        })
        .await;
    let transfer = answer
        .map_err(|status| CliError::transaction_call(status, "wallet transfer", &id))?
        .into_inner();
    output::wallet_transfer(out, &transfer)?;
    Ok(EXIT_OK)
}

async fn show(session: &Session, args: WalletPerson, out: &mut Out<'_>) -> Result<u8, CliError> {
    let mut node = session.node(&args.node).await?;
    let statement = node
        .get_wallet(pb::GetWalletRequest {
            person_id: args.person.to_string(),
        })
        .await
        .map_err(CliError::call)?
        .into_inner();
    output::wallet(out, &args.person.to_string(), &statement)?;
    Ok(EXIT_OK)
}
