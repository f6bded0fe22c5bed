//! A loop whose hooks run closures the test gives: for hooks that call other loops and
//! controllers ([`hooked!`](crate::hooked) declares one with given options).

use std::sync::Arc;

use superloops::Ctx;

use super::Log;

type Hook = Arc<dyn Fn() + Send + Sync>;
type CycleHook = Arc<dyn Fn(&Ctx) + Send + Sync>;

/// A loop whose hooks run the closures given: for hooks that call other loops.
#[derive(Clone, Default)]
pub struct Hooks {
    pub log: Log,
    pub on_start: Option<Hook>,
    pub on_stop: Option<Hook>,
    pub cycle: Option<CycleHook>,
}

impl Hooks {
    pub fn on_start(mut self, f: impl Fn() + Send + Sync + 'static) -> Self {
        self.on_start = Some(Arc::new(f));
        self
    }
    pub fn on_stop(mut self, f: impl Fn() + Send + Sync + 'static) -> Self {
        self.on_stop = Some(Arc::new(f));
        self
    }
    pub fn cycle(mut self, f: impl Fn(&Ctx) + Send + Sync + 'static) -> Self {
        self.cycle = Some(Arc::new(f));
        self
    }
}

#[macro_export]
macro_rules! hooked {
    ($name:ident $(, $($opt:tt)*)?) => {
        pub struct $name(pub $crate::common::hooks::Hooks);

        #[superloops::superloop($($($opt)*)?)]
        impl $name {
            fn on_start(&mut self) -> Result<(), String> {
                self.0.log.push("on_start");
                if let Some(f) = &self.0.on_start {
                    f();
                }
                Ok(())
            }
            fn on_stop(&mut self) {
                self.0.log.push("on_stop");
                if let Some(f) = &self.0.on_stop {
                    f();
                }
            }
            fn on_thread_start(&mut self) {
                self.0.log.push("on_thread_start");
            }
            fn on_thread_stop(&mut self) {
                self.0.log.push("on_thread_stop");
            }
            fn cycle(&mut self, ctx: &superloops::Ctx) {
                self.0.log.push("cycle");
                match &self.0.cycle {
                    Some(f) => f(ctx),
                    None => {
                        ctx.sleep(std::time::Duration::from_secs(3600));
                    }
                }
            }
        }
    };
}
