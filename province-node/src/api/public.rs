//! The public `gongji.v1.ProvinceNode` service.

use std::sync::Arc;

use gongji_common::{
    access::Principal,
    contract::{CrossWallet, Party},
    metrics::{Kind, Metrics},
    oplog::OpLog,
    period::timestamp,
    Id, Money, Period, ProvinceCode,
};
use gongji_proto::v1::{self as pb, province_node_server::ProvinceNode};
use tonic::{Request, Response, Status, Streaming};

use super::{acting, convert};
use crate::{
    domain::Refusal,
    domain::Settle,
    domain::{ImportOutcome, RefundRecord},
    error::NodeError,
    service::{Node, PaymentView, TransferView},
};

pub struct PublicApi {
    node: Arc<Node>,
    metrics: Arc<Metrics>,
}

impl PublicApi {
    pub fn new(node: Arc<Node>, metrics: Arc<Metrics>) -> PublicApi {
        PublicApi { node, metrics }
    }

    /// Accepts, declines or cancels a wallet transfer, as `settle` says.
    /// A cross-province transfer as its recipient's node is told of it
    /// (accepting or declining it), each field checked.
    fn cross_wallet(&self, transfer_id: &str, sender_province: &str, recipient_id: Id, amount: &str) -> Result<CrossWallet, Status> {
        Ok(CrossWallet {
            transfer_id: id("transfer_id", transfer_id)?,
            sender_province: ProvinceCode::parse("sender_province", sender_province).map_err(NodeError::from)?,
            recipient_province: self.node.province(),
            recipient_id,
            amount: Money::parse_positive("amount", amount).map_err(NodeError::from)?,
        })
    }

    /// The transfer from another province an acceptance or decline is
    /// about: named by its sender's province and amount, or, without them,
    /// as the sender's node told this node; `None` for a transfer within
    /// this province.
    fn incoming_wallet(&self, transfer_id: &str, sender_province: &str, by: Id, amount: &str) -> Result<Option<CrossWallet>, Status> {
        if !sender_province.is_empty() && sender_province != self.node.province().to_string() {
            return self.cross_wallet(transfer_id, sender_province, by, amount).map(Some);
        }
        if !sender_province.is_empty() {
            return Ok(None);
        }
        let transfer_id = id("transfer_id", transfer_id)?;
        Ok(self.node.incoming_wallet(&transfer_id)?.map(|incoming| CrossWallet {
            transfer_id,
            sender_province: incoming.sender_province,
            recipient_province: self.node.province(),
            recipient_id: by,
            amount: incoming.note.amount,
        }))
    }

    async fn settle_wallet(&self, transfer_id: &str, settle: Settle) -> Reply<pb::WalletTransfer> {
        let transfer = self.node.settle_wallet(&id("transfer_id", transfer_id)?, settle).await?;
        Ok(Response::new(convert::wallet_transfer_to_pb(&transfer, self.node.province())))
    }
}

fn id(field: &str, text: &str) -> Result<Id, Status> {
    Id::parse(field, text).map_err(|e| NodeError::from(e).into())
}

