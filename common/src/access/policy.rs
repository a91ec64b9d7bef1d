//! Which roles may call which method: one table per public service, and
//! whether a call changes state (an operator's call that may is written to
//! the audit log). A method missing from its table needs the operator role.
//! The README's table of roles is this one.

use super::Role;

/// What a method needs of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Any role; reads only.
    Read,
    /// Viewer or operator; reads only (the audit log).
    Audit,
    /// Institution or operator: payments, refunds, reversals.
    Payment,
    /// Service or operator: relationships.
    Relationship,
    /// Operator only.
    Operator,
}

impl Need {
    pub fn roles(self) -> &'static [Role] {
        match self {
            Need::Read => &Role::ALL,
            Need::Audit => &[Role::Viewer, Role::Operator],
            Need::Payment => &[Role::Institution, Role::Operator],
            Need::Relationship => &[Role::Service, Role::Operator],
            Need::Operator => &[Role::Operator],
        }
    }

    pub fn allows(self, role: Role) -> bool {
        self.roles().contains(&role)
    }

    /// Whether a call may change what the server holds.
    pub fn changes_state(self) -> bool {
        !matches!(self, Need::Read | Need::Audit)
    }

    /// The roles, for a refusal's message ("institution or operator").
    pub fn describe(self) -> String {
        if self == Need::Read {
            return "any".into();
        }
        let words: Vec<&str> = self.roles().iter().map(|r| r.as_str()).collect();
        match words.split_last() {
            Some((last, [])) => (*last).to_owned(),
            Some((last, first)) => format!("{} or {last}", first.join(", ")),
            None => "no".into(),
        }
    }
}

/// One public service's table.
#[derive(Debug)]
pub struct Policy {
    /// The service's full name, "gongji.v1.ProvinceNode".
    pub service: &'static str,
    pub methods: &'static [(&'static str, Need)],
}

impl Policy {
    /// What `method` (its bare name, "Pay") needs; operator for a method
    /// the table does not list.
    pub fn need(&self, method: &str) -> Need {
        self.methods
            .iter()
            .find(|(name, _)| *name == method)
            .map_or(Need::Operator, |(_, need)| *need)
    }
}

/// `gongji.v1.ProvinceNode`, at each province node.
pub const PROVINCE_NODE: Policy = Policy {
    service: "gongji.v1.ProvinceNode",
    methods: &[
        ("GetNodeInfo", Need::Read),
        ("GetPerson", Need::Read),
        ("GetAccount", Need::Read),
        ("GetRelationship", Need::Read),
        ("ListRelationships", Need::Read),
        ("GetRelationshipHistory", Need::Read),
        ("GetPayment", Need::Read),
        ("ListPayments", Need::Read),
        ("ListRefunds", Need::Read),
        ("ListTransfers", Need::Read),
        ("GetRefund", Need::Read),
        ("GetTransfer", Need::Read),
        ("GetReconciliation", Need::Read),
        ("SelfCheck", Need::Read),
        ("StreamLines", Need::Read),
        ("StreamRelationships", Need::Read),
        ("GetWallet", Need::Read),
        ("ListWalletTransfers", Need::Read),
        ("GetPersonStatement", Need::Read),
        ("ListOperatorActions", Need::Audit),
        ("Pay", Need::Payment),
        ("RefundPayment", Need::Payment),
        ("ReversePayment", Need::Payment),
        ("PayFromWallet", Need::Payment),
        ("RefundWalletPayment", Need::Payment),
        ("ReverseWalletPayment", Need::Payment),
        ("EstablishRelationship", Need::Relationship),
        ("ChangeQuota", Need::Relationship),
        ("DissolveRelationship", Need::Relationship),
        ("OpenWallet", Need::Relationship),
        ("SendToWallet", Need::Relationship),
        ("AcceptWalletTransfer", Need::Relationship),
        ("DeclineWalletTransfer", Need::Relationship),
        ("CancelWalletTransfer", Need::Relationship),
        ("RegisterPerson", Need::Operator),
        ("ImportPersons", Need::Operator),
        ("CreditContribution", Need::Operator),
        ("TerminateInsurance", Need::Operator),
        ("TransferInsurance", Need::Operator),
        ("ReconcileMonth", Need::Operator),
    ],
};

