//! `#[superloop(...)]`: options ([`attr`], sizes in [`size`]) and impl block ([`ast`]) are parsed, checked
//! ([`valid`]) and turned into `impl SuperLoop` ([`expand`]).

// The stages, in the order they run: each imports only those above it (a blank line between
// each, so that rustfmt keeps this order rather than sorting it).
mod size;

mod ast;

mod attr;

mod valid;

mod expand;

use proc_macro2::TokenStream;
use quote::quote;
use syn::{ImplItem, ImplItemFn, Item, ItemImpl};

use ast::Hook;

use crate::common::Ctxt;

/// Expands `#[superloop(args)] input`: the input as written, the `SuperLoop` impl, and every
/// error found.
pub(crate) fn expand(args: TokenStream, input: TokenStream) -> TokenStream {
    let cx = Ctxt::new();
    let options = attr::parse(args, &cx);
    // Unparsable input is left to rustc, which reports it when the input is emitted as is.
    let mut emitted = input.clone();
    let generated = match syn::parse2::<Item>(input) {
        Ok(item) => match ast::Input::from_syn(&item, &cx) {
            Some(parsed) => {
                let plan = valid::check(&parsed, &cx);
                if let Some(stripped) = without_variadic_hooks(&parsed) {
                    emitted = quote!(#stripped);
                }
                expand::superloop_impl(&parsed, &options, &plan)
            }
            None => TokenStream::new(),
        },
        Err(_) => TokenStream::new(),
    };
    let errors = cx.check().err().map(syn::Error::into_compile_error);
    quote! {
        #emitted
        #generated
        #errors
    }
}

/// The impl block without the `...` of its hooks, if a hook has one: [`valid`] reports it
/// with its fix, and the copy emitted for the rest of the build goes without it, or rustc
/// would add two errors and a warning of its own about the same three dots. `None` (the
/// input is emitted exactly as written) when no hook is variadic.
fn without_variadic_hooks(parsed: &ast::Input<'_>) -> Option<ItemImpl> {
    let is_variadic_hook = |func: &ImplItemFn| {
        func.sig.variadic.is_some() && Hook::ALL.iter().any(|h| func.sig.ident == h.name())
    };
    let any = parsed
        .item
        .items
        .iter()
        .any(|i| matches!(i, ImplItem::Fn(func) if is_variadic_hook(func)));
    if !any {
        return None;
    }
    let mut item = parsed.item.clone();
    for impl_item in &mut item.items {
        if let ImplItem::Fn(func) = impl_item {
            if is_variadic_hook(func) {
                func.sig.variadic = None;
            }
        }
    }
    Some(item)
}
