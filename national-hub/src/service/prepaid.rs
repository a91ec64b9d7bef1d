//! Prepaid funds: the opening deposit of each province, operators' deposits
//! and withdrawals, and what the operators and the metrics see (the rules:
//! `domain::prepaid`).

use gongji_common::books::Ledger;
use std::collections::BTreeMap;

use gongji_common::{
    store::{Tx, TxFail},
    FieldError, Id, Money, ProvinceCode,
};

use super::{refuse, Hub};
use crate::{
    domain::{
        prepaid::{self, OperationDecision, OperationSnapshot},
        Funds, Level, MonthRecord, PrepaidCommand, PrepaidOp, ProvincePrepaid,
    },
    error::{HubError, HubResult},
    store::{self, MONTHS, PREPAID_OPS, RESERVED},
};

impl Hub {
    /// Deposits the configured opening funds for every registered province
    /// the first time the hub sees it, as a recorded operation.
    pub(super) fn open_prepaid_accounts(&self) -> HubResult<()> {
        if self.policy().opening.is_zero() {
            return Ok(());
        }
        for entry in self.provinces().entries() {
            let command = PrepaidCommand {
                operation_id: Id::parse("operation_id", &format!("opening-{}", entry.code))?,
                province: entry.code,
                amount: self.policy().opening,
                operator: "hub configuration".into(),
                reason: "opening prepaid funds (--opening-prepaid)".into(),
                withdrawal: false,
                force: false,
            };
            // On disk with the hub's first sync (`Hub::new` waits for it).
            self.store
                .transact::<_, HubError>(|tx| {
                    // Once: a later change of --opening-prepaid changes nothing.
                    if tx.contains(PREPAID_OPS, &command.operation_id)? {
                        return Ok(());
                    }
                    let snapshot = OperationSnapshot {
                        existing: None,
                        funds: Self::funds(tx, command.province)?,
                        required: Money::ZERO,
                    };
                    match prepaid::decide(&snapshot, &command, self.now()) {
                        Ok(decided) => Self::apply_operation(tx, &command, decided).map(|_| ()).map_err(HubError::from),
                        Err(refusal) => Err(refuse(refusal)),
                    }
                })
                .unconfirmed()?;
        }
        Ok(())
    }

    /// Deposits into or withdraws from a province's prepaid funds. Idempotent by operation id.
    pub async fn prepaid_operation(&self, command: PrepaidCommand) -> HubResult<PrepaidOp> {
        if !self.provinces().contains(command.province) {
            return Err(FieldError::new(
                "province",
                format!("province {} is not connected to the national hub", command.province),
            )
            .into());
        }
        // Changes only at a settlement, which a withdrawal need not wait for.
        let required = self.required_level(command.province)?;
        let op = self
            .store
            .transact::<_, HubError>(|tx| {
                let snapshot = OperationSnapshot {
                    existing: tx.get(PREPAID_OPS, &command.operation_id)?,
                    funds: Self::funds(tx, command.province)?,
                    required,
                };
                match prepaid::decide(&snapshot, &command, self.now()) {
                    Ok(decided) => Self::apply_operation(tx, &command, decided).map_err(HubError::from),
                    Err(refusal) => Err(refuse(refusal)),
                }
            })
            .durable()
            .await?;
        tracing::info!(province = %op.province, amount = %op.amount, withdrawal = op.withdrawal, forced = op.forced, operator = %op.operator, reason = %op.reason, "prepaid funds changed");
        Ok(op)
    }

    /// Writes what a deposit or withdrawal came to; returns the operation.
    fn apply_operation(tx: &Tx, command: &PrepaidCommand, decided: OperationDecision) -> Result<PrepaidOp, TxFail> {
        match decided {
            OperationDecision::Recorded(op) => Ok(op),
            OperationDecision::Apply { entry, op } => {
                Self::post(tx, &entry)?;
                tx.put(PREPAID_OPS, &command.operation_id, &op)?;
                Ok(op)
            }
        }
    }

    /// Logs a warning when a province's usage reaches the yellow or red level.
    pub(super) fn warn_on_usage(&self, province: ProvinceCode) {
        match self.province_prepaid(province) {
            Ok(p) if p.level >= Level::Yellow => tracing::warn!(
                province = %province,
                usage_percent = %p.usage_percent,
                level = ?p.level,
                balance = %p.balance,
                "prepaid funds running short: deposit before payments are declined"
            ),
            Ok(_) => {}
            Err(error) => tracing::error!(%error, "cannot read prepaid funds"),
        }
    }

    /// Every registered province's prepaid funds.
    pub fn prepaid_status(&self) -> HubResult<Vec<ProvincePrepaid>> {
        self.provinces().entries().map(|e| self.province_prepaid(e.code)).collect()
    }

    /// One province's prepaid funds, as the store holds them now.
    pub fn province_prepaid(&self, province: ProvinceCode) -> HubResult<ProvincePrepaid> {
        let funds = Funds {
            prepaid: self.store.balance(&store::prepaid(province))?,
            unsettled: self.store.balance(&store::unsettled(province))?,
            reserved: self.store.get(RESERVED, province.as_str())?.unwrap_or(Money::ZERO),
        };
        let required = self.required_level(province)?;
        Ok(prepaid::status(province, &funds, required, self.policy())?)
    }

    /// The level a province's prepaid funds should have (see `domain::prepaid::required_level`).
    pub fn required_level(&self, province: ProvinceCode) -> HubResult<Money> {
        let months = self
            .store
            .scan_prefix(MONTHS, b"")
            .map(|item| Ok(item?.1))
            .collect::<HubResult<Vec<MonthRecord>>>()?;
        Ok(prepaid::required_level(&months, province, self.policy().floor)?)
    }

    /// The required levels and top-ups right after a settlement, for the log.
    pub(super) fn top_up_requests(&self) -> HubResult<BTreeMap<ProvinceCode, Money>> {
        Ok(self
            .prepaid_status()?
            .into_iter()
            .filter(|p| !p.top_up.is_zero())
            .map(|p| (p.province, p.top_up))
            .collect())
    }
}
