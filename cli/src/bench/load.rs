//! The load driver of `gongji bench`: a number of clients, each with one
//! request in flight at a time, for a warm-up and then a measured window;
//! every measured request's latency is kept (exact percentiles), and a
//! progress line is printed every second.

use std::{
    future::Future,
    io::Write,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use gongji_operator::progress::{Display, Progress};
use tokio::{task::JoinSet, time::Instant};

/// How one request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Done as asked (a payment approved, a relationship active).
    Done,
    /// Answered, but not done (a decline): the benchmark's setup was wrong.
    Refused(String),
    /// No answer: an error status or a broken connection.
    Failed(String),
}

/// How long to load, with how many clients, and how progress shows.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub clients: usize,
    pub warmup: Duration,
    pub duration: Duration,
    pub display: Display,
}

/// What a workload measured.
#[derive(Debug, Clone, Default)]
pub struct Measured {
    /// Requests that started inside the measured window and were done.
    pub done: u64,
    pub refused: u64,
    pub failed: u64,
    /// The first refusal or failure, to show what went wrong.
    pub first_problem: Option<String>,
    /// How long the measured window lasted.
    pub window: Duration,
    /// Latency of every measured request that was done, in µs, sorted.
    latencies_us: Vec<u32>,
}

impl Measured {
    /// Requests done per second of the measured window.
    pub fn rate(&self) -> f64 {
        let secs = self.window.as_secs_f64();
        if secs > 0.0 {
            self.done as f64 / secs
        } else {
            0.0
        }
    }

    /// The `q`-quantile (0 < q ≤ 1) of the latency, in milliseconds: the
    /// smallest latency that at least `q` of the requests did not exceed.
    pub fn latency_ms(&self, q: f64) -> Option<f64> {
        let n = self.latencies_us.len();
        if n == 0 {
            return None;
        }
        let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
        Some(f64::from(self.latencies_us[rank - 1]) / 1000.0)
    }

    fn absorb(&mut self, other: Client) {
        self.done += other.done;
        self.refused += other.refused;
        self.failed += other.failed;
        if self.first_problem.is_none() {
            self.first_problem = other.first_problem;
        }
        self.latencies_us.extend(other.latencies_us);
    }
}

/// One client's tally.
#[derive(Default)]
struct Client {
    done: u64,
    refused: u64,
    failed: u64,
    first_problem: Option<String>,
    latencies_us: Vec<u32>,
}

/// Runs `call(client, sequence)` from `shape.clients` clients until the
/// window ends, printing progress to `progress` as `label`. A client stops
/// early when `call` answers `None` (it has no more work).
pub async fn drive<F, Fut>(label: &str, shape: Shape, progress: &mut dyn Write, call: F) -> Measured
where
    F: Fn(usize, u64) -> Option<Fut> + Send + Sync + 'static,
    Fut: Future<Output = Answer> + Send + 'static,
{
    let call = Arc::new(call);
    let started = Instant::now();
    let measure_from = started + shape.warmup;
    let end = measure_from + shape.duration;
    let finished = Arc::new(AtomicU64::new(0));
    let mut clients = JoinSet::new();
    for client in 0..shape.clients {
        let call = Arc::clone(&call);
        let finished = Arc::clone(&finished);
        clients.spawn(async move {
            let mut tally = Client::default();
            let mut sequence = 0;
            loop {
                let at = Instant::now();
                if at >= end {
                    break;
                }
                let Some(request) = call(client, sequence) else { break };
                sequence += 1;
                let answer = request.await;
                finished.fetch_add(1, Ordering::Relaxed);
                if at < measure_from {
                    continue;
                }
                match answer {
                    Answer::Done => {
                        tally.done += 1;
                        let us = at.elapsed().as_micros();
                        tally.latencies_us.push(u32::try_from(us).unwrap_or(u32::MAX));
                    }
                    Answer::Refused(why) => {
                        tally.refused += 1;
                        tally.first_problem.get_or_insert(format!("refused: {why}"));
                    }
                    Answer::Failed(why) => {
                        tally.failed += 1;
                        tally.first_problem.get_or_insert(format!("failed: {why}"));
                    }
                }
            }
            tally
        });
    }

    let mut measured = Measured::default();
    let mut ticks = tokio::time::interval_at(started + Duration::from_secs(1), Duration::from_secs(1));
    let mut last = 0;
    // On a terminal a bar; elsewhere the line of each second below.
    let display = shape.display;
    let mut shown = Progress::start(display, format!("  {label}"), Some("requests"), None);
    loop {
        tokio::select! {
            joined = clients.join_next() => match joined {
                Some(Ok(tally)) => measured.absorb(tally),
                Some(Err(e)) => {
                    measured.failed += 1;
                    measured.first_problem.get_or_insert(format!("client task: {e}"));
                }
                None => break,
            },
            at = ticks.tick() => {
                let total = finished.load(Ordering::Relaxed);
                // The second that just ended: up to the end of the warm-up, it was warm-up.
                let phase = if at <= measure_from { "warm-up" } else { "measuring" };
                let elapsed = at.saturating_duration_since(started).as_secs();
                match display {
                    Display::Bar => shown.update(total, progress),
                    Display::Lines => {
                        let _ = writeln!(progress, "  {label}: {elapsed:>3} s ({phase}), {total} requests, {} in the last second", total - last);
                        let _ = progress.flush();
                    }
                }
                last = total;
            }
        }
    }
    shown.update(finished.load(Ordering::Relaxed), &mut std::io::sink());
    shown.finish(progress);
    // Clients that ran out of work end the window early.
    measured.window = Instant::now().min(end).saturating_duration_since(measure_from);
    measured.latencies_us.sort_unstable();
    measured
}

