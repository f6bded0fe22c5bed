//! Supervised tasks: one-shot named threads owned by a controller.
//!
//! A task's value comes back through `join`; its failure comes back as a `TaskError` *and*
//! brings its group through a reset, as a member exceeding its budget would. Run with
//! `cargo run --example tasks`.

use std::time::Duration;

use superloops::prelude::*;
use tracing_subscriber::EnvFilter;

#[derive(Default)]
struct Indexer;

#[superloop(grace = "1s")]
impl Indexer {
    fn cycle(&mut self, ctx: &Ctx) {
        ctx.sleep(Duration::from_secs(60));
    }
}

fn main() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).init();

    let controller = LoopController::new().named("Search").max_threads(2);
    let indexer = controller.new_loop(Indexer);
    controller.start();
    controller.maintain_loops();

    // A task that succeeds: join returns its value.
    let count = controller
        .spawn_task("count-documents", |_ctx| Ok::<_, String>(1_234))
        .unwrap();
    println!("count-documents -> {:?}", count.join());

    // A task that fails: join returns the error, and the group goes through a reset.
    let upload = controller
        .spawn_task("upload-index", |_ctx| -> Result<(), String> {
            Err("storage returned 503".into())
        })
        .unwrap();
    match upload.join() {
        Ok(()) => println!("upload-index -> ok"),
        Err(e) => println!("upload-index -> {e}"),
    }
    controller.wait_green(Duration::from_secs(10));
    println!(
        "after the reset: resets={} indexer thread={}",
        controller.resets(),
        indexer.thread_name().unwrap_or_default()
    );

    // max_threads = 2: a third task at once is refused (or queued, with queue_tasks()).
    let (release, gate) = superloops::channel::unbounded::<()>();
    let waiting: Vec<_> = (0..2)
        .map(|i| {
            let gate = gate.clone();
            controller
                .spawn_task(format!("worker-{i}"), move |_ctx| {
                    let _ = gate.recv();
                    Ok::<_, String>(i)
                })
                .unwrap()
        })
        .collect();
    match controller.spawn_task("one-too-many", |_ctx| Ok::<_, String>(())) {
        Ok(_) => println!("one-too-many -> started"),
        Err(e) => println!("one-too-many -> {e}"),
    }
    drop(release);
    for task in waiting {
        let name = task.name().to_owned();
        println!("{name} -> {:?}", task.join());
    }

    // A released task is not joined, but still stopped with its controller.
    controller
        .spawn_task("heartbeat", |ctx| {
            while ctx.sleep(Duration::from_millis(100)) {}
            Ok::<_, String>(())
        })
        .unwrap()
        .release();
    let report = controller.stop_with_report();
    println!("stopped: {report}");
}
