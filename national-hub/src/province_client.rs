//! The hub's clients of the province nodes, one lazily connected channel per
//! registered province, with a deadline on every call.

use std::collections::BTreeMap;

use gongji_common::{
    contract::{grant_answer_from_pb, CrossPayment, Decline, Grant, TxStatus},
    peer::{self, read_failure, Deadlines, Unanswered},
    Period, ProvinceCode,
};
use gongji_proto::v1::{province_link_client::ProvinceLinkClient, DebitRequest};
use tonic::transport::Channel;

use crate::config::ProvinceEntry;

/// The registry of provinces with a client for each.
pub struct Provinces {
    entries: BTreeMap<ProvinceCode, (ProvinceEntry, ProvinceLinkClient<Channel>)>,
    deadlines: Deadlines,
}

impl Provinces {
    pub fn new(registry: BTreeMap<ProvinceCode, ProvinceEntry>, deadlines: Deadlines) -> Result<Provinces, String> {
        let mut entries = BTreeMap::new();
        for (code, entry) in registry {
            let channel = peer::lazy_channel(&entry.address, deadlines).map_err(|e| format!("province {code}: {e}"))?;
            entries.insert(code, (entry, ProvinceLinkClient::new(channel)));
        }
        Ok(Provinces { entries, deadlines })
    }

    pub fn contains(&self, code: ProvinceCode) -> bool {
        self.entries.contains_key(&code)
    }

    pub fn entries(&self) -> impl Iterator<Item = &ProvinceEntry> {
        self.entries.values().map(|(entry, _)| entry)
    }

    fn client(&self, code: ProvinceCode) -> Result<ProvinceLinkClient<Channel>, Unanswered> {
        self.entries
            .get(&code)
            .map(|(_, client)| client.clone())
            .ok_or_else(|| Unanswered(format!("province {code} is not in the registry")))
    }

    /// Asks the beneficiary's node to accept a grant.
    pub async fn receive_grant(&self, grant: &Grant) -> Result<Result<(), Decline>, Unanswered> {
        let mut client = self.client(grant.beneficiary_province)?;
        match client.receive_grant(peer::request(grant.to_pb(), self.deadlines)).await {
            Ok(answer) => Ok(grant_answer_from_pb(answer.into_inner())),
            Err(status) => Ok(Err(read_failure(status)?)),
        }
    }

    /// Asks the donor's node to decide a payment stamped with `period`.
    pub async fn authorize_debit(&self, payment: &CrossPayment, period: Period) -> Result<Result<(), Decline>, Unanswered> {
        let mut client = self.client(payment.donor_province)?;
        let request = DebitRequest {
            payment: Some(payment.to_pb()),
            period: period.to_string(),
        };
        match client.authorize_debit(peer::request(request, self.deadlines)).await {
            Ok(answer) => {
                let answer = answer.into_inner();
                match TxStatus::from_pb(answer.status) {
                    Some(TxStatus::Approved) => Ok(Ok(())),
                    Some(TxStatus::Declined) => Ok(Err(Decline::from_pb_parts(answer.decline_reason, answer.message))),
                    _ => Err(Unanswered(format!(
                        "province {} answered without a decision",
                        payment.donor_province
                    ))),
                }
            }
            Err(status) => Ok(Err(read_failure(status)?)),
        }
    }
}
