//! The monthly cycle and prepaid funds: `gongji month list|status|close|
//! reconcile|reconciliation|report|settle` and `gongji prepaid
//! status|deposit|withdraw`. Each command makes one call to the hub or a
//! node and prints the answer; sums are computed on `Money` (`totals`).
//! A disputed reconciliation is an answer, not an error, but exits with 1 so
//! scripts can tell.

use std::io::Write;

use gongji_proto::v1 as pb;

use crate::{
    args::{
        CloseArgs, HubArg, Irreversible, MonthArg, MonthAtHub, MonthAtNode, MonthCommand, PrepaidCommand, PrepaidOperationArgs, ReportArgs,
        SettleArgs, WithdrawArgs,
    },
    error::{CliError, EXIT_DISPUTED, EXIT_OK},
    output::{cycle as output, Out},
    progress::{self, Display, Progress},
    session::{HubClient, Session},
    totals::{AmountError, ClearingTotals, RegionSums, SettlementSums},
};

pub async fn month(
    session: &Session,
    command: MonthCommand,
    display: Display,
    out: &mut Out<'_>,
    err: &mut dyn Write,
) -> Result<u8, CliError> {
    match command {
        MonthCommand::List(hub) => list(session, hub, out).await,
        MonthCommand::Status(args) => status(session, args, out).await,
        MonthCommand::Close(args) => close(session, args, out).await,
        MonthCommand::Reconcile(args) => reconcile(session, args, display, out, err).await,
        MonthCommand::Reconciliation(args) => reconciliation(session, args, out).await,
        MonthCommand::Report(args) => report(session, args, out).await,
        MonthCommand::Settle(args) => settle(session, args, out).await,
    }
}

pub async fn prepaid(session: &Session, command: PrepaidCommand, out: &mut Out<'_>) -> Result<u8, CliError> {
    match command {
        PrepaidCommand::Status(hub) => {
            let mut hub = session.hub(&hub).await?;
            let status = hub
                .get_prepaid(pb::GetPrepaidRequest {})
                .await
                .map_err(CliError::call)?
                .into_inner();
            output::prepaid_status(out, &status)?;
            Ok(EXIT_OK)
        }
        PrepaidCommand::Deposit(args) => prepaid_operation(session, args, None, out).await,
        PrepaidCommand::Withdraw(args) => withdraw(session, args, out).await,
    }
}

/// The month `month` names: as given, or asked of the hub (`open`, `previous`).
async fn resolve(month: MonthArg, hub: &mut HubClient) -> Result<gongji_common::Period, CliError> {
    let open = match month {
        MonthArg::At(period) => return Ok(period),
        MonthArg::Open | MonthArg::Previous => {
            hub.get_open_period(pb::GetOpenPeriodRequest {})
                .await
                .map_err(CliError::call)?
                .into_inner()
                .period
        }
    };
    let open = gongji_common::Period::parse("period", &open).map_err(|e| CliError::Other(format!("the hub's open month: {e}")))?;
    Ok(if month == MonthArg::Previous { open.previous() } else { open })
}

/// The month `month` names, asking the hub `at` for a word.
async fn resolve_at(session: &Session, month: MonthArg, at: &HubArg) -> Result<gongji_common::Period, CliError> {
    match month {
        MonthArg::At(period) => Ok(period),
        word => resolve(word, &mut session.hub(at).await?).await,
    }
}

/// Goes on with something that cannot be undone only if told --yes, or
/// told so at a terminal by typing `word`; refuses otherwise, naming the
/// flags. (Not reached with --dry-run.)
fn confirm(guard: &Irreversible, what: &str, word: &str) -> Result<(), CliError> {
    use std::io::IsTerminal;
    if guard.yes {
        return Ok(());
    }
    if !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
        return Err(CliError::Usage(format!(
            "{what} cannot be undone: add --yes to do it, or --dry-run to see what it would do"
        )));
    }
    eprint!("{what} cannot be undone. Type {word} to go on: ");
    let mut typed = String::new();
    std::io::stdin()
        .read_line(&mut typed)
        .map_err(|e| CliError::Other(format!("reading the confirmation: {e}")))?;
    if typed.trim() == word {
        Ok(())
    } else {
        Err(CliError::Usage(format!(
            "not confirmed (typed {:?}, not {word}): nothing was done",
            typed.trim()
        )))
    }
}

/// An amount the server sent that does not add up as an amount.
fn malformed(what: &str, period: &str) -> impl Fn(AmountError) -> CliError {
    let (what, period) = (what.to_owned(), period.to_owned());
    move |e| CliError::Other(format!("the {what} of {period} has {e}"))
}

