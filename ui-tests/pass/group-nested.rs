// A group is a member of another group; one invocation declares several groups, separated
// by `;` or by nothing.
use std::time::Duration;
use superloops::prelude::*;

struct ProcessLoop;

#[superloop(grace = "1s")]
impl ProcessLoop {
    fn cycle(&mut self, ctx: &Ctx) {
        ctx.sleep(Duration::from_secs(60));
    }
}

struct ApiFeed;

#[superloop(grace = "1s")]
impl ApiFeed {
    fn cycle(&mut self, ctx: &Ctx) {
        ctx.sleep(Duration::from_secs(60));
    }
}

loop_group! {
    Pipeline<ProcessLoop, ApiFeed>;
    Tree<Pipeline, audit: ApiFeed> { strategy = one_for_one }
    Forest<Tree>
}

fn main() {
    let forest = Forest::new(Tree::new(Pipeline::new(ProcessLoop, ApiFeed), ApiFeed));
    let _: &Tree = &forest.tree;
    let _: &Pipeline = &forest.tree.pipeline;
    let _: &LoopHandle<ApiFeed> = &forest.tree.pipeline.api_feed;
    forest.start();
    assert!(forest.tree.pipeline.process_loop.is_alive());
    assert_eq!(
        forest.tree.pipeline.health().supervisor.as_deref(),
        Some("Pipeline_0")
    );
    assert!(forest.stop());
    assert!(!forest.tree.audit.is_alive());
}
