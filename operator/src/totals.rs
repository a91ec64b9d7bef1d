//! Sums of the amounts the servers send, on `Money` (a decimal), never on
//! floats: the clearing matrix of a month with its totals and the check
//! that the nets sum to zero, its CSV form, and the totals of a settlement
//! and of a reconciliation's regional breakdown. Pure: no calls, no output.

use std::collections::{BTreeMap, BTreeSet};

use gongji_common::Money;
use gongji_proto::v1 as pb;

/// An amount from a server that is not an amount, or sums that overflow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmountError(pub String);

impl std::fmt::Display for AmountError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Parses an amount in wire form that may be negative ("-46.85"): the sign
/// is stripped, the rest parsed as an unsigned amount and negated.
pub fn signed(field: &str, text: &str) -> Result<Money, AmountError> {
    let parsed = match text.strip_prefix('-') {
        Some(magnitude) => Money::parse_unsigned(field, magnitude).map(Money::negated),
        None => Money::parse_unsigned(field, text),
    };
    parsed.map_err(|e| AmountError(format!("malformed amount: {e}")))
}

/// Parses a non-negative amount in wire form.
pub fn unsigned(field: &str, text: &str) -> Result<Money, AmountError> {
    Money::parse_unsigned(field, text).map_err(|e| AmountError(format!("malformed amount: {e}")))
}

fn add(a: Money, b: Money) -> Result<Money, AmountError> {
    a.checked_add(b).map_err(|e| AmountError(e.to_string()))
}

fn sub(a: Money, b: Money) -> Result<Money, AmountError> {
    a.checked_sub(b).map_err(|e| AmountError(e.to_string()))
}

/// One province's line of the nets, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Net {
    pub province: String,
    pub payable: Money,
    pub receivable: Money,
    pub net: Money,
}

/// The clearing of a month, summed: the gross of every ordered pair over all
/// kinds, row (payable) and column (receivable) totals, the nets and their
/// sum, and anything that does not add up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClearingTotals {
    /// Every province that pays, is paid or has a net line, ordered by code.
    pub provinces: Vec<String>,
    cells: BTreeMap<(String, String), Money>,
    /// Per payer: the sum of its row.
    pub row_totals: BTreeMap<String, Money>,
    /// Per payee: the sum of its column.
    pub column_totals: BTreeMap<String, Money>,
    /// Everything owed in the month.
    pub grand_total: Money,
    /// Transactions over all pairs and kinds.
    pub transactions: u64,
    pub nets: Vec<Net>,
    pub total_payable: Money,
    pub total_receivable: Money,
    /// The sum of the nets: 0.00 when the clearing balances.
    pub nets_sum: Money,
    /// Where the matrix and the nets disagree (empty when they agree).
    pub inconsistencies: Vec<String>,
}

