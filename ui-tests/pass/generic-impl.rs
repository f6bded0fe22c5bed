// A generic impl with bounds and a where clause: the `SuperLoop` impl carries the same
// generics, and the thread name is the type's name without its arguments.
use std::sync::Arc;
use superloops::prelude::*;

struct Worker<T, const N: usize> {
    items: Vec<T>,
}

#[superloop(max_failures = 2)]
impl<T: Send + 'static, const N: usize> Worker<T, N>
where
    T: Clone + std::fmt::Debug,
{
    fn cycle(&mut self, _ctx: &Ctx) -> Result<(), String> {
        if self.items.len() > N {
            return Err(format!("too many items: {:?}", self.items));
        }
        Ok(())
    }

    fn first(&self) -> Option<T> {
        self.items.first().cloned()
    }
}

struct Shared<T: ?Sized + Send + Sync + 'static>(Arc<T>);

#[superloop]
impl<T: ?Sized + Send + Sync + 'static> Shared<T> {
    fn cycle(&mut self) {}
}

// Borrowing only `'static` data is fine: the value can still move into its own thread.
struct Label<'a>(&'a str);

#[superloop]
impl Label<'static> {
    fn cycle(&mut self) {
        let _ = self.0;
    }
}

fn assert_loop<T: SuperLoop>() {}

fn main() {
    assert_loop::<Worker<u8, 3>>();
    assert_loop::<Worker<String, 0>>();
    assert_loop::<Shared<str>>();
    assert_loop::<Label<'static>>();
    assert_eq!(<Worker<u8, 3> as SuperLoop>::CONFIG.name, "Worker");
    assert_eq!(<Worker<u8, 3> as SuperLoop>::CONFIG.max_failures, 2);
    assert_eq!(<Shared<str> as SuperLoop>::CONFIG.name, "Shared");
    let w = Worker::<u8, 3> { items: vec![7] };
    assert_eq!(w.first(), Some(7));
    let _ = Shared::<str>(Arc::from("x"));
}
