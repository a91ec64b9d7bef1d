//! Text from outside shown to a human: control characters escaped, so a
//! value can never pass for more than one line or move a terminal's cursor.

/// `text` with each control character escaped (`\n`, `\u{1b}`, ...).
pub fn escape_controls(text: &str) -> String {
    if !text.chars().any(char::is_control) {
        return text.to_owned();
    }
    let mut escaped = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            escaped.extend(c.escape_default());
        } else {
            escaped.push(c);
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_the_rest_kept() {
        assert_eq!(escape_controls("月结 ok"), "月结 ok");
        assert_eq!(escape_controls("a\nb\u{1b}[2K\t"), "a\\nb\\u{1b}[2K\\t");
    }
}
