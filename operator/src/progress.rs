//! Progress of long operations (`import`, `audit`, `month reconcile`,
//! `bench`), always on standard error so that standard output stays
//! parseable: on a terminal a bar (indicatif) that redraws itself; anywhere
//! else (a pipe, a log file, CI) a plain line every few seconds. Either way
//! a summary line at the end: how many, how long, how fast.

use std::{
    io::{self, IsTerminal, Write},
    time::{Duration, Instant},
};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How progress shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Display {
    /// A bar redrawn in place: standard error is a terminal.
    Bar,
    /// A plain line every [`EVERY`]: standard error is a pipe or a file.
    Lines,
}

impl Display {
    /// A bar when standard error is a terminal, lines otherwise.
    pub fn of_stderr() -> Display {
        if io::stderr().is_terminal() {
            Display::Bar
        } else {
            Display::Lines
        }
    }
}

/// How often a plain line is written.
pub const EVERY: Duration = Duration::from_secs(5);

/// How often a caller waiting on a long call should [`Progress::update`].
pub const TICK: Duration = Duration::from_millis(200);

/// One long operation's progress.
pub struct Progress {
    /// What is going on: "importing persons.csv".
    what: String,
    /// What is counted ("rows"), or nothing for an operation that can only
    /// tell how long it has taken.
    unit: Option<&'static str>,
    /// How many there will be, if known; `about` when only estimated.
    total: Option<u64>,
    about: bool,
    /// Summarise only an operation that took [`EVERY`] or more.
    quiet_if_quick: bool,
    done: u64,
    started: Instant,
    next_line: Instant,
    bar: Option<ProgressBar>,
}

impl Progress {
    /// Starts counting `unit`s of `what`, `total` of them if known.
    pub fn start(display: Display, what: impl Into<String>, unit: Option<&'static str>, total: Option<u64>) -> Progress {
        Progress::start_at(display, what, unit, total, Instant::now())
    }

    /// [`Progress::start`] at `now` (for the tests of the lines).
    pub fn start_at(display: Display, what: impl Into<String>, unit: Option<&'static str>, total: Option<u64>, now: Instant) -> Progress {
        let what = what.into();
        let bar = (display == Display::Bar).then(|| bar(&what, unit, total));
        Progress {
            what,
            unit,
            total,
            about: false,
            quiet_if_quick: false,
            done: 0,
            started: now,
            next_line: now + EVERY,
            bar,
        }
    }

    /// The total is an estimate ("about 300000 rows").
    pub fn estimated(mut self) -> Progress {
        self.about = true;
        self
    }

    /// No summary for an operation quicker than [`EVERY`] (one that is
    /// usually quick, whose answer says enough).
    pub fn quiet_if_quick(mut self) -> Progress {
        self.quiet_if_quick = true;
        self
    }

    /// `done` so far: the bar moves; a line is written when one is due.
    pub fn update(&mut self, done: u64, err: &mut dyn Write) {
        self.update_at(done, Instant::now(), err);
    }

    /// [`Progress::update`] at `now`.
    pub fn update_at(&mut self, done: u64, now: Instant, err: &mut dyn Write) {
        self.done = done;
        if let Some(bar) = &self.bar {
            bar.set_position(done);
            return;
        }
        if now >= self.next_line {
            let _ = writeln!(err, "{}", self.line(now));
            let _ = err.flush();
            while self.next_line <= now {
                self.next_line += EVERY;
            }
        }
    }

    /// A message between updates (above the bar on a terminal).
    pub fn note(&self, err: &mut dyn Write, text: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| {
                let _ = writeln!(err, "{text}");
            }),
            None => {
                let _ = writeln!(err, "{text}");
            }
        }
    }

    /// Clears the bar and writes the summary: how many, how long, how fast.
    pub fn finish(self, err: &mut dyn Write) {
        self.finish_at(Instant::now(), err);
    }

    /// [`Progress::finish`] at `now`.
    pub fn finish_at(self, now: Instant, err: &mut dyn Write) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        let elapsed = now.saturating_duration_since(self.started);
        if self.quiet_if_quick && elapsed < EVERY {
            return;
        }
        let summary = match self.unit {
            Some(unit) => format!(
                "{}: {} {unit} in {} ({} {unit}/s)",
                self.what,
                self.done,
                seconds(elapsed),
                rate(self.done, elapsed)
            ),
            None => format!("{}: done in {}", self.what, seconds(elapsed)),
        };
        let _ = writeln!(err, "{summary}");
        let _ = err.flush();
    }

    /// "importing persons.csv: 120000 of about 300000 rows (40%), 12.0 s, 10000 rows/s"
    fn line(&self, now: Instant) -> String {
        let elapsed = now.saturating_duration_since(self.started);
        let Some(unit) = self.unit else {
            return format!("{}: {}", self.what, seconds(elapsed));
        };
        let count = match self.total {
            Some(total) if total > 0 => format!(
                "{} of {}{total} {unit} ({}%)",
                self.done,
                if self.about { "about " } else { "" },
                (self.done.saturating_mul(100) / total).min(100)
            ),
            _ => format!("{} {unit}", self.done),
        };
        format!(
            "{}: {count}, {}, {} {unit}/s",
            self.what,
            seconds(elapsed),
            rate(self.done, elapsed)
        )
    }
}