impl ClearingTotals {
    pub fn from_pb(clearing: &pb::Clearing) -> Result<ClearingTotals, AmountError> {
        let mut cells: BTreeMap<(String, String), Money> = BTreeMap::new();
        let mut provinces = BTreeSet::new();
        let mut transactions = 0u64;
        for line in &clearing.lines {
            let gross = unsigned("gross", &line.gross)?;
            let cell = cells.entry((line.payer.clone(), line.payee.clone())).or_insert(Money::ZERO);
            *cell = add(*cell, gross)?;
            transactions = transactions.saturating_add(line.count);
            provinces.insert(line.payer.clone());
            provinces.insert(line.payee.clone());
        }
        let mut nets = Vec::new();
        for n in &clearing.nets {
            provinces.insert(n.province.clone());
            nets.push(Net {
                province: n.province.clone(),
                payable: unsigned("payable", &n.payable)?,
                receivable: unsigned("receivable", &n.receivable)?,
                net: signed("net", &n.net)?,
            });
        }

        let mut row_totals = BTreeMap::new();
        let mut column_totals = BTreeMap::new();
        for p in &provinces {
            row_totals.insert(p.clone(), Money::ZERO);
            column_totals.insert(p.clone(), Money::ZERO);
        }
        let mut grand_total = Money::ZERO;
        for ((payer, payee), gross) in &cells {
            if let Some(total) = row_totals.get_mut(payer) {
                *total = add(*total, *gross)?;
            }
            if let Some(total) = column_totals.get_mut(payee) {
                *total = add(*total, *gross)?;
            }
            grand_total = add(grand_total, *gross)?;
        }

        let (mut total_payable, mut total_receivable, mut nets_sum) = (Money::ZERO, Money::ZERO, Money::ZERO);
        let mut inconsistencies = Vec::new();
        for n in &nets {
            total_payable = add(total_payable, n.payable)?;
            total_receivable = add(total_receivable, n.receivable)?;
            nets_sum = add(nets_sum, n.net)?;
            if sub(n.receivable, n.payable)? != n.net {
                inconsistencies.push(format!(
                    "province {}: receivable {} minus payable {} is not its net {}",
                    n.province, n.receivable, n.payable, n.net
                ));
            }
        }
        for p in &provinces {
            let net = nets.iter().find(|n| &n.province == p);
            let (payable, receivable) = net.map_or((Money::ZERO, Money::ZERO), |n| (n.payable, n.receivable));
            let row = row_totals.get(p).copied().unwrap_or(Money::ZERO);
            let column = column_totals.get(p).copied().unwrap_or(Money::ZERO);
            if row != payable {
                inconsistencies.push(format!("province {p}: its row sums to {row} but its payable is {payable}"));
            }
            if column != receivable {
                inconsistencies.push(format!(
                    "province {p}: its column sums to {column} but its receivable is {receivable}"
                ));
            }
        }
        Ok(ClearingTotals {
            provinces: provinces.into_iter().collect(),
            cells,
            row_totals,
            column_totals,
            grand_total,
            transactions,
            nets,
            total_payable,
            total_receivable,
            nets_sum,
            inconsistencies,
        })
    }

    /// What `payer` owes `payee` over all kinds (0.00 when nothing).
    pub fn cell(&self, payer: &str, payee: &str) -> Money {
        self.cells
            .get(&(payer.to_owned(), payee.to_owned()))
            .copied()
            .unwrap_or(Money::ZERO)
    }

    /// Whether the nets sum to zero and the matrix agrees with them.
    pub fn balanced(&self) -> bool {
        self.nets_sum.is_zero() && self.inconsistencies.is_empty()
    }

    /// The matrix and the nets as CSV: two tables separated by one empty
    /// line (the layout `gongji month report --help` documents).
    pub fn to_csv(&self) -> Result<Vec<u8>, csv::Error> {
        let mut matrix = csv::Writer::from_writer(Vec::new());
        let mut header = vec!["payer \\ payee".to_owned()];
        header.extend(self.provinces.iter().cloned());
        header.push("total".into());
        matrix.write_record(&header)?;
        for payer in &self.provinces {
            let mut row = vec![payer.clone()];
            for payee in &self.provinces {
                row.push(if payer == payee {
                    String::new()
                } else {
                    self.cell(payer, payee).to_string()
                });
            }
            row.push(self.row_totals.get(payer).copied().unwrap_or(Money::ZERO).to_string());
            matrix.write_record(&row)?;
        }
        let mut totals = vec!["total".to_owned()];
        totals.extend(
            self.provinces
                .iter()
                .map(|p| self.column_totals.get(p).copied().unwrap_or(Money::ZERO).to_string()),
        );
        totals.push(self.grand_total.to_string());
        matrix.write_record(&totals)?;
        let mut bytes = matrix.into_inner().map_err(|e| e.into_error())?;

        bytes.push(b'\n');
        let mut nets = csv::Writer::from_writer(bytes);
        nets.write_record(["province", "payable", "receivable", "net"])?;
        for n in &self.nets {
            nets.write_record([
                n.province.clone(),
                n.payable.to_string(),
                n.receivable.to_string(),
                n.net.to_string(),
            ])?;
        }
        nets.write_record([
            "total".to_owned(),
            self.total_payable.to_string(),
            self.total_receivable.to_string(),
            self.nets_sum.to_string(),
        ])?;
        nets.into_inner().map_err(|e| e.into_error().into())
    }
}

