//! Pieces shared by `#[superloop]` and `loop_group!`.

pub(crate) mod case;
pub(crate) mod ctxt;
pub(crate) mod duration;
pub(crate) mod options;
pub(crate) mod spans;
pub(crate) mod suggest;

pub(crate) use case::snake_case;
pub(crate) use ctxt::Ctxt;
