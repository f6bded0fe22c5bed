// The generated code names only `::superloops::__private` paths: it compiles next to user
// items that shadow the prelude and the standard crates' names.
#![deny(warnings)]
#![allow(dead_code, non_camel_case_types)]

struct Result;
struct Ok;
struct Err;
struct Option;
struct Some;
struct None;
struct Box;
struct Vec;
struct String;
struct Send;
struct Sync;
struct Sized;
struct Duration;
struct LoopConfig;
struct LoopError;
struct Ctx;
struct SuperLoop;
struct bool;
mod std {}
mod core {}
mod alloc {}
mod superloops_private {}

struct Hygienic {
    n: u32,
}

#[::superloops::superloop(
    grace = "1s",
    max_failures = 1,
    within = "1m",
    stop_on_failure,
    reset_globally = false,
    name = "hygienic"
)]
impl Hygienic {
    fn cycle(
        &mut self,
        __superloops_ctx: &::superloops::Ctx,
    ) -> ::core::result::Result<(), &'static str> {
        let _ = __superloops_ctx;
        self.n += 1;
        ::core::result::Result::Ok(())
    }
    fn on_start(&mut self) -> ::core::primitive::bool {
        true
    }
    fn on_stop(&mut self) {}
    fn on_thread_start(&mut self) {}
    fn on_thread_stop(&mut self) {}
}

fn main() {
    let config = <Hygienic as ::superloops::SuperLoop>::CONFIG;
    ::core::assert_eq!(config.name, "hygienic");
    let mut h = Hygienic { n: 0 };
    ::core::assert_eq!(
        <Hygienic as ::superloops::SuperLoop>::on_start(&mut h),
        ::core::result::Result::Ok(true)
    );
}
