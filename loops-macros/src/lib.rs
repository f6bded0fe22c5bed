//! Procedural macros of superloops. Use them through the `superloops` crate.
#![forbid(unsafe_code)]
use proc_macro::TokenStream;

/// See `superloops::superloop`.
#[proc_macro_attribute]
pub fn superloop(_attr: TokenStream, item: TokenStream) -> TokenStream {
    item
}
