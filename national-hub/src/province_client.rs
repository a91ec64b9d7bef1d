//! The hub's clients of the province nodes, one lazily connected channel per
//! registered province, with a deadline on every call. Answers come back as
//! domain types: a decision, or `Unanswered` when the outcome is unknown.

use std::collections::{BTreeMap, BTreeSet};

use gongji_common::{
    auth::Credential,
    contract::{
        acceptance_from_pb, CrossPayment, CrossRefund, CrossTransfer, CrossWallet, Decline, Grant, Notice, ReversalOutcome, TxStatus,
    },
    peer::{self, read_failure, Deadlines, Unanswered},
    tls::{self, Tls},
    Period, ProvinceCode,
};
use gongji_proto::v1::{self as pb, province_link_client::ProvinceLinkClient};
use tonic::transport::Channel;

use crate::config::ProvinceEntry;

type Authenticated = tonic::service::interceptor::InterceptedService<Channel, Credential>;

/// The registry of provinces with a client for each.
pub struct Provinces {
    entries: BTreeMap<ProvinceCode, (ProvinceEntry, ProvinceLinkClient<Authenticated>)>,
    codes: BTreeSet<ProvinceCode>,
    deadlines: Deadlines,
}

impl Provinces {
    /// Clients that present the hub's `credential` on every call, over
    /// `tls` when it is given (each node's certificate must name its province).
    pub fn new(
        registry: BTreeMap<ProvinceCode, ProvinceEntry>,
        deadlines: Deadlines,
        credential: Credential,
        tls: Option<&Tls>,
    ) -> Result<Provinces, String> {
        let mut entries = BTreeMap::new();
        for (code, entry) in registry {
            let tls = tls.map(|tls| tls.client_config(Some(&tls::province_name(code))));
            let channel = peer::lazy_channel(&entry.address, deadlines, tls).map_err(|e| format!("province {code}: {e}"))?;
            entries.insert(code, (entry, ProvinceLinkClient::with_interceptor(channel, credential.clone())));
        }
        let codes = entries.keys().copied().collect();
        Ok(Provinces { entries, codes, deadlines })
    }

    pub fn contains(&self, code: ProvinceCode) -> bool {
        self.entries.contains_key(&code)
    }

    /// The codes of the registered provinces: those the hub serves.
    pub fn codes(&self) -> &BTreeSet<ProvinceCode> {
        &self.codes
    }

    pub fn entries(&self) -> impl Iterator<Item = &ProvinceEntry> {
        self.entries.values().map(|(entry, _)| entry)
    }

    fn client(&self, code: ProvinceCode) -> Result<ProvinceLinkClient<Authenticated>, Unanswered> {
        self.entries
            .get(&code)
            .map(|(_, client)| client.clone())
            .ok_or_else(|| Unanswered(format!("province {code} is not in the registry")))
    }

    /// Asks the beneficiary's node to accept a grant.
    pub async fn receive_grant(&self, grant: &Grant) -> Result<Result<(), Decline>, Unanswered> {
        let mut client = self.client(grant.beneficiary_province)?;
        match client
            .receive_grant(peer::request_for(grant.to_pb(), self.deadlines, grant.relationship_id.as_str()))
            .await
        {
            Ok(answer) => Ok(acceptance_from_pb(answer.into_inner())),
            Err(status) => Ok(Err(read_failure(status)?)),
        }
    }

    /// Asks the donor's node to decide a payment stamped with `period`.
    pub async fn authorize_debit(&self, payment: &CrossPayment, period: Period) -> Result<Result<(), Decline>, Unanswered> {
        let mut client = self.client(payment.donor_province)?;
        let request = pb::DebitRequest {
            payment: Some(payment.to_pb()),
            period: period.to_string(),
        };
        decision(
            payment.donor_province,
            client
                .authorize_debit(peer::request_for(request, self.deadlines, payment.payment_id.as_str()))
                .await,
        )
    }

    /// Asks the donor's node to take back a refund stamped with `period`.
    pub async fn apply_refund(&self, refund: &CrossRefund, period: Period) -> Result<Result<(), Decline>, Unanswered> {
        let province = refund.payment.donor_province;
        let mut client = self.client(province)?;
        let request = pb::ApplyRefundRequest {
            refund: Some(refund.to_pb()),
            period: period.to_string(),
        };
        decision(
            province,
            client
                .apply_refund(peer::request_for(request, self.deadlines, refund.refund_id.as_str()))
                .await,
        )
    }

