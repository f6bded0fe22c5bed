// `stack_size` in each form: binary and decimal units, bytes as a unit or an integer, the
// minimum; and a loop on the smallest stack that runs, panics in `cycle` (caught, counted, its
// backtrace printed on that stack when RUST_BACKTRACE is set) and stops.
use std::time::Duration;
use superloops::prelude::*;

struct Binary;
#[superloop(stack_size = "256 KiB")]
impl Binary {
    fn cycle(&mut self) {}
}

struct Decimal;
#[superloop(stack_size = "1 MB", name = "decimal")]
impl Decimal {
    fn cycle(&mut self) {}
}

struct Mebi;
#[superloop(stack_size = "2MiB")]
impl Mebi {
    fn cycle(&mut self) {}
}

struct Bytes;
#[superloop(stack_size = 131_072)]
impl Bytes {
    fn cycle(&mut self) {}
}

struct ByteUnit;
#[superloop(stack_size = "65536 B")]
impl ByteUnit {
    fn cycle(&mut self) {}
}

struct Default;
#[superloop]
impl Default {
    fn cycle(&mut self) {}
}

struct Small {
    panicked: bool,
}
#[superloop(stack_size = "64 KiB", grace = "10s", max_failures = 5)]
impl Small {
    fn cycle(&mut self, ctx: &Ctx) {
        if !self.panicked {
            self.panicked = true;
            panic!("a panic on a 64 KiB stack");
        }
        ctx.sleep(Duration::from_secs(10));
    }
}

fn main() {
    assert_eq!(<Binary as SuperLoop>::CONFIG.stack_size, Some(256 * 1024));
    assert_eq!(<Decimal as SuperLoop>::CONFIG.stack_size, Some(1_000_000));
    assert_eq!(
        <Mebi as SuperLoop>::CONFIG.stack_size,
        Some(2 * 1024 * 1024)
    );
    assert_eq!(<Bytes as SuperLoop>::CONFIG.stack_size, Some(131_072));
    assert_eq!(<ByteUnit as SuperLoop>::CONFIG.stack_size, Some(65_536));
    assert_eq!(<Default as SuperLoop>::CONFIG.stack_size, None);

    let small = Small { panicked: false }.into_loop();
    assert!(small.start());
    // The panic ended the first thread's run; the handle is left failed, with one failure.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while small.is_alive() || small.failures() == 0 {
        assert!(std::time::Instant::now() < deadline, "{}", small.status());
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(small.failures(), 1);
    assert!(small.start(), "a second thread on the small stack");
    assert!(small.stop());
}
