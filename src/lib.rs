//! Development package of the superloops workspace: it owns `tests/`, `examples/` and
//! `benches/`. Depend on `superloops`, not on this.
#![forbid(unsafe_code)]
