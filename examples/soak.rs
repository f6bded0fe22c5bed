//! The chaos soak of `tests/soak/`, as a program for long runs:
//!
//! ```text
//! cargo run --release --example soak -- [SECS] [SEED]
//! ```
//!
//! Without arguments it reads `SUPERLOOPS_SOAK_SECS` and `SUPERLOOPS_SOAK_SEED` like the test
//! (defaults: 15 s and a fresh seed, printed first). It exits non-zero, with every violation
//! listed, if a guarantee was broken; on a deadlock its watchdog prints every loop's status
//! and exits.

#[path = "../tests/soak/main.rs"]
mod soak;

fn main() {
    let mut args = std::env::args().skip(1);
    if let Some(secs) = args.next() {
        std::env::set_var("SUPERLOOPS_SOAK_SECS", secs);
    }
    if let Some(seed) = args.next() {
        std::env::set_var("SUPERLOOPS_SOAK_SEED", seed);
    }
    soak::soak_from_env();
}
