//! Statements of a month: the lines of one province's cross-province
//! transactions, in the same order and canonical form at the hub and at the
//! node, with a running SHA-256 digest so a node can tell it received the
//! whole statement. Lines sort by kind then id, which is also how both sides
//! key them, so a reconciliation is a merge of two sorted streams.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{
    contract::TxKind,
    money::{Money, Overflow},
    FieldError, ProvinceCode,
};
use gongji_proto::v1 as pb;

/// Which way a line goes, for the province it belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// The province owes the counterpart.
    Payable,
    /// The counterpart owes the province.
    Receivable,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Payable => "payable",
            Direction::Receivable => "receivable",
        }
    }
}

/// One cross-province transaction of a month, seen from one province.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    pub kind: TxKind,
    pub id: String,
    pub counterpart: ProvinceCode,
    pub direction: Direction,
    pub amount: Money,
}

impl Line {
    /// The sort key of a line within a province's month: kind, then id.
    pub fn sort_key(&self) -> (&'static str, &str) {
        (self.kind.as_str(), &self.id)
    }

    /// The canonical text the digest covers.
    pub fn canonical(&self) -> String {
        format!(
            "{}|{}|{}|{}|{}\n",
            self.kind.as_str(),
            self.id,
            self.counterpart,
            self.direction.as_str(),
            self.amount
        )
    }

    pub fn to_pb(&self) -> pb::StatementLine {
        pb::StatementLine {
            kind: self.kind.to_pb() as i32,
            transaction_id: self.id.clone(),
            counterpart: self.counterpart.to_string(),
            direction: match self.direction {
                Direction::Payable => pb::Direction::Payable,
                Direction::Receivable => pb::Direction::Receivable,
            } as i32,
            amount: self.amount.to_string(),
        }
    }

    pub fn from_pb(line: pb::StatementLine) -> Result<Line, FieldError> {
        let kind = TxKind::from_pb(line.kind)?.ok_or_else(|| FieldError::new("line.kind", "is required"))?;
        let direction = match pb::Direction::try_from(line.direction) {
            Ok(pb::Direction::Payable) => Direction::Payable,
            Ok(pb::Direction::Receivable) => Direction::Receivable,
            _ => return Err(FieldError::new("line.direction", "is required")),
        };
        if line.transaction_id.is_empty() {
            return Err(FieldError::new("line.transaction_id", "is required"));
        }
        Ok(Line {
            kind,
            id: line.transaction_id,
            counterpart: ProvinceCode::parse("line.counterpart", &line.counterpart)?,
            direction,
            amount: Money::parse_unsigned("line.amount", &line.amount)?,
        })
    }
}

/// What a statement's lines add up to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    pub lines: u64,
    pub payable: Money,
    pub receivable: Money,
    /// Hex SHA-256 over the canonical lines in order.
    pub digest: String,
}

impl Totals {
    /// Receivable minus payable.
    pub fn net(&self) -> Result<Money, Overflow> {
        self.receivable.checked_sub(self.payable)
    }
}

/// Adds up lines as they stream past, in constant memory.
pub struct Summer {
    hasher: Sha256,
    lines: u64,
    payable: Money,
    receivable: Money,
}

impl Default for Summer {
    fn default() -> Summer {
        Summer {
            hasher: Sha256::new(),
            lines: 0,
            payable: Money::ZERO,
            receivable: Money::ZERO,
        }
    }
}

impl Summer {
    pub fn add(&mut self, line: &Line) -> Result<(), Overflow> {
        self.hasher.update(line.canonical().as_bytes());
        self.lines += 1;
        match line.direction {
            Direction::Payable => self.payable = self.payable.checked_add(line.amount)?,
            Direction::Receivable => self.receivable = self.receivable.checked_add(line.amount)?,
        }
        Ok(())
    }

    pub fn finish(self) -> Totals {
        let digest = self.hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
        Totals {
            lines: self.lines,
            payable: self.payable,
            receivable: self.receivable,
            digest,
        }
    }
}

/// Checks that the lines received add up to the summary the sender gave: a
/// truncated or altered statement fails here.
pub fn verify(received: &Totals, summary: &Totals) -> Result<(), String> {
    if received.lines != summary.lines {
        return Err(format!("received {} lines, the summary says {}", received.lines, summary.lines));
    }
    if received.digest != summary.digest {
        return Err("the lines received do not match the summary's digest".into());
    }
    if received.payable != summary.payable || received.receivable != summary.receivable {
        return Err("the lines received do not add up to the summary's totals".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(id: &str, direction: Direction, fen: i64) -> Line {
        Line {
            kind: TxKind::Payment,
            id: id.into(),
            counterpart: ProvinceCode::parse("p", "41").unwrap(),
            direction,
            amount: Money::from_fen(fen),
        }
    }

    #[test]
    fn a_truncated_or_altered_statement_fails_verification() {
        let lines = [
            line("a", Direction::Payable, 1000),
            line("b", Direction::Receivable, 250),
            line("c", Direction::Payable, 1),
        ];
        let mut sender = Summer::default();
        lines.iter().for_each(|l| sender.add(l).unwrap());
        let summary = sender.finish();
        assert_eq!(summary.net().unwrap(), Money::from_fen(-751));

        let mut whole = Summer::default();
        lines.iter().for_each(|l| whole.add(l).unwrap());
        assert_eq!(verify(&whole.finish(), &summary), Ok(()));

        let mut truncated = Summer::default();
        lines[..2].iter().for_each(|l| truncated.add(l).unwrap());
        assert!(verify(&truncated.finish(), &summary).is_err());

        let mut altered = Summer::default();
        let mut changed = lines.clone();
        changed[1].amount = Money::from_fen(251);
        changed[2].amount = Money::from_fen(0);
        changed.iter().for_each(|l| altered.add(l).unwrap());
        assert!(verify(&altered.finish(), &summary).unwrap_err().contains("digest"));
    }

    #[test]
    fn lines_survive_the_wire_in_canonical_form() {
        let l = line("pay-1", Direction::Receivable, 12_850);
        assert_eq!(l.canonical(), "payment|pay-1|41|receivable|128.50\n");
        assert_eq!(Line::from_pb(l.to_pb()).unwrap(), l);
    }
}
