//! Grants: routing a relationship's grant from the donor's node to the
//! beneficiary's, and recording that node's answer (the rules: `domain::grant`).

use gongji_common::{
    contract::{Decline, Grant},
    pending::PendingKind,
    Id,
};

use super::{refuse, Hub};
use crate::{
    domain::{
        check_crosses,
        grant::{self, GrantDecision},
    },
    error::{HubError, HubResult},
    store::{GRANTS, PENDING},
};

impl Hub {
    /// Routes a grant from the donor's node to the beneficiary's.
    pub async fn route_grant(&self, grant: Grant) -> HubResult<Result<(), Decline>> {
        check_crosses("beneficiary_province", grant.donor_province, grant.beneficiary_province)?;
        let id = grant.relationship_id.clone();
        let decided = self
            .transact(|tx| {
                let existing = tx.get(GRANTS, &id)?;
                let decided = match grant::decide(existing.as_ref(), &grant, self.provinces.codes(), self.now()) {
                    Ok(decided) => decided,
                    Err(refusal) => return Err(refuse(refusal)),
                };
                if let GrantDecision::New(record) = &decided {
                    tx.put(GRANTS, &id, record)?;
                    tx.put(PENDING, &PendingKind::Grant.key(&id), &Some(self.now()))?;
                }
                Ok(decided)
            })
            .await?;
        let record = match decided {
            GrantDecision::NotConnected(decline) => return Ok(Err(decline)),
            GrantDecision::Recorded(record) | GrantDecision::New(record) => record,
        };
        match record.answer() {
            Some(answer) => Ok(answer),
            None => self.forward_grant(&id).await,
        }
    }

    /// Asks the beneficiary's node about a pending grant and records the answer.
    pub async fn forward_grant(&self, id: &Id) -> HubResult<Result<(), Decline>> {
        let _flight = self.in_flight.enter(PendingKind::Grant, id);
        let record = self.grant(id)?;
        if let Some(answer) = record.answer() {
            return Ok(answer);
        }
        let grant = &record.grant;
        let answer = self
            .provinces
            .receive_grant(grant)
            .await
            .map_err(|why| HubError::Unavailable(format!("province {} did not answer: {why}", grant.beneficiary_province)))?;
        let record = self
            .transact(|tx| {
                let Some(record) = tx.get(GRANTS, id)? else {
                    return Err(HubError::not_found("grant", id));
                };
                let Some(decided) = grant::decide_answer(&record, &answer, self.now()) else {
                    return Ok(record);
                };
                tx.put(GRANTS, id, &decided)?;
                tx.remove(PENDING, &PendingKind::Grant.key(id))?;
                Ok(decided)
            })
            .await?;
        tracing::info!(relationship = %id, status = ?record.status, "grant routed");
        Ok(record.answer().unwrap_or(answer))
    }
}