/// The sums of a settlement's lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SettlementSums {
    /// 0.00 when the month balanced.
    pub net: Money,
    /// Drawn from the net payers' prepaid funds.
    pub drawn: Money,
    /// Paid out to the net receivers; equal to `drawn`.
    pub paid: Money,
}

impl SettlementSums {
    pub fn of(settlement: &pb::Settlement) -> Result<SettlementSums, AmountError> {
        let mut sums = SettlementSums {
            net: Money::ZERO,
            drawn: Money::ZERO,
            paid: Money::ZERO,
        };
        for line in &settlement.lines {
            sums.net = add(sums.net, signed("net", &line.net)?)?;
            sums.drawn = add(sums.drawn, unsigned("drawn", &line.drawn)?)?;
            sums.paid = add(sums.paid, unsigned("paid", &line.paid)?)?;
        }
        Ok(sums)
    }
}

/// The sums of a reconciliation's breakdown by pooling region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegionSums {
    pub lines: u64,
    pub payable: Money,
    pub receivable: Money,
    pub net: Money,
}

impl RegionSums {
    pub fn of(regions: &[pb::RegionTotal]) -> Result<RegionSums, AmountError> {
        let mut sums = RegionSums {
            lines: 0,
            payable: Money::ZERO,
            receivable: Money::ZERO,
            net: Money::ZERO,
        };
        for r in regions {
            sums.lines = sums.lines.saturating_add(r.lines);
            sums.payable = add(sums.payable, unsigned("payable", &r.payable)?)?;
            sums.receivable = add(sums.receivable, unsigned("receivable", &r.receivable)?)?;
            sums.net = add(sums.net, signed("net", &r.net)?)?;
        }
        Ok(sums)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn line(payer: &str, payee: &str, kind: pb::TransactionKind, count: u64, gross: &str) -> pb::ClearingLine {
        pb::ClearingLine {
            payer: payer.into(),
            payee: payee.into(),
            kind: kind as i32,
            count,
            gross: gross.into(),
        }
    }

    fn net(province: &str, payable: &str, receivable: &str, net: &str) -> pb::ProvinceNet {
        pb::ProvinceNet {
            province: province.into(),
            payable: payable.into(),
            receivable: receivable.into(),
            net: net.into(),
        }
    }

    /// A clearing of three provinces and three kinds (for the tests of what shows it).
    pub(crate) fn clearing() -> pb::Clearing {
        pb::Clearing {
            period: "2026-11".into(),
            lines: vec![
                line("13", "41", pb::TransactionKind::Payment, 2, "123.45"),
                line("32", "13", pb::TransactionKind::Payment, 1, "66.60"),
                line("41", "13", pb::TransactionKind::Refund, 1, "10.00"),
                line("41", "32", pb::TransactionKind::Payment, 1, "12.34"),
                line("41", "32", pb::TransactionKind::AccountTransfer, 1, "0.10"),
            ],
            nets: vec![
                net("13", "123.45", "76.60", "-46.85"),
                net("32", "66.60", "12.44", "-54.16"),
                net("41", "22.44", "123.45", "101.01"),
            ],
        }
    }

    #[test]
    fn signed_amounts_keep_their_sign_and_refuse_anything_else() {
        assert_eq!(signed("net", "-46.85").unwrap(), Money::from_fen(-4685));
        assert_eq!(signed("net", "101.01").unwrap(), Money::from_fen(10101));
        assert_eq!(signed("net", "-0.00").unwrap().to_string(), "0.00");
        for bad in ["--1.00", "+1.00", "1e3", "0.1.2", "", "-", "12.345"] {
            assert!(signed("net", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn kinds_of_a_pair_add_up_in_one_cell_and_the_totals_agree_with_the_nets() {
        let totals = ClearingTotals::from_pb(&clearing()).unwrap();
        assert_eq!(totals.provinces, ["13", "32", "41"]);
        assert_eq!(totals.cell("41", "32"), Money::from_fen(1244));
        assert_eq!(totals.cell("32", "41"), Money::ZERO);
        assert_eq!(totals.row_totals["41"], Money::from_fen(2244));
        assert_eq!(totals.column_totals["13"], Money::from_fen(7660));
        assert_eq!(totals.grand_total, Money::from_fen(21249));
        assert_eq!(totals.transactions, 6);
        assert_eq!(totals.nets_sum, Money::ZERO);
        assert!(totals.balanced(), "{:?}", totals.inconsistencies);
    }

    #[test]
    fn nets_that_do_not_sum_to_zero_or_disagree_with_the_matrix_are_caught() {
        let mut off = clearing();
        off.nets[2] = net("41", "22.44", "123.45", "101.02");
        let totals = ClearingTotals::from_pb(&off).unwrap();
        assert_eq!(totals.nets_sum, Money::from_fen(1));
        assert!(!totals.balanced());
        assert_eq!(totals.inconsistencies.len(), 1, "{:?}", totals.inconsistencies);

        let mut missing = clearing();
        missing.lines.pop();
        let totals = ClearingTotals::from_pb(&missing).unwrap();
        assert!(totals.nets_sum.is_zero());
        assert!(!totals.balanced(), "a row short of its payable");
        assert_eq!(
            totals.inconsistencies,
            [
                "province 32: its column sums to 12.34 but its receivable is 12.44",
                "province 41: its row sums to 22.34 but its payable is 22.44"
            ]
        );
    }

    #[test]
    fn settlement_and_regional_sums_keep_the_signs_of_the_nets() {
        let settlement = pb::Settlement {
            lines: vec![
                pb::SettlementLine {
                    province: "13".into(),
                    net: "-46.85".into(),
                    drawn: "46.85".into(),
                    paid: "0.00".into(),
                },
                pb::SettlementLine {
                    province: "41".into(),
                    net: "46.85".into(),
                    drawn: "0.00".into(),
                    paid: "46.85".into(),
                },
            ],
            ..Default::default()
        };
        let sums = SettlementSums::of(&settlement).unwrap();
        assert_eq!(sums.net.to_string(), "0.00");
        assert_eq!((sums.drawn, sums.paid), (Money::from_fen(4685), Money::from_fen(4685)));

        let region = |region: &str, lines, payable: &str, receivable: &str, net: &str| pb::RegionTotal {
            region: region.into(),
            lines,
            payable: payable.into(),
            receivable: receivable.into(),
            net: net.into(),
        };
        let sums = RegionSums::of(&[
            region("130100", 3, "123.45", "10.00", "-113.45"),
            region("130200", 1, "0.00", "66.60", "66.60"),
        ])
        .unwrap();
        assert_eq!(sums.lines, 4);
        assert_eq!(sums.net.to_string(), "-46.85");
        assert_eq!(sums.receivable.to_string(), "76.60");
    }

    #[test]
    fn a_malformed_amount_from_the_server_is_an_error_not_a_zero() {
        let mut bad = clearing();
        bad.lines[0].gross = "12,50".into();
        assert!(ClearingTotals::from_pb(&bad).is_err());
    }

    #[test]
    fn the_csv_has_the_matrix_then_an_empty_line_then_the_nets() {
        let csv = String::from_utf8(ClearingTotals::from_pb(&clearing()).unwrap().to_csv().unwrap()).unwrap();
        assert_eq!(
            csv,
            "payer \\ payee,13,32,41,total\n\
             13,,0.00,123.45,123.45\n\
             32,66.60,,0.00,66.60\n\
             41,10.00,12.44,,22.44\n\
             total,76.60,12.44,123.45,212.49\n\
             \n\
             province,payable,receivable,net\n\
             13,123.45,76.60,-46.85\n\
             32,66.60,12.44,-54.16\n\
             41,22.44,123.45,101.01\n\
             total,212.49,212.49,0.00\n"
        );
    }
}
