//! `#[superloop(...)]`: options ([`attr`], sizes in [`size`]) and impl block ([`ast`]) are parsed, checked
//! ([`valid`]) and turned into `impl SuperLoop` ([`expand`]).

mod ast;
mod attr;
mod expand;
mod size;
mod valid;

use proc_macro2::TokenStream;
use quote::quote;
use syn::Item;

use crate::common::Ctxt;

/// Expands `#[superloop(args)] input`: the input as written, the `SuperLoop` impl, and every
/// error found.
pub(crate) fn expand(args: TokenStream, input: TokenStream) -> TokenStream {
    let cx = Ctxt::new();
    let options = attr::parse(args, &cx);
    // Unparsable input is left to rustc, which reports it when the input is emitted as is.
    let generated = match syn::parse2::<Item>(input.clone()) {
        Ok(item) => match ast::Input::from_syn(&item, &cx) {
            Some(parsed) => {
                let plan = valid::check(&parsed, &cx);
                expand::superloop_impl(&parsed, &options, &plan)
            }
            None => TokenStream::new(),
        },
        Err(_) => TokenStream::new(),
    };
    let errors = cx.check().err().map(syn::Error::into_compile_error);
    quote! {
        #input
        #generated
        #errors
    }
}