/// `gongji month list`: each month the hub knows, with the gross amount of
/// its clearing once it is closed.
async fn list(session: &Session, at: HubArg, out: &mut Out<'_>) -> Result<u8, CliError> {
    let mut hub = session.hub(&at).await?;
    let periods = hub
        .list_periods(pb::ListPeriodsRequest {})
        .await
        .map_err(CliError::call)?
        .into_inner()
        .periods;
    let mut months = Vec::with_capacity(periods.len());
    for period in periods {
        let month = hub
            .get_month(pb::GetMonthRequest { period: period.clone() })
            .await
            .map_err(CliError::call)?
            .into_inner();
        let cleared = month.state >= pb::MonthState::Closed as i32;
        let gross = if cleared {
            Some(clearing_of(&mut hub, &period).await?.1.grand_total)
        } else {
            None
        };
        months.push((month, gross));
    }
    output::months(out, &months)?;
    Ok(EXIT_OK)
}

async fn status(session: &Session, args: MonthAtHub, out: &mut Out<'_>) -> Result<u8, CliError> {
    let mut hub = session.hub(&args.hub).await?;
    let period = resolve(args.period.unwrap_or(MonthArg::Open), &mut hub).await?;
    let month = hub
        .get_month(pb::GetMonthRequest {
            period: period.to_string(),
        })
        .await
        .map_err(CliError::call)?
        .into_inner();
    output::month(out, &month)?;
    Ok(EXIT_OK)
}

async fn close(session: &Session, args: CloseArgs, out: &mut Out<'_>) -> Result<u8, CliError> {
    let mut hub = session.hub(&args.hub).await?;
    let period = resolve(args.period, &mut hub).await?;
    if args.guard.dry_run {
        let month = hub
            .get_month(pb::GetMonthRequest {
                period: period.to_string(),
            })
            .await
            .map_err(CliError::call)?
            .into_inner();
        output::month(out, &month)?;
        writeln!(
            out,
            "dry run: closing {period} would stamp new transactions with {} at once and clear {period} once its {} pending \
             transaction(s) are decided; nothing was changed",
            period.next(),
            month.pending
        )?;
        return Ok(EXIT_OK);
    }
    confirm(&args.guard, &format!("closing month {period}"), &period.to_string())?;
    let month = hub
        .close_month(pb::CloseMonthRequest {
            period: period.to_string(),
        })
        .await
        .map_err(|status| CliError::idempotent_call(status, "closing again is safe: run the same command again"))?
        .into_inner();
    let month = if args.wait { wait_closed(&mut hub, month).await? } else { month };
    output::month(out, &month)?;
    output::close_note(out, &month)?;
    Ok(EXIT_OK)
}

