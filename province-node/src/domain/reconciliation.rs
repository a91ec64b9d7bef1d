//! A reconciliation (对账) report: how this node's cross-province lines of
//! a month compared with its statement from the hub, line by line, with the
//! node's totals by pooling region. Stored as it was made; the service
//! makes it by merging the two sorted streams.

use std::collections::BTreeMap;

use gongji_common::{
    statement::{Line, Totals},
    Money, Period, RegionCode,
};
use serde::{Deserialize, Serialize};

/// How many mismatched lines a stored report lists (the counts are always complete).
const LISTED_MISMATCHES: usize = 10_000;

/// How a line compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Comparison {
    OnlyAtHub,
    OnlyAtNode,
    AmountDiffers,
    CounterpartDiffers,
}

/// A line that did not match.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mismatch {
    pub comparison: Comparison,
    pub at_hub: Option<Line>,
    pub at_node: Option<Line>,
}

/// This node's totals in one pooling region.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegionTotals {
    pub lines: u64,
    pub payable: Money,
    pub receivable: Money,
}

/// A stored reconciliation report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub period: Period,
    pub confirmed: bool,
    pub matched: u64,
    pub only_at_hub: u64,
    pub only_at_node: u64,
    pub amount_differs: u64,
    pub counterpart_differs: u64,
    pub mismatches: Vec<Mismatch>,
    pub regions: BTreeMap<RegionCode, RegionTotals>,
    pub statement: Totals,
    pub at: i64,
}

impl Report {
    pub fn all_matched(&self) -> bool {
        self.only_at_hub + self.only_at_node + self.amount_differs + self.counterpart_differs == 0
    }

    /// Counts a line that did not match; lists the first ones.
    pub fn note(&mut self, comparison: Comparison, at_hub: Option<Line>, at_node: Option<Line>) {
        match comparison {
            Comparison::OnlyAtHub => self.only_at_hub += 1,
            Comparison::OnlyAtNode => self.only_at_node += 1,
            Comparison::AmountDiffers => self.amount_differs += 1,
            Comparison::CounterpartDiffers => self.counterpart_differs += 1,
        }
        if self.mismatches.len() < LISTED_MISMATCHES {
            self.mismatches.push(Mismatch {
                comparison,
                at_hub,
                at_node,
            });
        }
    }

    /// A sentence on the first differences, for the hub's dispute record.
    pub fn detail(&self) -> String {
        let first: Vec<String> = self
            .mismatches
            .iter()
            .take(5)
            .map(|m| {
                let line = m.at_hub.as_ref().or(m.at_node.as_ref());
                let id = line.map_or(String::new(), |l| format!("{} {}", l.kind.as_str(), l.id));
                format!("{id}: {:?}", m.comparison).to_lowercase()
            })
            .collect();
        first.join("; ")
    }
}
