// Every group option at once; the group builds, starts under its own name and stops.
use std::time::Duration;
use superloops::prelude::*;

struct Worker;

#[superloop(grace = "1s")]
impl Worker {
    fn cycle(&mut self, ctx: &Ctx) {
        ctx.sleep(Duration::from_secs(60));
    }
}

fn log_reset() {}

loop_group! {
    pub Pool<primary: Worker, spare: Worker> {
        strategy = one_for_one,
        max_restarts = 5,
        within = "1m",
        backoff = "10ms..30s",
        on_reset = crate::log_reset,
        max_threads = 2,
        queue_tasks,
        task_grace = "1s",
    }
}

loop_group! {
    // The other spellings: a closure for `on_reset`, an inclusive backoff range, a
    // `max_restarts` without `within` (a window of 60 s), `queue_tasks = false`, raw keys.
    Other<Worker> {
        r#strategy = rest_for_one,
        max_restarts = 0,
        backoff = "1s ..= 1s",
        on_reset = || println!("reset"),
        queue_tasks = false,
    }
}

fn main() {
    let pool = Pool::new(Worker, Worker);
    pool.start();
    let health = pool.health();
    assert_eq!(health.name, "Pool");
    assert_eq!(health.supervisor.as_deref(), Some("Pool_0"));
    assert_eq!(health.members.len(), 2);
    let task = pool
        .controller()
        .spawn_task("answer", |_ctx| Ok::<_, String>(42))
        .unwrap();
    assert_eq!(task.join().unwrap(), 42);
    assert!(pool.stop());

    let other = Other::new(Worker);
    assert_eq!(other.health().name, "Other");
}
