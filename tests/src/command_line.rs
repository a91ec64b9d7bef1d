//! The `gongji` command line driven in-process through `gongji::run`
//! (the same path as the binary), with its output captured.

/// What one `gongji …` invocation printed and returned.
pub struct Ran {
    pub code: u8,
    pub out: String,
    pub err: String,
}

/// Runs `gongji ARGS`.
pub async fn gongji(args: &[&str]) -> Ran {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = gongji::run(std::iter::once("gongji").chain(args.iter().copied()), &mut out, &mut err).await;
    Ran {
        code,
        out: String::from_utf8(out).expect("utf-8 output"),
        err: String::from_utf8(err).expect("utf-8 errors"),
    }
}

/// Runs `gongji ARGS`, which must succeed, and returns what it printed.
pub async fn ok(args: &[&str]) -> String {
    let ran = gongji(args).await;
    assert_eq!(ran.code, 0, "gongji {args:?}:\n{}{}", ran.out, ran.err);
    ran.out
}
