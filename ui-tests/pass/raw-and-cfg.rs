// Raw identifiers name the same hooks, and a hook under `#[cfg]` is forwarded under the same
// `cfg`: when it is compiled out, the trait's default runs.
#![deny(unconditional_recursion)]
use superloops::prelude::*;

#[derive(Default)]
struct r#Loop {
    started: bool,
}

#[superloop]
impl r#Loop {
    fn r#cycle(&mut self) {}

    #[cfg(all())]
    fn on_start(&mut self) -> bool {
        self.started = true;
        false
    }

    #[cfg(any())]
    fn on_stop(&mut self) {
        unreachable!()
    }
}

fn main() {
    assert_eq!(<r#Loop as SuperLoop>::CONFIG.name, "Loop");
    let mut l = r#Loop::default();
    assert_eq!(<r#Loop as SuperLoop>::on_start(&mut l), Ok(false));
    assert!(l.started);
    <r#Loop as SuperLoop>::on_stop(&mut l);
}
