//! `loop_group! { … }`: one or more group declarations are parsed ([`ast`], [`settings`]),
//! checked ([`valid`]) and turned into a struct with its methods and impls ([`expand`]).

// The stages, in the order they run: each imports only those above it (a blank line between
// each, so that rustfmt keeps this order rather than sorting it).
mod ast;

mod settings;

mod valid;

mod expand;

use proc_macro2::TokenStream;
use quote::quote;

use crate::common::Ctxt;

/// Expands the body of `loop_group! { … }`: every group that could be read, and every error
/// found.
///
/// A group with mistakes in its members or options is still declared (with placeholders and
/// defaults in their place), so the user's code that uses it does not add errors of its own.
pub(crate) fn expand(input: TokenStream) -> TokenStream {
    let cx = Ctxt::new();
    let mut generated = TokenStream::new();
    for group in ast::parse(input, &cx) {
        let options = settings::parse(group.options.clone(), &cx);
        let plan = valid::check(&group, options, &cx);
        generated.extend(expand::group(&group, &plan));
    }
    let errors = cx.check().err().map(syn::Error::into_compile_error);
    quote! {
        #generated
        #errors
    }
}
