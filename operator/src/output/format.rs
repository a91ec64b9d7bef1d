//! The records a command prints ([`Fields`], one record; [`Table`], many)
//! and where they go ([`Out`]): as aligned text for a person, as one JSON
//! object per line (`--json`) or as CSV (`--csv`) for a program.
//!
//! Text measures widths in display columns, so a Chinese name (two columns a
//! character) lines up with Latin ones. The machine formats carry every cell
//! as a string, exactly as the text shows it (an amount stays "128.50", never
//! a float), under keys made of the header's words (`payer position` →
//! `payer_position`). Prose (titles, notes, hints) is for people: written to
//! an [`Out`] through `std::io::Write`, it appears only in text.

use std::io::{self, Write};

use unicode_width::UnicodeWidthStr;

/// How a command prints its records: chosen once, on the command line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Format {
    /// Aligned `key: value` lines and tables, with prose between them.
    #[default]
    Text,
    /// One JSON object per record and line (JSON Lines); no prose.
    Json,
    /// RFC 4180 CSV with a header row; no prose. A command whose records
    /// are of more than one shape writes one CSV table per shape, the
    /// next after an empty line.
    Csv,
}

/// A command's standard output in its [`Format`].
pub struct Out<'a> {
    inner: &'a mut dyn Write,
    format: Format,
    /// In CSV: the header of the last table written, so that records of
    /// the same shape continue it rather than repeat it.
    csv_header: Option<Vec<String>>,
}

