//! Codes of the national medical-insurance platform: provinces (2 digits),
//! pooling regions (6 digits, GB/T 2260) and designated institutions.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::field::FieldError;

/// A provincial-level unit: the two-digit prefix of GB/T 2260 ("32" Jiangsu).
/// Which provinces exist in a network is configuration, not code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ProvinceCode([u8; 2]);

impl ProvinceCode {
    pub fn parse(field: &str, text: &str) -> Result<ProvinceCode, FieldError> {
        match text.as_bytes() {
            [a, b] if a.is_ascii_digit() && b.is_ascii_digit() && !(*a == b'0' && *b == b'0') => Ok(ProvinceCode([*a, *b])),
            _ => Err(FieldError::new(
                field,
                format!("{text:?} is not a province code (two digits, e.g. \"32\")"),
            )),
        }
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("a province code is two ASCII digits")
    }
}

/// The provincial-level units of the national platform (GB/T 2260), with
/// the Xinjiang Production and Construction Corps as 66.
const PROVINCE_NAMES: &[(&str, &str)] = &[
    ("11", "Beijing"),
    ("12", "Tianjin"),
    ("13", "Hebei"),
    ("14", "Shanxi"),
    ("15", "Inner Mongolia"),
    ("21", "Liaoning"),
    ("22", "Jilin"),
    ("23", "Heilongjiang"),
    ("31", "Shanghai"),
    ("32", "Jiangsu"),
    ("33", "Zhejiang"),
    ("34", "Anhui"),
    ("35", "Fujian"),
    ("36", "Jiangxi"),
    ("37", "Shandong"),
    ("41", "Henan"),
    ("42", "Hubei"),
    ("43", "Hunan"),
    ("44", "Guangdong"),
    ("45", "Guangxi"),
    ("46", "Hainan"),
    ("50", "Chongqing"),
    ("51", "Sichuan"),
    ("52", "Guizhou"),
    ("53", "Yunnan"),
    ("54", "Tibet"),
    ("61", "Shaanxi"),
    ("62", "Gansu"),
    ("63", "Qinghai"),
    ("64", "Ningxia"),
    ("65", "Xinjiang"),
    ("66", "Xinjiang Production and Construction Corps"),
];

impl ProvinceCode {
    /// The usual English name of a known province code; which provinces a
    /// network has is still configuration.
    pub fn known_name(&self) -> Option<&'static str> {
        PROVINCE_NAMES
            .iter()
            .find(|(code, _)| *code == self.as_str())
            .map(|(_, name)| *name)
    }

    /// Every province code of the national platform.
    pub fn all_known() -> impl Iterator<Item = ProvinceCode> {
        PROVINCE_NAMES
            .iter()
            .map(|(code, _)| ProvinceCode::parse("province", code).expect("table codes are two digits"))
    }
}

impl fmt::Display for ProvinceCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<ProvinceCode> for String {
    fn from(code: ProvinceCode) -> String {
        code.to_string()
    }
}

impl TryFrom<String> for ProvinceCode {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        ProvinceCode::parse("province", &text).map_err(|e| e.to_string())
    }
}

impl std::str::FromStr for ProvinceCode {
    type Err = FieldError;
    fn from_str(text: &str) -> Result<Self, FieldError> {
        ProvinceCode::parse("province", text)
    }
}

/// A pooling region (统筹区): six digits whose first two are the province.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RegionCode([u8; 6]);

impl RegionCode {
    pub fn parse(field: &str, text: &str) -> Result<RegionCode, FieldError> {
        let bytes = text.as_bytes();
        if bytes.len() != 6 || !bytes.iter().all(u8::is_ascii_digit) {
            return Err(FieldError::new(
                field,
                format!("{text:?} is not a pooling-region code (six digits, e.g. \"320500\")"),
            ));
        }
        let mut code = [0u8; 6];
        code.copy_from_slice(bytes);
        ProvinceCode::parse(field, &text[..2])?;
        Ok(RegionCode(code))
    }

    pub fn province(&self) -> ProvinceCode {
        ProvinceCode([self.0[0], self.0[1]])
    }

    /// The province-level code of a province ("320000"), for totals that
    /// belong to no city.
    pub fn of_province(province: ProvinceCode) -> RegionCode {
        let [a, b] = province.0;
        RegionCode([a, b, b'0', b'0', b'0', b'0'])
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("a region code is six ASCII digits")
    }
}

impl fmt::Display for RegionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<RegionCode> for String {
    fn from(code: RegionCode) -> String {
        code.to_string()
    }
}

impl TryFrom<String> for RegionCode {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        RegionCode::parse("region_code", &text).map_err(|e| e.to_string())
    }
}

/// The code of a designated medical institution or pharmacy (定点医药机构):
/// "H" (medical institution) or "P" (pharmacy), the 6-digit region code where
/// it is, and a 5-digit serial, as on the national platform ("H32050000001").
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct InstitutionCode(String);

/// What a designated institution (定点医药机构) is, from its code's first letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstitutionKind {
    /// A designated medical institution (hospital, clinic): "H".
    Medical,
    /// A designated retail pharmacy: "P".
    Pharmacy,
}

impl InstitutionKind {
    pub fn describe(self) -> &'static str {
        match self {
            InstitutionKind::Medical => "a designated medical institution",
            InstitutionKind::Pharmacy => "a designated pharmacy",
        }
    }
}

impl InstitutionCode {
    /// A medical institution or a pharmacy, by the code's first letter.
    pub fn kind(&self) -> InstitutionKind {
        if self.0.starts_with('P') {
            InstitutionKind::Pharmacy
        } else {
            InstitutionKind::Medical
        }
    }

    pub fn parse(field: &str, text: &str) -> Result<InstitutionCode, FieldError> {
        let bytes = text.as_bytes();
        let well_formed = bytes.len() == 12 && matches!(bytes[0], b'H' | b'P') && bytes[1..].iter().all(u8::is_ascii_digit);
        if !well_formed {
            return Err(FieldError::new(
                field,
                format!("{text:?} is not an institution code (\"H\" or \"P\", a 6-digit region code and a 5-digit serial, e.g. \"H32050000001\")"),
            ));
        }
        RegionCode::parse(field, &text[1..7])?;
        Ok(InstitutionCode(text.to_owned()))
    }

    pub fn region(&self) -> RegionCode {
        RegionCode::parse("institution_id", &self.0[1..7]).expect("checked when parsed")
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for InstitutionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<InstitutionCode> for String {
    fn from(code: InstitutionCode) -> String {
        code.0
    }
}

impl TryFrom<String> for InstitutionCode {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        InstitutionCode::parse("institution_id", &text).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_codes_know_their_province() {
        let suzhou = RegionCode::parse("r", "320500").unwrap();
        assert_eq!(suzhou.province().as_str(), "32");
        for bad in ["32050", "3205000", "32O500", "000100", ""] {
            assert!(RegionCode::parse("r", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn institution_codes_carry_a_region() {
        let h = InstitutionCode::parse("i", "H32050000001").unwrap();
        assert_eq!(h.region().as_str(), "320500");
        assert_eq!(h.kind(), InstitutionKind::Medical);
        assert_eq!(
            InstitutionCode::parse("i", "P41010000002").unwrap().kind(),
            InstitutionKind::Pharmacy
        );
        for bad in ["X32050000001", "H3205000000", "H320500000011", "h32050000001"] {
            assert!(InstitutionCode::parse("i", bad).is_err(), "{bad}");
        }
    }
}
