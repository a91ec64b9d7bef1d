//! A small seeded random generator for property tests and the chaos test:
//! the same seed gives the same sequence on every machine, so a failing seed
//! reproduces. (SplitMix64; not for anything secret.)

/// A deterministic pseudo-random sequence.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..bound` (0 if `bound` is 0).
    pub fn below(&mut self, bound: u64) -> u64 {
        if bound == 0 {
            0
        } else {
            self.next_u64() % bound
        }
    }

    /// True with probability `percent` / 100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// One of the items.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// Random bytes, up to `max` of them.
    pub fn bytes(&mut self, max: usize) -> Vec<u8> {
        let len = self.below(max as u64 + 1) as usize;
        (0..len).map(|_| self.next_u64() as u8).collect()
    }

    /// A random string mixing digits, letters, signs, dots, spaces and
    /// some non-ASCII, up to `max` characters: the shapes input can take.
    pub fn text(&mut self, max: usize) -> String {
        const ALPHABET: &[char] = &[
            '0', '1', '2', '5', '9', '.', '-', '+', ',', ' ', 'e', 'E', 'a', 'Z', 'H', 'P', '_', ':', '/', '\u{1f}', '\0', '¥', '元', '٣',
            '\n',
        ];
        let len = self.below(max as u64 + 1) as usize;
        (0..len).map(|_| *self.pick(ALPHABET)).collect()
    }
}

/// The variable that names the PostgreSQL server the tests use (an admin
/// URL); `scripts/test.sh` starts a throwaway server and sets it.
pub const TEST_POSTGRES: &str = "GONGJI_TEST_POSTGRES";

/// A new, empty database on the tests' PostgreSQL server, and its URL.
/// Panics (the test fails, it is never skipped) when no server is given.
pub fn fresh_postgres_database() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static MADE: AtomicU64 = AtomicU64::new(0);
    let admin = std::env::var(TEST_POSTGRES).unwrap_or_else(|_| {
        panic!("{TEST_POSTGRES} is not set: run the tests with ./scripts/test.sh, which starts a throwaway PostgreSQL for them")
    });
    let server = match admin.rsplit_once('/') {
        Some((server, _)) => server.to_owned(),
        None => panic!("{TEST_POSTGRES}={admin} is not a URL ending in /DATABASE"),
    };
    let name = format!(
        "gongji_test_{}_{}_{}",
        std::process::id(),
        MADE.fetch_add(1, Ordering::SeqCst),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos())
    );
    administer_postgres(&admin, &format!("CREATE DATABASE {name}"));
    format!("{server}/{name}")
}

/// Runs `sql` on the PostgreSQL database at `url` (tests only: creating a
/// database, ending sessions as a failure would). Panics, naming both,
/// when it cannot.
pub fn administer_postgres(url: &str, sql: &str) {
    let (url, sql) = (url.to_owned(), sql.to_owned());
    // On a thread of its own: the caller may be on an async runtime.
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime for the test's SQL");
        runtime.block_on(async {
            let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .unwrap_or_else(|e| panic!("cannot reach the tests' PostgreSQL at {url}: {e}"));
            tokio::spawn(connection);
            client.batch_execute(&sql).await.unwrap_or_else(|e| panic!("{sql} on {url}: {e:?}"));
        });
    })
    .join()
    .expect("running the test's SQL");
}