    /// Asks the receiving node to take in a transferred person.
    pub async fn receive_transfer(&self, transfer: &CrossTransfer, period: Period) -> Result<Result<(), Decline>, Unanswered> {
        let mut client = self.client(transfer.to_province)?;
        let request = pb::ReceiveTransferRequest {
            transfer: Some(transfer.to_pb()),
            period: period.to_string(),
        };
        match client
            .receive_transfer(peer::request_for(request, self.deadlines, transfer.transfer_id.as_str()))
            .await
        {
            Ok(answer) => Ok(acceptance_from_pb(answer.into_inner())),
            Err(status) => Ok(Err(read_failure(status)?)),
        }
    }

    /// Asks the sender's node to decide a wallet transfer's acceptance in `period`.
    pub async fn decide_wallet_acceptance(&self, wallet: &CrossWallet, period: Period) -> Result<Result<(), Decline>, Unanswered> {
        let mut client = self.client(wallet.sender_province)?;
        let request = pb::WalletAcceptanceRequest {
            acceptance: Some(wallet.to_pb()),
            period: period.to_string(),
        };
        match client
            .decide_wallet_acceptance(peer::request_for(request, self.deadlines, wallet.transfer_id.as_str()))
            .await
        {
            Ok(answer) => Ok(acceptance_from_pb(answer.into_inner())),
            Err(status) => Ok(Err(read_failure(status)?)),
        }
    }

    /// Asks the sender's node to settle a wallet transfer as declined.
    pub async fn decide_wallet_decline(&self, wallet: &CrossWallet) -> Result<Result<(), Decline>, Unanswered> {
        let mut client = self.client(wallet.sender_province)?;
        match client
            .decide_wallet_decline(peer::request_for(wallet.to_pb(), self.deadlines, wallet.transfer_id.as_str()))
            .await
        {
            Ok(answer) => Ok(acceptance_from_pb(answer.into_inner())),
            Err(status) => Ok(Err(read_failure(status)?)),
        }
    }

    /// Asks a node whether one of its persons may receive a wallet transfer.
    pub async fn check_wallet_recipient(
        &self,
        query: pb::WalletRecipientQuery,
        province: ProvinceCode,
    ) -> Result<pb::WalletRecipientAnswer, Unanswered> {
        let mut client = self.client(province)?;
        let id = query.recipient_id.clone();
        match client.check_wallet_recipient(peer::request_for(query, self.deadlines, &id)).await {
            Ok(answer) => Ok(answer.into_inner()),
            Err(status) => Err(peer::unanswered(&status)),
        }
    }

    /// Asks the donor's node to reverse a payment, crediting it back in `period`.
    pub async fn reverse_debit(&self, payment: &CrossPayment, period: Period) -> Result<ReversalOutcome, Unanswered> {
        let mut client = self.client(payment.donor_province)?;
        let request = pb::ReverseDebitRequest {
            payment: Some(payment.to_pb()),
            period: period.to_string(),
        };
        match client
            .reverse_debit(peer::request_for(request, self.deadlines, payment.payment_id.as_str()))
            .await
        {
            Ok(answer) => ReversalOutcome::from_pb(answer.into_inner())
                .map_err(|e| Unanswered(format!("province {}: reversal answer: {e}", payment.donor_province))),
            // A reversal cannot be refused; any failure is asked again.
            Err(status) => Err(peer::unanswered(&status)),
        }
    }

    /// Delivers a notice to its province; `Ok` once applied there.
    pub async fn deliver_notice(&self, notice: &Notice) -> Result<(), Unanswered> {
        let mut client = self.client(notice.to)?;
        match client
            .deliver_notice(peer::request_for(notice.to_pb(), self.deadlines, &notice.id))
            .await
        {
            Ok(_) => Ok(()),
            Err(status) => Err(peer::unanswered(&status)),
        }
    }
}

/// Reads a node's decision on a payment or a refund.
fn decision(
    province: ProvinceCode,
    reply: Result<tonic::Response<pb::DebitAnswer>, tonic::Status>,
) -> Result<Result<(), Decline>, Unanswered> {
    let answer = match reply {
        Ok(answer) => answer.into_inner(),
        Err(status) => return Ok(Err(read_failure(status)?)),
    };
    match TxStatus::from_pb(answer.status) {
        Some(TxStatus::Approved) => Ok(Ok(())),
        Some(TxStatus::Declined | TxStatus::Reversed) => Ok(Err(Decline::from_pb_parts(answer.decline_reason, answer.message))),
        _ => Err(Unanswered(format!("province {province} answered without a decision"))),
    }
}
