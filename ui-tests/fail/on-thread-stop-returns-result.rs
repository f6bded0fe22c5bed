use superloops::prelude::*;

struct Feed;

#[superloop]
impl Feed {
    fn on_thread_stop(&mut self) -> Result<(), String> {
        Ok(())
    }
    fn cycle(&mut self) {}
}

fn main() {}
