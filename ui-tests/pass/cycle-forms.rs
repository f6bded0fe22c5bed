// Every accepted form of `cycle`: with or without the context, returning nothing, `()`,
// `Result<(), E>` with any `E: Display`, `std::io::Result<()>` and an alias of `Result`.
#![deny(warnings)]
use std::fmt;
use superloops::prelude::*;

fn assert_loop<T: SuperLoop>() {}

struct NoCtx;
#[superloop]
impl NoCtx {
    fn cycle(&mut self) {}
}

struct WithCtx;
#[superloop]
impl WithCtx {
    fn cycle(&mut self, ctx: &Ctx) {
        let _ = ctx.should_stop();
    }
}

struct UnitReturn;
#[superloop]
impl UnitReturn {
    fn cycle(&mut self, _ctx: &superloops::Ctx) -> () {}
}

struct StringError;
#[superloop]
impl StringError {
    fn cycle(&mut self, _: &Ctx) -> Result<(), String> {
        Ok(())
    }
}

struct IoResult;
#[superloop]
impl IoResult {
    fn cycle(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[derive(Debug)]
struct MyError;
impl fmt::Display for MyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("my error")
    }
}
mod my {
    pub type Result<T> = std::result::Result<T, super::MyError>;
}
type Context = Ctx;

struct AliasResult;
#[superloop]
impl AliasResult {
    fn cycle(self: &mut Self, _ctx: &Context) -> my::Result<()> {
        Err(MyError)
    }
}

fn main() {
    assert_loop::<NoCtx>();
    assert_loop::<WithCtx>();
    assert_loop::<UnitReturn>();
    assert_loop::<StringError>();
    assert_loop::<IoResult>();
    assert_loop::<AliasResult>();
}