impl<'a> Out<'a> {
    pub fn new(inner: &'a mut dyn Write, format: Format) -> Out<'a> {
        Out {
            inner,
            format,
            csv_header: None,
        }
    }

    /// Text for a person.
    pub fn text(inner: &'a mut dyn Write) -> Out<'a> {
        Out::new(inner, Format::Text)
    }

    pub fn format(&self) -> Format {
        self.format
    }

    /// One record: aligned `key: value` lines in text.
    pub fn fields(&mut self, fields: &Fields) -> io::Result<()> {
        let (keys, values): (Vec<String>, Vec<String>) = fields.lines.iter().cloned().unzip();
        match self.format {
            Format::Text => fields.write_text(self.inner),
            Format::Json => writeln!(self.inner, "{}", json_object(fields.record, &keys, &values)),
            Format::Csv => self.csv(&keys, std::slice::from_ref(&values)),
        }
    }

    /// Many records of one shape: a table with a header row in text.
    pub fn table(&mut self, table: &Table) -> io::Result<()> {
        match self.format {
            Format::Text => table.write_text(self.inner),
            Format::Json => {
                for row in &table.rows {
                    writeln!(self.inner, "{}", json_object(table.record, &table.header, row))?;
                }
                Ok(())
            }
            Format::Csv => self.csv(&table.header, &table.rows),
        }
    }

    /// A record that is a JSON object already, as one line (in JSON only).
    pub fn json(&mut self, record: &serde_json::Value) -> io::Result<()> {
        match self.format {
            Format::Json => writeln!(self.inner, "{record}"),
            Format::Text | Format::Csv => Ok(()),
        }
    }

    /// Records of one shape as CSV: the header unless the last table
    /// written had the same one.
    fn csv(&mut self, header: &[String], rows: &[Vec<String>]) -> io::Result<()> {
        let keys: Vec<String> = header.iter().map(|h| key(h)).collect();
        let continues = self.csv_header.as_ref() == Some(&keys);
        if !continues && self.csv_header.is_some() {
            self.inner.write_all(b"\r\n")?;
        }
        let mut writer = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .flexible(true)
            .from_writer(&mut *self.inner);
        if !continues {
            writer.write_record(&keys).map_err(io::Error::other)?;
        }
        for row in rows {
            writer.write_record(row).map_err(io::Error::other)?;
        }
        writer.flush()?;
        self.csv_header = Some(keys);
        Ok(())
    }
}

/// Prose: written in text, left out of the machine formats.
impl Write for Out<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.format {
            Format::Text => self.inner.write(buf),
            Format::Json | Format::Csv => Ok(buf.len()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A header's words as a key: `payer position` → `payer_position`,
/// `usage %` → `usage_percent`, `payer \ payee` → `payer_payee`.
pub fn key(header: &str) -> String {
    let mut key = String::new();
    for c in header.replace('%', "percent").chars() {
        if c.is_alphanumeric() {
            key.extend(c.to_lowercase());
        } else if !key.is_empty() && !key.ends_with('_') {
            key.push('_');
        }
    }
    key.trim_end_matches('_').to_owned()
}

/// `{"key":"value",…}` in the header's order, after `"record":"name"`
/// when the record has a name.
fn json_object(record: Option<&str>, header: &[String], cells: &[String]) -> String {
    let named = record.map(|name| format!("\"record\":{}", serde_json::Value::from(name)));
    let members: Vec<String> = named
        .into_iter()
        .chain(
            header
                .iter()
                .zip(cells)
                .map(|(h, cell)| format!("{}:{}", serde_json::Value::from(key(h)), serde_json::Value::from(cell.as_str()))),
        )
        .collect();
    format!("{{{}}}", members.join(","))
}

/// How many terminal columns `text` takes: two for a Chinese character.
pub fn display_width(text: &str) -> usize {
    UnicodeWidthStr::width(text)
}

/// `text` cut to at most `width` display columns, ending in "…" when cut.
pub fn clip(text: &str, width: usize) -> String {
    if display_width(text) <= width {
        return text.to_owned();
    }
    let mut clipped = String::new();
    let mut used = 0;
    for c in text.chars() {
        let w = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
        if used + w + 1 > width {
            break;
        }
        clipped.push(c);
        used += w;
    }
    clipped.push('…');
    clipped
}

/// `text` and the spaces that make it `width` columns wide.
fn pad(text: &str, width: usize, right: bool) -> String {
    let spaces = " ".repeat(width.saturating_sub(display_width(text)));
    if right {
        spaces + text
    } else {
        format!("{text}{spaces}")
    }
}

/// One record as aligned `key: value` lines.
#[derive(Debug, Default)]
pub struct Fields {
    /// What kind of record this is, for a command that prints several
    /// kinds: `"record":"month"` in JSON.
    record: Option<&'static str>,
    lines: Vec<(String, String)>,
}

impl Fields {
    pub fn new() -> Fields {
        Fields::default()
    }

    /// Names the kind of record (JSON's `"record"`), where a command
    /// prints records of several kinds.
    pub fn record(mut self, name: &'static str) -> Fields {
        self.record = Some(name);
        self
    }

    pub fn add(mut self, key: &str, value: impl Into<String>) -> Fields {
        self.lines.push((key.to_owned(), value.into()));
        self
    }

    /// Adds the line only when the value is not empty.
    pub fn add_some(self, key: &str, value: impl Into<String>) -> Fields {
        let value = value.into();
        if value.is_empty() {
            self
        } else {
            self.add(key, value)
        }
    }

    /// Writes the record to `out` in its format.
    pub fn write(&self, out: &mut Out) -> io::Result<()> {
        out.fields(self)
    }

    /// The record as text, whatever the format.
    pub fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        let width = self.lines.iter().map(|(key, _)| display_width(key)).max().unwrap_or(0);
        for (key, value) in &self.lines {
            writeln!(out, "{} {value}", pad(&format!("{key}:"), width + 1, false))?;
        }
        Ok(())
    }
}

/// Records of one shape: a header row, then a row each; in text, columns
/// as wide as their widest cell.
#[derive(Debug)]
pub struct Table {
    /// What kind of records the rows are, as [`Fields::record`].
    record: Option<&'static str>,
    header: Vec<String>,
    rows: Vec<Vec<String>>,
    /// Columns whose cells line up on the right (amounts, counts).
    right: Vec<usize>,
}

impl Table {
    pub fn new(header: &[&str]) -> Table {
        Table::with_header(header.iter().map(|h| (*h).to_owned()).collect())
    }

    pub fn with_header(header: Vec<String>) -> Table {
        Table {
            record: None,
            header,
            rows: Vec::new(),
            right: Vec::new(),
        }
    }

    /// Names the kind of records (JSON's `"record"`), where a command
    /// prints records of several kinds.
    pub fn record(mut self, name: &'static str) -> Table {
        self.record = Some(name);
        self
    }

    /// Aligns these columns (counted from 0) on the right, so amounts line
    /// up on their decimal point.
    pub fn right_aligned(mut self, columns: impl IntoIterator<Item = usize>) -> Table {
        self.right.extend(columns);
        self
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn rows(&self) -> &[Vec<String>] {
        &self.rows
    }

    /// Writes the records to `out` in its format.
    pub fn write(&self, out: &mut Out) -> io::Result<()> {
        out.table(self)
    }

    /// The table as text, whatever the format. A control character in a
    /// cell (text from a server can hold any) is shown escaped, so no cell
    /// can start a line of its own or move the cursor.
    pub fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        let rows: Vec<Vec<String>> = std::iter::once(&self.header)
            .chain(&self.rows)
            .map(|row| row.iter().map(|cell| gongji_common::text::escape_controls(cell)).collect())
            .collect();
        let mut widths: Vec<usize> = vec![0; self.header.len()];
        for row in &rows {
            for (i, cell) in row.iter().enumerate() {
                if let Some(width) = widths.get_mut(i) {
                    *width = (*width).max(display_width(cell));
                }
            }
        }
        for row in &rows {
            let cells: Vec<String> = row
                .iter()
                .enumerate()
                .map(|(i, cell)| pad(cell, widths.get(i).copied().unwrap_or(0), self.right.contains(&i)))
                .collect();
            writeln!(out, "{}", cells.join("  ").trim_end())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn people() -> Table {
        let mut table = Table::new(&["name", "region", "balance"]).right_aligned([2]);
        table.row(vec!["张三".into(), "北京".into(), "128.50".into()]);
        table.row(vec!["欧阳娜娜".into(), "Shanghai".into(), "7.00".into()]);
        table.row(vec!["Li, \"Lei\"".into(), "31".into(), "1000.00".into()]);
        table
    }

    fn written(format: Format, write: impl FnOnce(&mut Out) -> io::Result<()>) -> String {
        let mut bytes = Vec::new();
        write(&mut Out::new(&mut bytes, format)).unwrap();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn chinese_names_align_by_display_columns() {
        let text = written(Format::Text, |out| people().write(out));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "name       region    balance",
                "张三       北京       128.50",
                "欧阳娜娜   Shanghai     7.00",
                "Li, \"Lei\"  31        1000.00",
            ],
            "{text}"
        );
        // Every line ends at the same display column: the amounts line up.
        let widths: Vec<usize> = lines.iter().map(|l| display_width(l)).collect();
        assert_eq!(widths, [28, 28, 28, 28], "{text}");
        // 欧阳娜娜 is four characters but eight columns wide.
        assert_eq!((display_width("欧阳娜娜"), "欧阳娜娜".chars().count()), (8, 4));
    }

    #[test]
    fn fields_align_their_values_after_the_widest_key() {
        let fields = Fields::new().add("name", "欧阳娜娜").add("registered at", "2026-11-01");
        let text = written(Format::Text, |out| fields.write(out));
        assert_eq!(text, "name:          欧阳娜娜\nregistered at: 2026-11-01\n");
    }

    #[test]
    fn json_is_one_object_per_row_with_amounts_as_strings() {
        let text = written(Format::Json, |out| {
            writeln!(out, "a title only people read:")?;
            people().write(out)
        });
        let rows: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(rows.len(), 3, "{text}");
        assert_eq!(rows[1]["name"], "欧阳娜娜");
        assert_eq!(rows[2]["name"], "Li, \"Lei\"");
        assert_eq!(rows[0]["balance"], "128.50", "an amount stays a string with two places");
        assert!(text.starts_with(r#"{"name":"张三","region":"北京","balance":"128.50"}"#), "{text}");
    }

    #[test]
    fn records_of_several_kinds_say_which_in_json_only() {
        let mut disputes = Table::new(&["province", "detail"]).record("dispute");
        disputes.row(vec!["41".into(), "payment p-9".into()]);
        let write = |out: &mut Out| {
            Fields::new().record("month").add("month", "2026-11").write(out)?;
            disputes.write(out)
        };
        assert_eq!(
            written(Format::Json, write),
            "{\"record\":\"month\",\"month\":\"2026-11\"}\n{\"record\":\"dispute\",\"province\":\"41\",\"detail\":\"payment p-9\"}\n"
        );
        assert_eq!(
            written(Format::Csv, write),
            "month\r\n2026-11\r\n\r\nprovince,detail\r\n41,payment p-9\r\n"
        );
    }

    #[test]
    fn csv_quotes_what_needs_it_and_parses_back() {
        let text = written(Format::Csv, |out| {
            writeln!(out, "prose is left out")?;
            people().write(out)
        });
        assert!(text.starts_with("name,region,balance\r\n张三,北京,128.50\r\n"), "{text}");
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_owned).collect();
        assert_eq!(header, ["name", "region", "balance"]);
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 3);
        assert_eq!(&rows[2][0], "Li, \"Lei\"");
        assert_eq!(&rows[1][2], "7.00");
    }

    #[test]
    fn csv_continues_a_shape_and_separates_another() {
        let text = written(Format::Csv, |out| {
            people().write(out)?;
            people().write(out)?;
            Fields::new().add("usage %", "12.50").write(out)
        });
        assert_eq!(text.matches("name,region,balance").count(), 1, "{text}");
        assert!(text.ends_with("1000.00\r\n\r\nusage_percent\r\n12.50\r\n"), "{text}");
    }

    #[test]
    fn clipping_counts_display_columns() {
        assert_eq!(clip("short", 10), "short");
        assert_eq!(clip("INVALID_ARGUMENT: period", 10), "INVALID_A…");
        assert_eq!(clip("月末结账月末结账", 9), "月末结账…");
        assert!(display_width(&clip("月末结账月末结账", 9)) <= 9);
    }

    #[test]
    fn keys_are_the_headers_words_joined() {
        assert_eq!(key("payer position"), "payer_position");
        assert_eq!(key("usage %"), "usage_percent");
        assert_eq!(key("payer \\ payee"), "payer_payee");
        assert_eq!(key("top-up"), "top_up");
    }

    #[test]
    fn text_escapes_control_characters_and_machine_formats_keep_them() {
        let mut table = Table::new(&["what"]);
        table.row(vec!["a\nb".into()]);
        assert_eq!(written(Format::Text, |out| table.write(out)), "what\na\\nb\n");
        assert_eq!(written(Format::Json, |out| table.write(out)), "{\"what\":\"a\\nb\"}\n");
    }
}
