// Every hook, in every accepted form, forwarded by the generated `SuperLoop` impl: calling the
// trait's methods runs the user's.
use superloops::prelude::*;

#[derive(Default)]
struct Log(Vec<&'static str>);

#[superloop]
impl Log {
    fn on_start(&mut self) -> bool {
        self.0.push("on_start");
        true
    }
    fn on_stop(&mut self) {
        self.0.push("on_stop");
    }
    fn on_thread_start(&mut self) -> () {
        self.0.push("on_thread_start");
    }
    fn on_thread_stop(&mut self) {
        self.0.push("on_thread_stop");
    }
    fn cycle(&mut self) {}
}

struct Declines;

#[superloop]
impl Declines {
    fn on_start(&mut self) -> bool {
        false
    }
    fn cycle(&mut self) {}
}

struct Fails;

#[superloop]
impl Fails {
    fn on_start(&mut self) -> Result<(), String> {
        Err("no connection".to_owned())
    }
    fn cycle(&mut self) {}
}

struct Succeeds;

#[superloop]
impl Succeeds {
    pub fn on_start(&mut self) -> std::io::Result<()> {
        Ok(())
    }
    fn cycle(&mut self) {}
}

fn main() {
    let mut log = Log::default();
    assert_eq!(<Log as SuperLoop>::on_start(&mut log), Ok(true));
    <Log as SuperLoop>::on_thread_start(&mut log);
    <Log as SuperLoop>::on_thread_stop(&mut log);
    <Log as SuperLoop>::on_stop(&mut log);
    assert_eq!(
        log.0,
        ["on_start", "on_thread_start", "on_thread_stop", "on_stop"]
    );

    assert_eq!(<Declines as SuperLoop>::on_start(&mut Declines), Ok(false));
    let err = <Fails as SuperLoop>::on_start(&mut Fails).unwrap_err();
    assert_eq!(err.to_string(), "no connection");
    assert_eq!(<Succeeds as SuperLoop>::on_start(&mut Succeeds), Ok(true));
}
