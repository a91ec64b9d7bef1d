//! Statements of a month: the lines of one province's cross-province
//! transactions, in the same order and canonical form at the hub and at the
//! node, with a digest so a node can tell it received the whole statement.
//! Lines sort by kind then id, which is also how both sides key them, so a
//! reconciliation is a merge of two sorted streams. The digest is the sum of
//! each line's SHA-256 (modulo 2^256): it does not depend on the order, so
//! the hub keeps each statement's totals as lines are posted, and a missing,
//! extra or altered line changes it.

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

/// Adds up lines, in any order, in constant memory; kept as a stored value
/// by the hub, which adds each line as it is posted.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Summer {
    lines: u64,
    payable: Money,
    receivable: Money,
    /// The sum of the lines' SHA-256 digests, a 256-bit little-endian number.
    digest_sum: [u8; 32],
}

impl Summer {
    pub fn add(&mut self, line: &Line) -> Result<(), Overflow> {
        let (payable, receivable) = match line.direction {
            Direction::Payable => (self.payable.checked_add(line.amount)?, self.receivable),
            Direction::Receivable => (self.payable, self.receivable.checked_add(line.amount)?),
        };
        self.payable = payable;
        self.receivable = receivable;
        self.lines += 1;
        let digest = Sha256::digest(line.canonical().as_bytes());
        let mut carry = 0u16;
        for (sum, byte) in self.digest_sum.iter_mut().zip(digest.iter()) {
            let total = u16::from(*sum) + u16::from(*byte) + carry;
            *sum = (total & 0xff) as u8;
            carry = total >> 8;
        }
        Ok(())
    }

    pub fn finish(&self) -> Totals {
        // Written most significant byte first, as numbers are.
        let digest = self.digest_sum.iter().rev().map(|b| format!("{b:02x}")).collect();
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
    fn the_digest_does_not_depend_on_the_order_and_carries_across_bytes() {
        let lines: Vec<Line> = (0..50)
            .map(|i| {
                line(
                    &format!("p{i}"),
                    if i % 3 == 0 { Direction::Payable } else { Direction::Receivable },
                    i * 7,
                )
            })
            .collect();
        let mut forward = Summer::default();
        lines.iter().for_each(|l| forward.add(l).unwrap());
        let mut backward = Summer::default();
        lines.iter().rev().for_each(|l| backward.add(l).unwrap());
        assert_eq!(forward.finish(), backward.finish());
        assert_eq!(forward.finish().lines, 50);

        // The sum of two digests, computed independently with u128 halves.
        let (a, b) = (&lines[0], &lines[1]);
        let mut two = Summer::default();
        two.add(a).unwrap();
        two.add(b).unwrap();
        let halves = |l: &Line| {
            let d = Sha256::digest(l.canonical().as_bytes());
            let low = u128::from_le_bytes(d[..16].try_into().unwrap());
            let high = u128::from_le_bytes(d[16..].try_into().unwrap());
            (low, high)
        };
        let ((al, ah), (bl, bh)) = (halves(a), halves(b));
        let (low, carry) = al.overflowing_add(bl);
        let high = ah.wrapping_add(bh).wrapping_add(u128::from(carry));
        assert_eq!(two.finish().digest, format!("{high:032x}{low:032x}"));
    }

    #[test]
    fn lines_survive_the_wire_in_canonical_form() {
        let l = line("pay-1", Direction::Receivable, 12_850);
        assert_eq!(l.canonical(), "payment|pay-1|41|receivable|128.50\n");
        assert_eq!(Line::from_pb(l.to_pb()).unwrap(), l);
    }
}