/// Runs `calls` with at most `limit` in flight, printing progress as
/// `label`; the first problem stops the lot.
pub async fn all<Fut>(label: &str, calls: Vec<Fut>, limit: usize, display: Display, progress: &mut dyn Write) -> Result<(), String>
where
    Fut: Future<Output = Answer> + Send + 'static,
{
    let total = calls.len();
    let mut shown = Progress::start(display, format!("  {label}"), Some("calls"), Some(total as u64));
    let mut running = JoinSet::new();
    let mut done = 0usize;
    let mut next_report = Instant::now() + Duration::from_secs(1);
    let check = |answer: Result<Answer, tokio::task::JoinError>, done: &mut usize| -> Result<(), String> {
        match answer {
            Ok(Answer::Done) => {
                *done += 1;
                Ok(())
            }
            Ok(Answer::Refused(why)) => Err(format!("{label}: refused: {why}")),
            Ok(Answer::Failed(why)) => Err(format!("{label}: {why}")),
            Err(e) => Err(format!("{label}: task: {e}")),
        }
    };
    for call in calls {
        while running.len() >= limit {
            if let Some(answer) = running.join_next().await {
                check(answer, &mut done)?;
            }
        }
        running.spawn(call);
        match display {
            Display::Bar => shown.update(done as u64, progress),
            Display::Lines if Instant::now() >= next_report => {
                let _ = writeln!(progress, "  {label}: {done} of {total}");
                let _ = progress.flush();
                next_report += Duration::from_secs(1);
            }
            Display::Lines => {}
        }
    }
    while let Some(answer) = running.join_next().await {
        check(answer, &mut done)?;
        shown.update(done as u64, &mut std::io::sink());
    }
    shown.finish(progress);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measured(latencies_us: Vec<u32>) -> Measured {
        Measured {
            done: latencies_us.len() as u64,
            window: Duration::from_secs(2),
            latencies_us,
            ..Default::default()
        }
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let m = measured((1..=100).map(|ms| ms * 1000).collect());
        assert_eq!(m.latency_ms(0.5), Some(50.0));
        assert_eq!(m.latency_ms(0.95), Some(95.0));
        assert_eq!(m.latency_ms(0.99), Some(99.0));
        assert_eq!(m.latency_ms(1.0), Some(100.0));
        assert_eq!(m.rate(), 50.0);
        assert_eq!(measured(vec![]).latency_ms(0.5), None);
        assert_eq!(measured(vec![7_000]).latency_ms(0.99), Some(7.0));
    }

    #[tokio::test]
    async fn drive_counts_answers_and_stops_clients_without_work() {
        let shape = Shape {
            clients: 3,
            warmup: Duration::ZERO,
            duration: Duration::from_secs(5),
            display: Display::Lines,
        };
        let mut progress = Vec::new();
        // Client 0 does 4 requests, client 1 is refused twice, client 2 fails once.
        let measured = drive("test", shape, &mut progress, |client, sequence| {
            let answer = match (client, sequence) {
                (0, 0..=3) => Answer::Done,
                (1, 0..=1) => Answer::Refused("no quota".into()),
                (2, 0) => Answer::Failed("unavailable".into()),
                _ => return None,
            };
            Some(async move { answer })
        })
        .await;
        assert_eq!((measured.done, measured.refused, measured.failed), (4, 2, 1));
        assert!(measured.first_problem.is_some());
        assert!(
            measured.window < Duration::from_secs(5),
            "the window ends when every client is out of work"
        );
    }
}