type Reply<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl ProvinceNode for PublicApi {
    async fn get_node_info(&self, _: Request<pb::GetNodeInfoRequest>) -> Reply<pb::NodeInfo> {
        let stats = self.node.stats()?;
        Ok(Response::new(pb::NodeInfo {
            province_code: self.node.province().to_string(),
            persons: stats.persons,
            relationships: stats.relationships,
            payments: stats.payments,
            pending: stats.pending,
            trial_balance: stats.trial_balance.to_string(),
            outbox: stats.outbox,
            version: env!("CARGO_PKG_VERSION").to_owned(),
            outbox_oldest_age_seconds: stats.outbox_oldest_age.map_or(0, |age| age.as_secs()),
        }))
    }

    async fn register_person(&self, request: Request<pb::RegisterPersonRequest>) -> Reply<pb::Person> {
        let command = convert::register_command("person", request.into_inner().person).map_err(NodeError::from)?;
        let person = self.node.register_person(command).await?;
        Ok(Response::new(convert::person_to_pb(&person)))
    }

    async fn import_persons(&self, request: Request<Streaming<pb::ImportPersonRow>>) -> Reply<pb::ImportSummary> {
        let mut rows = request.into_inner();
        let mut summary = pb::ImportSummary::default();
        while let Some(row) = rows.message().await? {
            let person_id = row.person.as_ref().map(|p| p.person_id.clone()).unwrap_or_default();
            let result = convert::register_command("person", row.person)
                .map_err(NodeError::from)
                .and_then(|command| self.node.register_person_unflushed(command));
            match result {
                Ok((_, ImportOutcome::Imported)) => summary.imported += 1,
                Ok((_, ImportOutcome::Unchanged)) => summary.unchanged += 1,
                Err(error) => {
                    let (field, message) = match error {
                        NodeError::InvalidArgument(e) => (e.field, e.message),
                        NodeError::Refused(Refusal::AlreadyExists(message)) => ("person.person_id".to_owned(), message),
                        other => return Err(other.into()),
                    };
                    summary.rejected += 1;
                    summary.errors.push(pb::ImportError {
                        line: row.line,
                        person_id,
                        field: field.trim_start_matches("person.").to_owned(),
                        message,
                    });
                }
            }
        }
        self.node.finish_import().await?;
        tracing::info!(
            imported = summary.imported,
            unchanged = summary.unchanged,
            rejected = summary.rejected,
            "import finished"
        );
        Ok(Response::new(summary))
    }

    async fn get_person(&self, request: Request<pb::GetPersonRequest>) -> Reply<pb::Person> {
        let person = self.node.person(&id("person_id", &request.get_ref().person_id)?)?;
        Ok(Response::new(convert::person_to_pb(&person)))
    }

    async fn credit_contribution(&self, request: Request<pb::CreditContributionRequest>) -> Reply<pb::ContributionReceipt> {
        let command = convert::credit_command(request.into_inner()).map_err(NodeError::from)?;
        let contribution = self.node.credit_contribution(command).await?;
        Ok(Response::new(pb::ContributionReceipt {
            contribution_id: contribution.command.contribution_id.to_string(),
            person_id: contribution.command.person_id.to_string(),
            amount: contribution.command.amount.to_string(),
            credited_at: Some(timestamp(contribution.credited_at)),
        }))
    }

    async fn get_account(&self, request: Request<pb::GetAccountRequest>) -> Reply<pb::Account> {
        let account = self.node.account(&id("person_id", &request.get_ref().person_id)?)?;
        let total = account.available.checked_add(account.frozen).map_err(NodeError::from)?;
        Ok(Response::new(pb::Account {
            person_id: account.person_id.to_string(),
            available: account.available.to_string(),
            frozen: account.frozen.to_string(),
            total: total.to_string(),
        }))
    }

    #[tracing::instrument(skip_all, fields(tx = %request.get_ref().relationship_id))]
    async fn establish_relationship(&self, request: Request<pb::EstablishRelationshipRequest>) -> Reply<pb::Relationship> {
        let command = convert::establish_command(request.into_inner(), self.node.province()).map_err(NodeError::from)?;
        let relationship = self.node.establish(command).await?;
        Ok(Response::new(convert::relationship_to_pb(&relationship, self.node.province())))
    }

    async fn get_relationship(&self, request: Request<pb::GetRelationshipRequest>) -> Reply<pb::Relationship> {
        let relationship = self
            .node
            .relationship(&id("relationship_id", &request.get_ref().relationship_id)?)?;
        Ok(Response::new(convert::relationship_to_pb(&relationship, self.node.province())))
    }

    async fn list_relationships(&self, request: Request<pb::ListRelationshipsRequest>) -> Reply<pb::ListRelationshipsResponse> {
        let listed = self.node.list_relationships(&id("person_id", &request.get_ref().person_id)?)?;
        let here = self.node.province();
        Ok(Response::new(pb::ListRelationshipsResponse {
            as_donor: listed.as_donor.iter().map(|r| convert::relationship_to_pb(r, here)).collect(),
            as_beneficiary: listed.as_beneficiary.iter().map(|r| convert::relationship_to_pb(r, here)).collect(),
        }))
    }

    #[tracing::instrument(skip_all, fields(tx = %request.get_ref().payment_id))]
    async fn pay(&self, request: Request<pb::PayRequest>) -> Reply<pb::Payment> {
        let reply: Reply<pb::Payment> = async {
            acting::may_pay(Principal::of(&request)?, &request.get_ref().institution_id)?;
            let command = convert::pay_command(request.into_inner()).map_err(NodeError::from)?;
            let payment = self.node.pay(command).await?;
            Ok(Response::new(payment_to_pb(&payment)))
        }
        .await;
        self.metrics.answered(Kind::Payment, &reply, |p| p.status);
        reply
    }

    async fn get_payment(&self, request: Request<pb::GetPaymentRequest>) -> Reply<pb::Payment> {
        let payment = self.node.payment(&id("payment_id", &request.get_ref().payment_id)?)?;
        Ok(Response::new(payment_to_pb(&payment)))
    }

    #[tracing::instrument(skip_all, fields(relationship = %request.get_ref().relationship_id))]
    async fn dissolve_relationship(&self, request: Request<pb::DissolveRelationshipRequest>) -> Reply<pb::Relationship> {
        let request = request.into_inner();
        let relationship_id = id("relationship_id", &request.relationship_id)?;
        let party = Party::from_pb("requested_by", request.requested_by).map_err(NodeError::from)?;
        let relationship = self.node.dissolve(&relationship_id, party).await?;
        Ok(Response::new(convert::relationship_to_pb(&relationship, self.node.province())))
    }

    #[tracing::instrument(skip_all, fields(change = %request.get_ref().change_id))]
    async fn change_quota(&self, request: Request<pb::ChangeQuotaRequest>) -> Reply<pb::QuotaChange> {
        let command = convert::quota_change_command(request.into_inner()).map_err(NodeError::from)?;
        let (record, relationship) = self.node.change_quota(command).await?;
        Ok(Response::new(convert::quota_change_to_pb(
            &record,
            &relationship,
            self.node.province(),
        )))
    }

    async fn get_relationship_history(&self, request: Request<pb::GetRelationshipHistoryRequest>) -> Reply<pb::RelationshipHistory> {
        let relationship_id = id("relationship_id", &request.get_ref().relationship_id)?;
        let events = self.node.history(&relationship_id)?;
        Ok(Response::new(pb::RelationshipHistory {
            relationship_id: relationship_id.to_string(),
            events: events.iter().map(convert::event_to_pb).collect(),
        }))
    }

    #[tracing::instrument(skip_all, fields(person = %request.get_ref().person_id))]
    async fn terminate_insurance(&self, request: Request<pb::TerminateInsuranceRequest>) -> Reply<pb::Person> {
        let person = self.node.terminate(&id("person_id", &request.get_ref().person_id)?).await?;
        Ok(Response::new(convert::person_to_pb(&person)))
    }

    #[tracing::instrument(skip_all, fields(tx = %request.get_ref().transfer_id))]
    async fn transfer_insurance(&self, request: Request<pb::TransferInsuranceRequest>) -> Reply<pb::InsuranceTransfer> {
        let reply: Reply<pb::InsuranceTransfer> = async {
            let command = convert::transfer_command(request.into_inner()).map_err(NodeError::from)?;
            let record = self.node.transfer(command).await?;
            Ok(Response::new(convert::transfer_out_to_pb(&record, self.node.province())))
        }
        .await;
        self.metrics.answered(Kind::Transfer, &reply, |t| t.status);
        reply
    }

    async fn get_transfer(&self, request: Request<pb::GetTransferRequest>) -> Reply<pb::InsuranceTransfer> {
        let transfer = self.node.transfer_view(&id("transfer_id", &request.get_ref().transfer_id)?)?;
        Ok(Response::new(transfer_to_pb(&transfer, self.node.province())))
    }

    #[tracing::instrument(skip_all, fields(tx = %request.get_ref().refund_id))]
    async fn refund_payment(&self, request: Request<pb::RefundPaymentRequest>) -> Reply<pb::Refund> {
        let reply: Reply<pb::Refund> = async {
            let acting = acting::institution(Principal::of(&request)?)?.cloned();
            let command = convert::refund_command(request.into_inner()).map_err(NodeError::from)?;
            let record = self.node.refund(command, acting.as_ref()).await?;
            Ok(Response::new(convert::refund_to_pb(&record)))
        }
        .await;
        self.metrics.answered(Kind::Refund, &reply, |r| r.status);
        reply
    }

    async fn get_refund(&self, request: Request<pb::GetRefundRequest>) -> Reply<pb::Refund> {
        let record = self.node.refund_record(&id("refund_id", &request.get_ref().refund_id)?)?;
        Ok(Response::new(convert::refund_to_pb(&record)))
    }

    #[tracing::instrument(skip_all, fields(tx = %request.get_ref().payment_id))]
    async fn reverse_payment(&self, request: Request<pb::ReversePaymentRequest>) -> Reply<pb::Payment> {
        let reply: Reply<pb::Payment> = async {
            let acting = acting::institution(Principal::of(&request)?)?;
            let payment = self.node.reverse(&id("payment_id", &request.get_ref().payment_id)?, acting).await?;
            Ok(Response::new(payment_to_pb(&payment)))
        }
        .await;
        self.metrics.answered(Kind::Reversal, &reply, |p| p.status);
        reply
    }

    async fn open_wallet(&self, request: Request<pb::OpenWalletRequest>) -> Reply<pb::Wallet> {
        let person_id = id("person_id", &request.get_ref().person_id)?;
        self.node.open_wallet(&person_id).await?;
        let view = self.node.wallet(&person_id)?;
        let statement = convert::wallet_statement_to_pb(&view);
        Ok(Response::new(statement.wallet.unwrap_or_default()))
    }

    #[tracing::instrument(skip_all, fields(tx = %request.get_ref().transfer_id))]
    async fn send_to_wallet(&self, request: Request<pb::SendToWalletRequest>) -> Reply<pb::WalletTransfer> {
        let command = convert::send_command(request.into_inner()).map_err(NodeError::from)?;
        let transfer = self.node.send_to_wallet(command).await?;
        Ok(Response::new(convert::wallet_transfer_to_pb(&transfer, self.node.province())))
    }

    async fn accept_wallet_transfer(&self, request: Request<pb::AcceptWalletTransferRequest>) -> Reply<pb::WalletTransfer> {
        let request = request.get_ref();
        let by = id("recipient_id", &request.recipient_id)?;
        let Some(wallet) = self.incoming_wallet(&request.transfer_id, &request.sender_province, by.clone(), &request.amount)? else {
            return self.settle_wallet(&request.transfer_id, Settle::Accept { by }).await;
        };
        let credit = self.node.accept_across(wallet).await?;
        Ok(Response::new(convert::wallet_credit_to_pb(&credit, self.node.province())))
    }

    async fn decline_wallet_transfer(&self, request: Request<pb::DeclineWalletTransferRequest>) -> Reply<pb::WalletTransfer> {
        let request = request.get_ref();
        let by = id("recipient_id", &request.recipient_id)?;
        let Some(wallet) = self.incoming_wallet(&request.transfer_id, &request.sender_province, by.clone(), &request.amount)? else {
            return self.settle_wallet(&request.transfer_id, Settle::Decline { by }).await;
        };
        self.node.decline_across(wallet.clone()).await?;
        Ok(Response::new(pb::WalletTransfer {
            transfer_id: wallet.transfer_id.to_string(),
            recipient_id: wallet.recipient_id.to_string(),
            recipient_province: wallet.recipient_province.to_string(),
            amount: wallet.amount.to_string(),
            status: pb::WalletTransferStatus::Declined as i32,
            ..Default::default()
        }))
    }

    async fn cancel_wallet_transfer(&self, request: Request<pb::CancelWalletTransferRequest>) -> Reply<pb::WalletTransfer> {
        let request = request.get_ref();
        let by = id("sender_id", &request.sender_id)?;
        self.settle_wallet(&request.transfer_id, Settle::Cancel { by }).await
    }

    #[tracing::instrument(skip_all, fields(tx = %request.get_ref().payment_id))]
    async fn pay_from_wallet(&self, request: Request<pb::PayRequest>) -> Reply<pb::Payment> {
        let reply: Reply<pb::Payment> = async {
            acting::may_pay(Principal::of(&request)?, &request.get_ref().institution_id)?;
            let command = convert::pay_command(request.into_inner()).map_err(NodeError::from)?;
            let payment = self.node.pay_from_wallet(command).await?;
            Ok(Response::new(convert::wallet_payment_to_pb(&payment)))
        }
        .await;
        self.metrics.answered(Kind::Payment, &reply, |p| p.status);
        reply
    }

    async fn refund_wallet_payment(&self, request: Request<pb::RefundPaymentRequest>) -> Reply<pb::Refund> {
        let acting = acting::institution(Principal::of(&request)?)?.cloned();
        let request = request.into_inner();
        let (payment_id, refund_id) = (id("payment_id", &request.payment_id)?, id("refund_id", &request.refund_id)?);
        let amount = Money::parse_positive("amount", &request.amount).map_err(NodeError::from)?;
        let payment = self
            .node
            .refund_wallet_payment(&payment_id, &refund_id, amount, acting.as_ref())
            .await?;
        Ok(Response::new(convert::wallet_refund_to_pb(&payment, &refund_id, amount)))
    }

    async fn reverse_wallet_payment(&self, request: Request<pb::ReversePaymentRequest>) -> Reply<pb::Payment> {
        let acting = acting::institution(Principal::of(&request)?)?.cloned();
        let payment_id = id("payment_id", &request.get_ref().payment_id)?;
        let reversed = self.node.reverse_wallet_payment(&payment_id, acting.as_ref()).await?;
        Ok(Response::new(match reversed {
            Some(payment) => convert::wallet_payment_to_pb(&payment),
            None => pb::Payment {
                payment_id: payment_id.to_string(),
                status: pb::TransactionStatus::Reversed as i32,
                ..Default::default()
            },
        }))
    }

    async fn get_wallet(&self, request: Request<pb::GetWalletRequest>) -> Reply<pb::WalletStatement> {
        let view = self.node.wallet(&id("person_id", &request.get_ref().person_id)?)?;
        Ok(Response::new(convert::wallet_statement_to_pb(&view)))
    }

    async fn list_wallet_transfers(&self, request: Request<pb::ListWalletTransfersRequest>) -> Reply<pb::ListWalletTransfersResponse> {
        let r = request.get_ref();
        let here = self.node.province();
        let listing = self.node.list_wallet_transfers(r.incoming, &r.cursor, r.limit)?;
        let (transfers, next_cursor) = match listing {
            crate::service::WalletListing::Sent(sent, next) => {
                (sent.iter().map(|t| convert::wallet_transfer_to_pb(t, here)).collect(), next)
            }
            crate::service::WalletListing::Incoming(incoming, next) => (
                incoming
                    .iter()
                    .map(|(i, credit)| convert::incoming_wallet_to_pb(i, credit.as_ref(), here))
                    .collect(),
                next,
            ),
        };
        Ok(Response::new(pb::ListWalletTransfersResponse { transfers, next_cursor }))
    }

    async fn get_person_statement(&self, request: Request<pb::GetPersonStatementRequest>) -> Reply<pb::PersonStatement> {
        let r = request.get_ref();
        let person = id("person_id", &r.person_id)?;
        let range = crate::domain::Range::parse(&r.month, &r.from, &r.to).map_err(NodeError::from)?;
        let relationship = (!r.relationship_id.is_empty())
            .then(|| id("relationship_id", &r.relationship_id))
            .transpose()?;
        let node = self.node.clone();
        let statement = tokio::task::spawn_blocking(move || match relationship {
            None => node.person_statement(&person, range),
            Some(relationship) => node.quota_statement(&person, &relationship, range),
        })
        .await
        .map_err(|e| Status::internal(format!("statement task failed: {e}")))??;
        Ok(Response::new(convert::person_statement_to_pb(&statement)))
    }

    #[tracing::instrument(skip_all, fields(period = %request.get_ref().period))]
    async fn reconcile_month(&self, request: Request<pb::ReconcileMonthRequest>) -> Reply<pb::Reconciliation> {
        let period = Period::parse("period", &request.get_ref().period).map_err(NodeError::from)?;
        let report = self.node.reconcile(period).await?;
        Ok(Response::new(convert::reconciliation_to_pb(&report, self.node.province())))
    }

    async fn get_reconciliation(&self, request: Request<pb::ReconcileMonthRequest>) -> Reply<pb::Reconciliation> {
        let period = Period::parse("period", &request.get_ref().period).map_err(NodeError::from)?;
        let report = self.node.reconciliation(period)?;
        Ok(Response::new(convert::reconciliation_to_pb(&report, self.node.province())))
    }

    async fn self_check(&self, _: Request<pb::SelfCheckRequest>) -> Reply<pb::SelfCheckReport> {
        let node = self.node.clone();
        let check = tokio::task::spawn_blocking(move || node.self_check())
            .await
            .map_err(|e| Status::internal(format!("self-check task failed: {e}")))??;
        Ok(Response::new(check.books.to_pb(&check.waiting)))
    }

    type StreamLinesStream = tokio_stream::wrappers::ReceiverStream<Result<pb::StatementLine, Status>>;

    async fn stream_lines(&self, request: Request<pb::ReconcileMonthRequest>) -> Reply<Self::StreamLinesStream> {
        let period = Period::parse("period", &request.get_ref().period).map_err(NodeError::from)?;
        let (sender, receiver) = tokio::sync::mpsc::channel(256);
        let node = self.node.clone();
        tokio::task::spawn_blocking(move || {
            // One consistent reading of the month, however long it streams.
            let snapshot = match node.store().snapshot() {
                Ok(snapshot) => snapshot,
                Err(e) => {
                    let _ = sender.blocking_send(Err(Status::from(NodeError::from(e))));
                    return;
                }
            };
            for line in crate::service::Node::lines(&snapshot, period) {
                let item = line.map(|l| l.to_pb()).map_err(Status::from);
                if sender.blocking_send(item).is_err() {
                    return;
                }
            }
        });
        Ok(Response::new(tokio_stream::wrappers::ReceiverStream::new(receiver)))
    }

    type StreamRelationshipsStream = tokio_stream::wrappers::ReceiverStream<Result<pb::Relationship, Status>>;

    async fn stream_relationships(&self, _: Request<pb::StreamRelationshipsRequest>) -> Reply<Self::StreamRelationshipsStream> {
        let (sender, receiver) = tokio::sync::mpsc::channel(256);
        let node = self.node.clone();
        tokio::task::spawn_blocking(move || {
            // One consistent reading of every relationship, however long it streams.
            let snapshot = match node.store().snapshot() {
                Ok(snapshot) => snapshot,
                Err(e) => {
                    let _ = sender.blocking_send(Err(Status::from(NodeError::from(e))));
                    return;
                }
            };
            let here = node.province();
            for relationship in crate::service::Node::relationships(&snapshot) {
                let item = relationship.map(|r| convert::relationship_to_pb(&r, here)).map_err(Status::from);
                if sender.blocking_send(item).is_err() {
                    return;
                }
            }
        });
        Ok(Response::new(tokio_stream::wrappers::ReceiverStream::new(receiver)))
    }

    async fn list_payments(&self, request: Request<pb::ListPaymentsRequest>) -> Reply<pb::ListPaymentsResponse> {
        let request = request.into_inner();
        let (filter, limit) = convert::payment_filter(&request).map_err(NodeError::from)?;
        let cursor = (!request.cursor.is_empty()).then_some(request.cursor.as_str());
        let page = self.node.list::<PaymentView>(&filter, cursor, limit)?;
        Ok(Response::new(pb::ListPaymentsResponse {
            payments: page.items.iter().map(payment_to_pb).collect(),
            next_cursor: page.next_cursor.unwrap_or_default(),
        }))
    }

    async fn list_refunds(&self, request: Request<pb::ListRefundsRequest>) -> Reply<pb::ListRefundsResponse> {
        let request = request.into_inner();
        let (filter, limit) = convert::refund_filter(&request).map_err(NodeError::from)?;
        let cursor = (!request.cursor.is_empty()).then_some(request.cursor.as_str());
        let page = self.node.list::<RefundRecord>(&filter, cursor, limit)?;
        Ok(Response::new(pb::ListRefundsResponse {
            refunds: page.items.iter().map(convert::refund_to_pb).collect(),
            next_cursor: page.next_cursor.unwrap_or_default(),
        }))
    }

    async fn list_transfers(&self, request: Request<pb::ListTransfersRequest>) -> Reply<pb::ListTransfersResponse> {
        let request = request.into_inner();
        let (filter, limit) = convert::transfer_filter(&request).map_err(NodeError::from)?;
        let cursor = (!request.cursor.is_empty()).then_some(request.cursor.as_str());
        let page = self.node.list::<TransferView>(&filter, cursor, limit)?;
        let here = self.node.province();
        Ok(Response::new(pb::ListTransfersResponse {
            transfers: page.items.iter().map(|t| transfer_to_pb(t, here)).collect(),
            next_cursor: page.next_cursor.unwrap_or_default(),
        }))
    }

    async fn list_operator_actions(&self, request: Request<pb::ListOperatorActionsRequest>) -> Reply<pb::ListOperatorActionsResponse> {
        let log = OpLog::new(self.node.store().clone(), crate::store::OPLOG);
        Ok(Response::new(log.list_pb(request.get_ref()).await.map_err(NodeError::from)?))
    }
}

fn transfer_to_pb(transfer: &TransferView, here: gongji_common::ProvinceCode) -> pb::InsuranceTransfer {
    match transfer {
        TransferView::Out(out) => convert::transfer_out_to_pb(out, here),
        TransferView::In(received) => convert::transfer_in_to_pb(received),
    }
}

fn payment_to_pb(payment: &PaymentView) -> pb::Payment {
    match payment {
        PaymentView::Acquired(acquired) => convert::acquired_to_pb(acquired),
        PaymentView::Issued(issued) => convert::issued_to_pb(issued),
        PaymentView::Cancelled { payment_id, tombstone } => convert::cancelled_to_pb(payment_id, tombstone),
    }
}
