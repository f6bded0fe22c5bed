//! STUB — being replaced by the real runtime.
use crate::{LoopStatus, SuperLoop};
use std::sync::Arc;

/// A handle to a loop.
pub struct LoopHandle<T: SuperLoop> {
    #[allow(dead_code)]
    inner: Arc<parking_lot::Mutex<Option<T>>>,
}
impl<T: SuperLoop> Clone for LoopHandle<T> {
    fn clone(&self) -> Self { LoopHandle { inner: self.inner.clone() } }
}
impl<T: SuperLoop> LoopHandle<T> {
    /// new
    pub fn new(value: T) -> Self { LoopHandle { inner: Arc::new(parking_lot::Mutex::new(Some(value))) } }
    /// from_fn
    pub fn from_fn(f: impl Fn() -> T + Send + Sync + 'static) -> Self { Self::new(f()) }
    /// start
    pub fn start(&self) -> bool { todo!() }
    /// stop
    pub fn stop(&self) -> bool { todo!() }
    /// hard_reset
    pub fn hard_reset(&self) -> bool { todo!() }
    /// failure
    pub fn failure(&self) -> bool { todo!() }
    /// is_alive
    pub fn is_alive(&self) -> bool { todo!() }
    /// is_running
    pub fn is_running(&self) -> bool { todo!() }
    /// failures
    pub fn failures(&self) -> u32 { todo!() }
    /// thread_name
    pub fn thread_name(&self) -> Option<String> { todo!() }
    /// status
    pub fn status(&self) -> LoopStatus { todo!() }
}
