// The generated code names only `::superloops::__private` paths: it compiles next to user
// items that shadow the prelude, the standard crates and the runtime's names.
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
struct Drop;
struct Duration;
struct Into;
struct FnOnce;
struct Display;
struct TaskHandle;
struct SpawnError;
struct Ctx;
struct LoopController;
struct GroupSettings;
struct GroupMember;
struct GroupHealth;
struct Strategy;
struct Supervise;
struct MemberRef;
struct bool;
struct u32;
mod std {}
mod core {}
mod alloc {}

struct Worker;

#[::superloops::superloop]
impl Worker {
    fn cycle(&mut self) {}
}

fn log_reset() {}

::superloops::loop_group! {
    Pool<Worker, spare: Worker> {
        strategy = rest_for_one,
        max_restarts = 1,
        within = "1s",
        backoff = "1ms..2ms",
        on_reset = log_reset,
    }
}

::superloops::loop_group! {
    Tree<Pool>
}

fn main() {
    let tree = Tree::new(Pool::new(Worker, Worker));
    let _ = tree.pool.health();
    let _ = tree.controller();
    let task = tree
        .pool
        .spawn_task("sum", |_ctx| ::core::result::Result::<i64, &str>::Ok(2 + 2))
        .unwrap();
    ::std::assert_eq!(task.join().unwrap(), 4);
}
