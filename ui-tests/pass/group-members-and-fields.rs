// Unnamed members are fields named after their type in snake_case (generic arguments and
// the path dropped); named members choose their field, so one type can appear twice.
use std::time::Duration;
use superloops::prelude::*;

struct Worker<T>(T);

#[superloop]
impl<T: Send + 'static> Worker<T> {
    fn cycle(&mut self, ctx: &Ctx) {
        ctx.sleep(Duration::from_secs(60));
    }
}

mod feeds {
    use superloops::prelude::*;

    pub struct HTTPFeed;

    #[superloop]
    impl HTTPFeed {
        fn cycle(&mut self) {}
    }
}

struct Loop;

#[superloop]
impl Loop {
    fn cycle(&mut self) {}
}

loop_group! {
    Pool<
        Worker<u32>,
        spare: Worker<u32>,
        text: Worker<String>,
        feeds::HTTPFeed,
        Loop,
    >
}

fn main() {
    let pool = Pool::new(
        Worker(1),
        Worker(2),
        Worker(String::new()),
        feeds::HTTPFeed,
        Loop,
    );
    let _: &LoopHandle<Worker<u32>> = &pool.worker;
    let _: &LoopHandle<Worker<u32>> = &pool.spare;
    let _: &LoopHandle<Worker<String>> = &pool.text;
    let _: &LoopHandle<feeds::HTTPFeed> = &pool.http_feed;
    let _: &LoopHandle<Loop> = &pool.r#loop;
    let names: Vec<String> = pool
        .health()
        .members
        .iter()
        .map(|m| m.name().to_owned())
        .collect();
    assert_eq!(names, ["Worker", "Worker", "Worker", "HTTPFeed", "Loop"]);
}
