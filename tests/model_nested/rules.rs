//! The two cases where an earlier implementation broke the rules as written (the model found
//! them): each test asserts the written rule, which the implementation now keeps.

use super::*;

/// Every loop running under both supervisors.
fn rig_running() -> Rig {
    let r = rig();
    assert!(r.outer.start());
    r.outer.maintain_loops(); // A, then Inner (its supervisor, B, C), then D
    for log in &r.logs {
        log.wait_for("on_thread_start", 1);
    }
    assert!(r.inner.health().supervisor.is_some());
    r
}

/// `stop_loops` on the nested group takes its loops out of supervision; B is then started again
/// with its own handle, and the parent's `maintain_loops` maintains the nested group in turn
/// (C starts too, though B runs). The parent's next reset stops and restarts both: nobody
/// stopped them from outside since they were started. (An earlier implementation skipped the
/// nested group in the parent's `maintain_loops` while B ran, then stopped B for good in the
/// reset.)
#[test]
fn a_loop_started_again_in_a_nested_group_stopped_from_outside_is_restarted_by_resets() {
    let r = rig_running();
    assert!(r.inner.stop_loops());
    assert!(r.loops[B].start(), "B started again with its own handle");
    r.outer.maintain_loops();
    r.logs[C].wait_for("on_thread_start", 2);
    assert!(
        r.loops[C].is_alive(),
        "the parent's maintain_loops maintains the nested group"
    );
    assert!(r.loops[A].failure());
    assert!(r.outer.wait_green(BOUND) && r.inner.wait_green(BOUND));
    assert_eq!(r.outer.resets(), 1);
    assert!(
        r.loops[B].is_alive() && r.loops[C].is_alive(),
        "the parent's reset stopped a nested loop for good:\n{}",
        r.outer.health()
    );
}

/// A loop stopped with its handle's `stop` is out of supervision until it is started again:
/// neither its own group's reset nor its parent's restarts it. (An earlier implementation
/// restarted the nested group in a parent's reset as `maintain_loops` does, starting C.)
#[test]
fn a_nested_loop_stopped_with_its_handle_is_not_restarted_by_a_parent_reset() {
    let r = rig_running();
    assert!(r.loops[C].stop());
    // Its own group's reset leaves it stopped.
    assert!(r.loops[B].failure());
    assert!(r.inner.wait_green(BOUND));
    assert!(!r.loops[C].is_alive());
    assert_eq!(r.inner.resets(), 1);
    // So does the parent's.
    assert!(r.loops[A].failure());
    assert!(r.outer.wait_green(BOUND) && r.inner.wait_green(BOUND));
    assert_eq!(r.outer.resets(), 1);
    assert!(
        !r.loops[C].is_alive(),
        "C, stopped with its handle, was started by the parent's reset:\n{}",
        r.outer.health()
    );
    assert!(r.loops[B].is_alive(), "B was restarted");
}