/// Polls the hub until `month` is no longer closing (at most 10 minutes).
async fn wait_closed(hub: &mut HubClient, mut month: pb::Month) -> Result<pb::Month, CliError> {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(600);
    while month.state == pb::MonthState::Closing as i32 {
        if tokio::time::Instant::now() > deadline {
            return Err(CliError::Other(format!(
                "{} is still closing after 10 minutes: {} transaction(s) stamped with it are pending; \
                 `gongji month status {}` shows when it is closed",
                month.period, month.pending, month.period
            )));
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        month = hub
            .get_month(pb::GetMonthRequest {
                period: month.period.clone(),
            })
            .await
            .map_err(CliError::call)?
            .into_inner();
    }
    Ok(month)
}

/// A disputed month exits with [`EXIT_DISPUTED`]: not an error, but scripts
/// must be able to tell.
fn reconciliation_exit(report: &pb::Reconciliation) -> u8 {
    if report.confirmed {
        EXIT_OK
    } else {
        EXIT_DISPUTED
    }
}

fn print_reconciliation(report: &pb::Reconciliation, out: &mut Out<'_>) -> Result<u8, CliError> {
    let sums = RegionSums::of(&report.regions).map_err(malformed("reconciliation report", &report.period))?;
    output::reconciliation(out, report, &sums)?;
    Ok(reconciliation_exit(report))
}

/// The month a node command names (the hub tells `open` and `previous`).
async fn node_month(session: &Session, args: &MonthAtNode) -> Result<gongji_common::Period, CliError> {
    resolve_at(session, args.period, &HubArg { hub: args.hub.clone() }).await
}

async fn reconcile(session: &Session, args: MonthAtNode, display: Display, out: &mut Out<'_>, err: &mut dyn Write) -> Result<u8, CliError> {
    let period = node_month(session, &args).await?.to_string();
    let mut node = session.reconciling_node(&args.node).await?;
    // The node does the work in one call: progress can only tell the time.
    let mut progress = Progress::start(display, format!("reconciling {period}"), None, None).quiet_if_quick();
    let answer = node.reconcile_month(pb::ReconcileMonthRequest { period: period.clone() });
    tokio::pin!(answer);
    let mut ticks = tokio::time::interval(progress::TICK);
    let answer = loop {
        tokio::select! {
            answer = &mut answer => break answer,
            _ = ticks.tick() => progress.update(0, err),
        }
    };
    progress.finish(err);
    let report = answer
        .map_err(|status| {
            CliError::idempotent_call(
                status,
                &format!("reconciling again is safe; `gongji month reconciliation {period}` shows the last report the node stored"),
            )
        })?
        .into_inner();
    print_reconciliation(&report, out)
}

async fn reconciliation(session: &Session, args: MonthAtNode, out: &mut Out<'_>) -> Result<u8, CliError> {
    let period = node_month(session, &args).await?;
    let mut node = session.node(&args.node).await?;
    let report = node
        .get_reconciliation(pb::ReconcileMonthRequest {
            period: period.to_string(),
        })
        .await
        .map_err(CliError::call)?
        .into_inner();
    print_reconciliation(&report, out)
}

/// The clearing of a closed month, and its sums.
async fn clearing_of(hub: &mut HubClient, period: &str) -> Result<(pb::Clearing, ClearingTotals), CliError> {
    let clearing = hub
        .get_clearing(pb::GetClearingRequest { period: period.to_owned() })
        .await
        .map_err(CliError::call)?
        .into_inner();
    let totals = ClearingTotals::from_pb(&clearing).map_err(malformed("clearing", period))?;
    Ok((clearing, totals))
}

async fn report(session: &Session, args: ReportArgs, out: &mut Out<'_>) -> Result<u8, CliError> {
    let mut hub = session.hub(&args.hub).await?;
    let period = resolve(args.period, &mut hub).await?.to_string();
    let (clearing, totals) = clearing_of(&mut hub, &period).await?;
    output::clearing(out, &clearing, &totals)?;
    if !totals.balanced() {
        let mut why = totals.inconsistencies.clone();
        if !totals.nets_sum.is_zero() {
            why.insert(0, format!("its nets sum to {}, not 0.00", totals.nets_sum));
        }
        let unwritten = match &args.csv {
            Some(path) => format!("; {} was not written", path.display()),
            None => String::new(),
        } + &match &args.html {
            Some(path) => format!("; {} was not written", path.display()),
            None => String::new(),
        };
        return Err(CliError::Other(format!(
            "the clearing of {period} does not add up: {}{unwritten}",
            why.join("; ")
        )));
    }
    if let Some(path) = &args.csv {
        let bytes = totals
            .to_csv()
            .map_err(|e| CliError::Other(format!("cannot format the CSV: {e}")))?;
        std::fs::write(path, bytes).map_err(|e| CliError::Other(format!("cannot write {}: {e}", path.display())))?;
        writeln!(out, "matrix and nets written to {}", path.display())?;
    }
    if let Some(path) = &args.html {
        let month = hub
            .get_month(pb::GetMonthRequest { period: period.clone() })
            .await
            .map_err(CliError::call)?
            .into_inner();
        let prepaid = hub
            .get_prepaid(pb::GetPrepaidRequest {})
            .await
            .map_err(CliError::call)?
            .into_inner();
        let page = crate::output::html::month_report(&crate::output::html::MonthReport {
            month: &month,
            clearing: &clearing,
            totals: &totals,
            prepaid: &prepaid,
        });
        std::fs::write(path, page).map_err(|e| CliError::Other(format!("cannot write {}: {e}", path.display())))?;
        writeln!(
            out,
            "report written to {} (one HTML page: open it in any browser, offline)",
            path.display()
        )?;
    }
    Ok(EXIT_OK)
}

async fn settle(session: &Session, args: SettleArgs, out: &mut Out<'_>) -> Result<u8, CliError> {
    let mut hub = session.hub(&args.hub).await?;
    let period = resolve(args.period, &mut hub).await?.to_string();
    if args.guard.dry_run {
        let month = hub
            .get_month(pb::GetMonthRequest { period: period.clone() })
            .await
            .map_err(CliError::call)?
            .into_inner();
        output::month(out, &month)?;
        let clearing = hub.get_clearing(pb::GetClearingRequest { period: period.clone() }).await;
        if let Ok(clearing) = clearing {
            let clearing = clearing.into_inner();
            let totals = ClearingTotals::from_pb(&clearing).map_err(malformed("clearing", &period))?;
            output::clearing(out, &clearing, &totals)?;
        }
        writeln!(
            out,
            "dry run: settling {period} would draw each net payer's prepaid funds and pay each net receiver as above{}; \
             nothing was changed",
            if args.override_reason.is_some() {
                ", without waiting for every confirmation"
            } else {
                ""
            }
        )?;
        return Ok(EXIT_OK);
    }
    if args.override_reason.is_some() {
        confirm(&args.guard, &format!("settling month {period} without every confirmation"), &period)?;
    }
    let settlement = hub
        .settle_month(pb::SettleMonthRequest {
            period: period.clone(),
            override_reason: args.override_reason.unwrap_or_default(),
            operator: args.operator.unwrap_or_default(),
        })
        .await
        .map_err(|status| {
            if status.code() == tonic::Code::FailedPrecondition && status.message().contains("confirm") {
                return CliError::call(tonic::Status::failed_precondition(format!(
                    "{}; to settle without them: --override REASON --operator NAME --yes",
                    status.message()
                )));
            }
            CliError::idempotent_call(
                status,
                &format!("settling again is safe (it never settles twice); `gongji month status {period}` shows whether it is settled"),
            )
        })?
        .into_inner();
    let sums = SettlementSums::of(&settlement).map_err(malformed("settlement", &period))?;
    output::settlement(out, &settlement, &sums)?;
    Ok(EXIT_OK)
}

async fn withdraw(session: &Session, args: WithdrawArgs, out: &mut Out<'_>) -> Result<u8, CliError> {
    let operation = &args.operation;
    if args.guard.dry_run {
        let mut hub = session.hub(&operation.hub).await?;
        let status = hub
            .get_prepaid(pb::GetPrepaidRequest {})
            .await
            .map_err(CliError::call)?
            .into_inner();
        let province = operation.province.to_string();
        let Some(funds) = status.provinces.iter().find(|p| p.province == province) else {
            return Err(CliError::Usage(format!("province {province} is not connected to the hub")));
        };
        let balance = gongji_common::Money::parse_unsigned("balance", &funds.balance).map_err(|e| CliError::Other(e.to_string()))?;
        let required = gongji_common::Money::parse_unsigned("required", &funds.required).map_err(|e| CliError::Other(e.to_string()))?;
        let after = balance.checked_sub(operation.amount).map_err(|e| CliError::Other(e.to_string()))?;
        writeln!(
            out,
            "dry run: withdrawing {} would leave province {province} {after} (required {required}{}); nothing was changed",
            operation.amount,
            if after < required { ": below it, which needs --force" } else { "" }
        )?;
        return Ok(EXIT_OK);
    }
    confirm(
        &args.guard,
        &format!(
            "withdrawing {} from province {}'s prepaid funds",
            operation.amount, operation.province
        ),
        &operation.amount.to_string(),
    )?;
    prepaid_operation(session, args.operation, Some(args.force), out).await
}

/// A deposit (`withdrawal` none), or a withdrawal, forced or not.
async fn prepaid_operation(
    session: &Session,
    args: PrepaidOperationArgs,
    withdrawal: Option<bool>,
    out: &mut Out<'_>,
) -> Result<u8, CliError> {
    let reason = session
        .credentials
        .reason()
        .map(str::to_owned)
        .ok_or_else(|| CliError::Usage("--reason is required: why the prepaid funds move, recorded with the operation".into()))?;
    let mut hub = session.hub(&args.hub).await?;
    let request = pb::PrepaidOperationRequest {
        operation_id: args.id.to_string(),
        province: args.province.to_string(),
        amount: args.amount.to_string(),
        operator: args.operator,
        reason,
        force: withdrawal == Some(true),
    };
    let (what, answer) = if withdrawal.is_some() {
        ("withdrawing", hub.withdraw_prepaid(request).await)
    } else {
        ("depositing", hub.deposit_prepaid(request).await)
    };
    let operation = answer
        .map_err(|status| {
            CliError::idempotent_call(
                status,
                &format!("{what} again with the same --id is safe: it is recorded at most once"),
            )
        })?
        .into_inner();
    output::prepaid_operation(out, &operation)?;
    Ok(EXIT_OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_disputed_reconciliation_exits_with_1_and_a_confirmed_one_with_0() {
        let mut report = pb::Reconciliation {
            confirmed: true,
            ..Default::default()
        };
        assert_eq!(reconciliation_exit(&report), 0);
        report.confirmed = false;
        assert_eq!(reconciliation_exit(&report), 1);
    }
}
