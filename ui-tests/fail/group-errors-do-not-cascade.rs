// Three mistakes, each reported (the clash on both members). The group is still declared,
// with the default options and a stand-in for the second field, so the code that uses it
// adds no errors of its own.
use superloops::prelude::*;

struct Worker;

#[superloop]
impl Worker {
    fn cycle(&mut self) {}
}

loop_group! {
    pub Pool<Worker, Worker> { stratgy = one_for_one, max_restarts = 3, max_restarts = 5 }
}

fn main() {
    let pool = Pool::new(Worker, Worker);
    pool.start();
    let _ = pool.worker.failure();
    println!("{}", pool.health());
    pool.stop();
}
