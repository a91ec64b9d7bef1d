//! The rules of a province node, without I/O: what an insured person, a
//! relationship, a payment, a refund and a transfer are, which commands exist
//! (validated once at the edge, so they cannot be invalid), and how a node
//! decides. Every flow is load → decide → apply: the service loads the state
//! a decision needs in a store transaction, a pure `decide_*` function here
//! (state, command and time in; [`Decision`] or [`Refusal`] out) decides,
//! and the service applies the decision's [`Change`]s in the same
//! transaction. Storage and transport call into this module; it calls
//! neither, and reads no clock.

mod answer;
mod change;
mod event;
mod giveback;
mod notice;
mod payment;
mod person;
mod reconciliation;
mod refund;
mod refusal;
mod relationship;
mod reversal;
mod statement;
mod transfer;
mod wallet;

pub use answer::{Answered, HubAnswer};
pub use change::{Book, Change, CrossLine, Decision, Move};
pub use event::{Event, EventKind};
pub use giveback::{count_use, follow, forward_id, give_back, mirror_return, Recipient, Source};
pub use gongji_common::contract::{
    CrossPayment, CrossRefund, CrossTransfer, Decline, DeclineReason, EndReason, Fund, Grant, Party, Payee, Purpose, RelationKind, TxStatus,
};
pub use notice::{decide_notice, Delivery, NoticeState};
pub use payment::{
    acquired_approval, check_beneficiary_may_pay, check_institution, check_touch, choose_relationship, decide_debit, decide_payment,
    decide_payment_answer, may_touch, not_active, route, AcquiredPayment, AnswerState, DebitState, IssuedDebit, Paid, PayCommand,
    PaymentState, Reversal, Tombstone,
};
pub use person::{
    check_account_holder, decide_cascade, decide_credit, decide_register, decide_terminate, payee_region, quotas_reference, region_of,
    CascadeState, Contribution, CreditCommand, ImportOutcome, InsuranceType, Person, PersonStatus, RegisterCommand,
};
pub use reconciliation::{Comparison, Mismatch, RegionTotals, Report};
pub use refund::{
    decide_refund, decide_refund_answer, decide_take_back, status_word, RefundAnswerState, RefundCommand, RefundRecord, RefundState,
    TakeBackState,
};
pub use refusal::Refusal;
pub use relationship::{
    check_beneficiary, check_donor, check_quota_change, check_spend, decide_dissolve, decide_establish, decide_grant_answer,
    decide_grant_received, decide_quota_change, end, quota_event, End, EstablishCommand, EstablishState, Held, QuotaChangeCommand,
    QuotaChangeRecord, QuotaChangeState, Relationship, RelationshipStatus,
};
pub use reversal::{
    decide_debit_reversal, decide_reversal, decide_reversal_answer, reversal_reference, DebitReversalState, ReversalAnswerState,
    ReversalState, Reversed,
};
pub use statement::{statement, AccountHistory, Balances, Movement, Range, Role, Statement};
pub use transfer::{
    decide_hold, decide_transfer, decide_transfer_answer, decide_transfer_in, onward_reference, rest_reference, TransferAnswerState,
    TransferCommand, TransferIn, TransferInState, TransferOut,
};
pub use wallet::{
    cst_day, decide_accept_across, decide_accept_answer, decide_acceptance_at_sender, decide_open_wallet, decide_send, decide_settle,
    decide_wallet_credit, decide_wallet_end, decide_wallet_pay, decide_wallet_refund, decide_wallet_reverse, wallet_reference,
    IncomingWallet, RecipientState, SendCommand, SendState, Settle, Wallet, WalletCredit, WalletLimits, WalletPayment, WalletStatus,
    WalletTransfer,
};
