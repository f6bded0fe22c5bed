use superloops::prelude::*;

struct Feed;

#[superloop]
impl SuperLoop for Feed {
    const CONFIG: LoopConfig = LoopConfig::new("feed");
    fn cycle(&mut self, _ctx: &Ctx) -> Result<(), LoopError> {
        Ok(())
    }
}

fn main() {}
