//! Money: CNY with exactly two decimal places (fen), on a `Decimal`, never a
//! float. Parsing is strict (the wire format is a decimal string) and every
//! arithmetic operation is checked.

use std::{fmt, str::FromStr};

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::field::FieldError;

/// The largest amount a single request may carry: ten million yuan. Larger
/// amounts are refused as absurd rather than risk a typo moving a fortune.
pub const MAX_REQUEST_AMOUNT: Money = Money(Decimal::from_parts(1_000_000_000, 0, 0, false, 2));

/// An amount of CNY, scaled to exactly two decimals. Balances may be negative
/// (a claim on a counterpart); request amounts are parsed as positive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Money(Decimal);

impl Default for Money {
    /// Zero, with its two decimal places ("0.00", never "0").
    fn default() -> Money {
        Money::ZERO
    }
}

/// An arithmetic result that does not fit a `Decimal`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("money arithmetic overflowed")]
pub struct Overflow;

impl Money {
    pub const ZERO: Money = Money(Decimal::from_parts(0, 0, 0, false, 2));

    /// Builds an amount from a whole number of fen.
    pub const fn from_fen(fen: i64) -> Money {
        Money(Decimal::from_parts(
            fen.unsigned_abs() as u32,
            (fen.unsigned_abs() >> 32) as u32,
            0,
            fen < 0,
            2,
        ))
    }

    /// An amount from any decimal, rounded to the fen (half to even).
    pub fn from_decimal_fen(decimal: Decimal) -> Money {
        Money::from_decimal(decimal.round_dp(2))
    }

    /// Parses a request amount: digits with at most two decimal places, no
    /// sign, greater than zero and at most [`MAX_REQUEST_AMOUNT`]. The error
    /// names `field`.
    pub fn parse_positive(field: &str, text: &str) -> Result<Money, FieldError> {
        let amount = Money::parse_unsigned(field, text)?;
        if amount.is_zero() {
            return Err(FieldError::new(field, "must be greater than 0.00"));
        }
        if amount > MAX_REQUEST_AMOUNT {
            return Err(FieldError::new(
                field,
                format!("{amount} is larger than the largest allowed amount {MAX_REQUEST_AMOUNT}"),
            ));
        }
        Ok(amount)
    }

    /// Parses a non-negative amount in wire form ("128.50", "7", "0.5").
    pub fn parse_unsigned(field: &str, text: &str) -> Result<Money, FieldError> {
        if text.is_empty() {
            return Err(FieldError::new(field, "is required (a decimal amount such as \"128.50\")"));
        }
        let (whole, fraction) = match text.split_once('.') {
            Some((w, f)) => (w, Some(f)),
            None => (text, None),
        };
        let digits_only = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits_only(whole) || fraction.is_some_and(|f| !digits_only(f)) {
            return Err(FieldError::new(
                field,
                format!("{text:?} is not an amount: use digits with at most two decimals, no sign, e.g. \"128.50\""),
            ));
        }
        if fraction.is_some_and(|f| f.len() > 2) {
            return Err(FieldError::new(
                field,
                format!("{text:?} has more than two decimal places (amounts are in fen)"),
            ));
        }
        if whole.len() > 15 {
            return Err(FieldError::new(field, format!("{text:?} is too large")));
        }
        let decimal = Decimal::from_str(text).map_err(|_| FieldError::new(field, format!("{text:?} is not an amount")))?;
        Ok(Money::from_decimal(decimal))
    }

    fn from_decimal(mut decimal: Decimal) -> Money {
        decimal.rescale(2);
        Money(decimal)
    }

    pub fn is_zero(self) -> bool {
        self.0.is_zero()
    }

    pub fn is_negative(self) -> bool {
        self.0.is_sign_negative() && !self.0.is_zero()
    }

    pub fn checked_add(self, other: Money) -> Result<Money, Overflow> {
        self.0.checked_add(other.0).map(Money::from_decimal).ok_or(Overflow)
    }

    pub fn checked_sub(self, other: Money) -> Result<Money, Overflow> {
        self.0.checked_sub(other.0).map(Money::from_decimal).ok_or(Overflow)
    }

    /// The same amount with the opposite sign.
    pub fn negated(self) -> Money {
        Money::from_decimal(-self.0)
    }

    pub fn min(self, other: Money) -> Money {
        std::cmp::min(self, other)
    }

    /// The underlying decimal (always two decimal places).
    pub fn as_decimal(self) -> Decimal {
        self.0
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `rescale(2)` on every construction keeps the two places visible.
        let mut shown = self.0;
        if shown.is_zero() {
            shown.set_sign_positive(true);
        }
        write!(f, "{shown}")
    }
}

impl From<Money> for String {
    fn from(money: Money) -> String {
        money.to_string()
    }
}

impl TryFrom<String> for Money {
    type Error = String;

    /// Reads a stored amount, which may be negative (balances).
    fn try_from(text: String) -> Result<Money, String> {
        let decimal = Decimal::from_str(&text).map_err(|e| format!("stored amount {text:?}: {e}"))?;
        Ok(Money::from_decimal(decimal))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> String {
        Money::parse_positive("amount", text).unwrap().to_string()
    }

    fn err(text: &str) -> FieldError {
        Money::parse_positive("amount", text).unwrap_err()
    }

    #[test]
    fn parses_wire_amounts_to_two_places() {
        assert_eq!(ok("128.50"), "128.50");
        assert_eq!(ok("7"), "7.00");
        assert_eq!(ok("0.5"), "0.50");
        assert_eq!(ok("0.01"), "0.01");
        assert_eq!(ok("10000000.00"), "10000000.00");
    }

    #[test]
    fn refuses_malformed_amounts_naming_the_field() {
        for bad in [
            "12.345",
            "-1",
            "abc",
            "",
            "+1",
            "1.",
            ".5",
            "1e3",
            " 1",
            "1,000",
            "0",
            "0.00",
            "10000000.01",
            "99999999999999999999",
        ] {
            let e = err(bad);
            assert_eq!(e.field, "amount", "{bad:?}");
        }
        assert!(err("12.345").message.contains("two decimal places"));
    }

    #[test]
    fn arithmetic_keeps_two_places_and_checks_overflow() {
        let a = Money::from_fen(1050);
        let b = Money::from_fen(25);
        assert_eq!(a.checked_add(b).unwrap().to_string(), "10.75");
        assert_eq!(b.checked_sub(a).unwrap().to_string(), "-10.25");
        assert_eq!(a.negated().negated(), a);
        let huge = Money(Decimal::MAX);
        assert_eq!(huge.checked_add(huge), Err(Overflow));
    }

    #[test]
    fn serializes_as_a_string_and_back() {
        let a = Money::from_fen(-1234);
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(json, "\"-12.34\"");
        assert_eq!(serde_json::from_str::<Money>(&json).unwrap(), a);
        assert_eq!(Money::ZERO.negated().to_string(), "0.00");
        assert_eq!(Money::default().to_string(), "0.00");
    }
}