/// An indicatif bar on standard error: with a length when the total is
/// known, a spinner with a count (or only the time) otherwise.
fn bar(what: &str, unit: Option<&'static str>, total: Option<u64>) -> ProgressBar {
    let (bar, template) = match (total, unit) {
        (Some(total), Some(unit)) => (
            ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr()),
            format!("{{msg}} [{{bar:40}}] {{pos}}/{{len}} {unit} ({{percent}}%) {{elapsed}} eta {{eta}}"),
        ),
        (None, Some(unit)) => (
            ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
            format!("{{spinner}} {{msg}}: {{pos}} {unit} {{elapsed}} ({{per_sec}})"),
        ),
        (_, None) => (
            ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
            "{spinner} {msg}: {elapsed}".to_owned(),
        ),
    };
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what.to_owned());
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// "12.3 s"
fn seconds(elapsed: Duration) -> String {
    let tenths = elapsed.as_millis() / 100;
    format!("{}.{} s", tenths / 10, tenths % 10)
}

/// Whole units per second; everything when no time passed.
fn rate(done: u64, elapsed: Duration) -> u64 {
    let millis = elapsed.as_millis().max(1);
    u64::try_from(u128::from(done) * 1000 / millis).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_a_terminal_a_line_every_few_seconds_then_a_summary() {
        let t0 = Instant::now();
        let mut err = Vec::new();
        let mut progress = Progress::start_at(Display::Lines, "importing persons.csv", Some("rows"), Some(3000), t0).estimated();
        progress.update_at(500, t0 + Duration::from_secs(1), &mut err);
        assert!(err.is_empty(), "no line before {EVERY:?}");
        progress.update_at(1200, t0 + Duration::from_secs(6), &mut err);
        progress.update_at(1300, t0 + Duration::from_secs(7), &mut err);
        progress.update_at(2400, t0 + Duration::from_secs(12), &mut err);
        progress.finish_at(t0 + Duration::from_millis(15_040), &mut err);
        let text = String::from_utf8(err).unwrap();
        assert_eq!(
            text.lines().collect::<Vec<_>>(),
            [
                "importing persons.csv: 1200 of about 3000 rows (40%), 6.0 s, 200 rows/s",
                "importing persons.csv: 2400 of about 3000 rows (80%), 12.0 s, 200 rows/s",
                "importing persons.csv: 2400 rows in 15.0 s (159 rows/s)",
            ],
            "{text}"
        );
    }

    #[test]
    fn an_operation_without_a_count_tells_its_time() {
        let t0 = Instant::now();
        let mut err = Vec::new();
        let mut progress = Progress::start_at(Display::Lines, "reconciling 2026-11 at 41", None, None, t0);
        progress.update_at(0, t0 + Duration::from_secs(5), &mut err);
        progress.note(&mut err, "a note");
        progress.finish_at(t0 + Duration::from_millis(5_500), &mut err);
        assert_eq!(
            String::from_utf8(err).unwrap(),
            "reconciling 2026-11 at 41: 5.0 s\na note\nreconciling 2026-11 at 41: done in 5.5 s\n"
        );
        let mut err = Vec::new();
        let quick = Progress::start_at(Display::Lines, "reconciling", None, None, t0).quiet_if_quick();
        quick.finish_at(t0 + Duration::from_secs(1), &mut err);
        assert!(err.is_empty(), "a quick reconciliation says nothing more than its report");
    }

    #[test]
    fn a_count_without_a_total_has_no_percent() {
        let t0 = Instant::now();
        let progress = Progress::start_at(Display::Lines, "comparing", Some("lines"), None, t0);
        assert_eq!(progress.line(t0 + Duration::from_secs(2)), "comparing: 0 lines, 2.0 s, 0 lines/s");
    }
}