/// `gongji.v1.NationalHub`, at the hub.
pub const NATIONAL_HUB: Policy = Policy {
    service: "gongji.v1.NationalHub",
    methods: &[
        ("GetHubInfo", Need::Read),
        ("ListProvinces", Need::Read),
        ("GetOpenPeriod", Need::Read),
        ("GetTransaction", Need::Read),
        ("GetWalletTransfer", Need::Read),
        ("ListWalletTransfers", Need::Read),
        ("ListTransactions", Need::Read),
        ("GetPositions", Need::Read),
        ("GetMonth", Need::Read),
        ("GetClearing", Need::Read),
        ("GetPrepaid", Need::Read),
        ("ListPeriods", Need::Read),
        ("SelfCheck", Need::Read),
        ("StreamLines", Need::Read),
        ("ListOperatorActions", Need::Audit),
        ("CloseMonth", Need::Operator),
        ("SettleMonth", Need::Operator),
        ("DepositPrepaid", Need::Operator),
        ("WithdrawPrepaid", Need::Operator),
    ],
};

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use prost::Message;

    use super::*;

    /// The methods of a service, from the contracts.
    fn methods(service: &str) -> BTreeSet<String> {
        let set = prost_types::FileDescriptorSet::decode(gongji_proto::FILE_DESCRIPTOR_SET).unwrap();
        set.file
            .iter()
            .flat_map(|file| file.service.iter().map(move |s| (file.package(), s)))
            .filter(|(package, s)| format!("{package}.{}", s.name()) == service)
            .flat_map(|(_, s)| s.method.iter().map(|m| m.name().to_owned()))
            .collect()
    }

    #[test]
    fn every_method_of_the_contracts_is_in_its_table_once() {
        for policy in [&PROVINCE_NODE, &NATIONAL_HUB] {
            let listed: Vec<&str> = policy.methods.iter().map(|(m, _)| *m).collect();
            let unique: BTreeSet<String> = listed.iter().map(|m| m.to_string()).collect();
            assert_eq!(unique.len(), listed.len(), "{} lists a method twice", policy.service);
            assert_eq!(unique, methods(policy.service), "{}'s table and contract differ", policy.service);
        }
    }

    #[test]
    fn reads_are_open_to_every_role_and_changes_need_the_right_one() {
        let node = &PROVINCE_NODE;
        for role in Role::ALL {
            assert!(node.need("GetPayment").allows(role));
            assert!(NATIONAL_HUB.need("GetMonth").allows(role));
        }
        assert!(node.need("Pay").allows(Role::Institution));
        assert!(!node.need("Pay").allows(Role::Service));
        assert!(!node.need("Pay").allows(Role::Viewer));
        assert!(node.need("ReversePayment").allows(Role::Institution));
        assert!(node.need("EstablishRelationship").allows(Role::Service));
        assert!(!node.need("EstablishRelationship").allows(Role::Institution));
        assert!(!node.need("CreditContribution").allows(Role::Institution));
        assert!(!node.need("ListOperatorActions").allows(Role::Institution));
        assert!(node.need("ListOperatorActions").allows(Role::Viewer));
        for method in ["CloseMonth", "SettleMonth", "DepositPrepaid", "WithdrawPrepaid"] {
            let need = NATIONAL_HUB.need(method);
            assert_eq!(need.roles(), [Role::Operator], "{method}");
            assert!(need.changes_state());
        }
        assert!(!NATIONAL_HUB.need("ListOperatorActions").changes_state());
        assert!(!NATIONAL_HUB.need("SelfCheck").changes_state());
        assert!(node.need("Pay").changes_state());
    }

    #[test]
    fn an_unknown_method_needs_the_operator() {
        assert_eq!(PROVINCE_NODE.need("DropEverything"), Need::Operator);
        assert_eq!(NATIONAL_HUB.need(""), Need::Operator);
    }

    #[test]
    fn refusals_name_the_roles_in_words() {
        assert_eq!(Need::Operator.describe(), "operator");
        assert_eq!(Need::Payment.describe(), "institution or operator");
        assert_eq!(Need::Audit.describe(), "viewer or operator");
        assert_eq!(Need::Read.describe(), "any");
    }
}
