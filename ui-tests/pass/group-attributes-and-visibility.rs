// Doc comments and other attributes go on the struct, any visibility works, and every
// generated item is documented: `missing_docs` has nothing to say.
#![deny(missing_docs)]
//! Groups in a documented module.

/// Groups of every visibility.
pub mod groups {
    use superloops::prelude::*;

    /// A loop.
    #[derive(Debug)]
    pub struct Worker;

    #[superloop]
    impl Worker {
        fn cycle(&mut self) {}
    }

    loop_group! {
        /// A failure in either restarts both.
        #[derive(Debug)]
        pub Public<Worker, spare: Worker>
    }

    loop_group! {
        /// Visible in the crate.
        pub(crate) InCrate<Worker>
    }

    loop_group! {
        /// Visible in the parent module.
        pub(super) InParent<Worker>
    }

    loop_group! {
        // No doc comment: the macro writes one.
        pub Undocumented<Worker>
    }

    loop_group! {
        Private<Worker>
    }

    loop_group! {
        /// Under a `cfg` that is off: neither the struct nor its impls exist.
        #[cfg(any())]
        pub Never<Worker, NotEvenAType>;

        /// Under a `cfg` that is on.
        #[cfg(all())]
        pub Always<Worker>
    }

    /// Uses the private group.
    pub fn private() -> usize {
        Private::new(Worker).health().members.len()
    }
}

fn main() {
    let public = groups::Public::new(groups::Worker, groups::Worker);
    assert!(format!("{public:?}").starts_with("Public { worker: LoopHandle("));
    let _ = groups::InCrate::new(groups::Worker);
    let _ = groups::InParent::new(groups::Worker);
    let _ = groups::Undocumented::new(groups::Worker);
    let _ = groups::Always::new(groups::Worker);
    assert_eq!(groups::private(), 1);
}
