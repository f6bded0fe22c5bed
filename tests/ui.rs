//! Compile-time behaviour of `#[superloop]`: every misuse in `ui-tests/fail/` must fail with
//! the message in its `.stderr`; every case in `ui-tests/pass/` must compile and run.
//!
//! Regenerate the `.stderr` files with `TRYBUILD=overwrite cargo test --test ui`, then read
//! their diff as the user interface it is.

// THE ONE PLACE THE TOOLCHAIN IS PINNED: rustc's wording and layout change between releases,
// and the `.stderr` files hold rustc 1.95's. On any other compiler this test is skipped;
// move the version here and regenerate the `.stderr` files when the toolchain moves.
#[rustversion::attr(
    not(stable(1.95)),
    ignore = "the .stderr files hold rustc 1.95's messages"
)]
#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("ui-tests/fail/*.rs");
    cases.pass("ui-tests/pass/*.rs");
}
