//! The hammers: threads calling the public API at random, removing loops from their controllers
//! and adding them back, and arming timers that stop loops.

use super::*;

/// Hammers until `stop`; returns the task handles it still keeps.
pub(crate) fn hammer(
    id: usize,
    seed: u64,
    watch: &Watch,
    stop: &AtomicBool,
    tree: &Tree,
    world: &Arc<World>,
) -> Vec<Held> {
    let (loops, controllers) = (&tree.loops[..], &tree.controllers[..]);
    let mut held = Vec::new();
    let mut rng = Rng::new(seed ^ (0xA5A5_0000 + id as u64));
    rng.next();
    while !stop.load(Ordering::SeqCst) {
        world.tally.hammer_calls.fetch_add(1, Ordering::Relaxed);
        let roll = rng.below(1000);
        if rng.below(100) < 2 {
            arm_timer_stop(&mut rng, loops, world);
        } else if rng.below(100) < 2 {
            remove_and_add_back(id, &mut rng, watch, loops, world);
        } else if rng.below(100) < 5 {
            task_op(
                id,
                &mut rng,
                watch,
                controllers,
                &tree.pools,
                world,
                &mut held,
            );
        } else if roll < 900 {
            let i = rng.below(loops.len() as u64) as usize;
            let l = &loops[i];
            let label = &l.track.label;
            match roll {
                0..=279 => watch.call(id, || format!("{label}.start()"), || l.ops.start()),
                280..=459 => {
                    let clean = watch.call(id, || format!("{label}.stop()"), || l.ops.stop());
                    if !clean {
                        world.tally.unclean_stops.fetch_add(1, Ordering::Relaxed);
                    }
                    clean
                }
                460..=579 => watch.call(
                    id,
                    || format!("{label}.hard_reset()"),
                    || l.ops.hard_reset(),
                ),
                580..=819 => watch.call(id, || format!("{label}.failure()"), || l.ops.failure()),
                _ => watch.call(
                    id,
                    || format!("{label} reads"),
                    || {
                        l.ops.reads();
                        l.ops.status().alive
                    },
                ),
            };
        } else {
            let c = rng.pick(controllers);
            let name = c.health().name;
            match roll {
                900..=939 => watch.call(
                    id,
                    || format!("{name}.maintain_loops()"),
                    || c.maintain_loops(),
                ),
                940..=969 => {
                    let running = watch.call(
                        id,
                        || format!("{name} health and lists"),
                        || {
                            let _ = (
                                c.health().to_string(),
                                c.alive_loops(),
                                c.stalled_loops(),
                                c.has_alive_loops(),
                                c.is_green(),
                                c.resets(),
                            );
                            c.running_tasks()
                        },
                    );
                    let pool = tree
                        .pools
                        .iter()
                        .find(|p| p.name == name)
                        .expect("every controller has a pool");
                    if running > pool.max {
                        world.violation(format!(
                            "{name}.running_tasks() is {running}, max_threads {}",
                            pool.max
                        ));
                    }
                }
                970..=984 => watch.call(
                    id,
                    || format!("{name}.stop_loops()"),
                    || {
                        c.stop_loops();
                    },
                ),
                985..=994 => watch.call(
                    id,
                    || format!("{name}.start()"),
                    || {
                        c.start();
                    },
                ),
                _ => watch.call(
                    id,
                    || format!("{name}.stop() then start()"),
                    || {
                        c.stop();
                        c.start();
                        c.maintain_loops();
                    },
                ),
            }
        }
        if rng.below(4) == 0 {
            thread::sleep(rng.range_ms(0, 3));
        }
    }
    held
}

/// Removes a random loop from its controller while everything else goes on (a reset may be
/// under way, or a hook may be stopping it), checks that it is no longer a member, and adds it
/// back (the last of its controller's members): it must return, and pair its hooks.
fn remove_and_add_back(id: usize, rng: &mut Rng, watch: &Watch, loops: &[Loop], world: &World) {
    let l = rng.pick(loops);
    let Ok(_one) = l.membership.try_lock() else {
        return;
    };
    let label = &l.track.label;
    let removed = watch.call(
        id,
        || format!("remove({label})"),
        || l.ops.remove_from(&l.parent),
    );
    if !removed {
        world.violation(format!("remove({label}) said it was not a member"));
    }
    if l.ops.remove_from(&l.parent) {
        world.violation(format!("{label} was still a member after its removal"));
    }
    world.tally.removals.fetch_add(1, Ordering::Relaxed);
    if rng.below(2) == 0 {
        thread::sleep(rng.range_ms(0, 3));
    }
    watch.call(id, || format!("add({label})"), || l.ops.add_to(&l.parent));
}

/// `Signal::after(d).then(|| loop.stop())` on a random loop: the callback runs on a thread of
/// the crate's own (never the timer thread, which other timers need meanwhile), racing the
/// hammers, resets and other timers. Every such callback must return: counted at the end.
fn arm_timer_stop(rng: &mut Rng, loops: &[Loop], world: &Arc<World>) {
    let ops = rng.pick(loops).ops.clone();
    let done = world.tally.timer_stops_done.clone();
    let timer = Signal::after(rng.range_ms(0, 20));
    world
        .tally
        .timer_stops_armed
        .fetch_add(1, Ordering::Relaxed);
    timer.then(move || {
        ops.stop();
        done.fetch_add(1, Ordering::SeqCst);
    });
    let mut held = world.timer_stops.lock().unwrap();
    held.retain(|t| !t.is_go());
    held.push(timer);
}
