//! Code generation: `impl SuperLoop for Type`, forwarding to the checked hooks.
//!
//! The impl has no bound of its own: a type that is not `Send + 'static` gets one error, at
//! the impl (spanned on the user's type), from `SuperLoop`'s supertrait bound, whose comment
//! rustc shows. The impl still counts as one, so `value.into_loop()` (`IntoLoop`, a blanket
//! trait) adds no second error.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::ext::IdentExt;
use syn::{Attribute, Ident, LitStr};

use super::ast::{Hook, Input};
use super::attr::LoopOptions;
use super::valid::{Forward, Plan};
use crate::common::{duration, spans};

/// The `SuperLoop` impl for `input`.
///
/// It is generated after errors too, with only the hooks that passed the checks (and a stub
/// `cycle` when it is missing or wrong), so that `value.into_loop()` elsewhere in the user's
/// code does not cascade into "not a superloop".
pub(crate) fn superloop_impl(input: &Input, options: &LoopOptions, plan: &Plan) -> TokenStream {
    if !plan.can_be_a_loop {
        return TokenStream::new();
    }
    let item = input.item;
    let self_ty = &item.self_ty;
    let (impl_generics, _, where_clause) = item.generics.split_for_impl();
    let config = config(input, options);
    let cycle = match plan.hook(Hook::Cycle) {
        Some(forward) => cycle_fn(forward),
        None => cycle_stub(),
    };
    let hooks = [
        Hook::OnStart,
        Hook::OnStop,
        Hook::OnThreadStart,
        Hook::OnThreadStop,
    ]
    .into_iter()
    .filter_map(|hook| plan.hook(hook))
    .map(hook_fn);

    quote! {
        #[automatically_derived]
        // The impl repeats the user's generics with their spans: their lints are the user's.
        #[allow(clippy::all, clippy::pedantic, clippy::nursery)]
        impl #impl_generics ::superloops::__private::SuperLoop for #self_ty #where_clause {
            const CONFIG: ::superloops::__private::LoopConfig = #config;
            #cycle
            #(#hooks)*
        }
    }
}

/// `LoopConfig::new("Name")` and a builder call for each option given.
fn config(input: &Input, options: &LoopOptions) -> TokenStream {
    let name = options.name.clone().unwrap_or_else(|| {
        LitStr::new(&input.type_name.unraw().to_string(), input.type_name.span())
    });
    let mut config = quote!(::superloops::__private::LoopConfig::new(#name));
    if let Some((grace, lit)) = &options.grace {
        let grace = duration::to_tokens(*grace, lit);
        config.extend(quote!(.grace(#grace)));
    }
    if let Some((n, span)) = options.max_failures {
        let n = proc_macro2::Literal::u32_unsuffixed(n);
        config.extend(quote_spanned!(span=> .max_failures(#n)));
    }
    if let Some((within, lit)) = &options.within {
        let within = duration::to_tokens(*within, lit);
        config.extend(quote!(.within(#within)));
    }
    if let Some(on) = &options.stop_on_failure {
        config.extend(quote!(.stop_on_failure(#on)));
    }
    if let Some(on) = &options.reset_globally {
        config.extend(quote!(.reset_globally(#on)));
    }
    if let Some((bytes, span)) = options.stack_size {
        let bytes = proc_macro2::Literal::u64_unsuffixed(bytes);
        config.extend(quote_spanned!(span=> .stack_size(#bytes)));
    }
    if let Some((timeout, lit)) = &options.cycle_timeout {
        let timeout = duration::to_tokens(*timeout, lit);
        config.extend(quote!(.cycle_timeout(#timeout)));
    }
    config
}

/// `fn cycle` forwarding to the user's: `<Self>::cycle` names the inherent method, which
/// takes precedence over the trait's method of the same name.
///
/// The conversion of the return value is spanned on the user's return type, and the context
/// argument on the user's parameter type, so a wrong type is reported there with the
/// message of `CycleReturn` / `CtxParam`.
fn cycle_fn(forward: &Forward) -> TokenStream {
    let ident = &forward.func.sig.ident;
    let ctx = Ident::new("__superloops_ctx", Span::call_site());
    let ctx_arg = forward.ctx.map(|ty| {
        let ctx_param = spans::private_call("ctx_param", quote!(#ctx), ty);
        quote!(, #ctx_param)
    });
    let body = returned("cycle_return", ident, forward.ret, quote!(self #ctx_arg));
    let cfgs = cfg_attrs(&forward.func.attrs);
    quote! {
        #(#cfgs)*
        #[inline]
        fn cycle(
            &mut self,
            #ctx: &::superloops::__private::Ctx,
        ) -> ::superloops::__private::Result<(), ::superloops::__private::LoopError> {
            #body
        }
    }
}

/// A `cycle` that does nothing, in place of a missing or wrong one (already reported).
fn cycle_stub() -> TokenStream {
    quote! {
        fn cycle(
            &mut self,
            _: &::superloops::__private::Ctx,
        ) -> ::superloops::__private::Result<(), ::superloops::__private::LoopError> {
            ::superloops::__private::Result::Ok(())
        }
    }
}

/// An `on_…` hook forwarding to the user's.
fn hook_fn(forward: &Forward) -> TokenStream {
    let ident = &forward.func.sig.ident;
    let cfgs = cfg_attrs(&forward.func.attrs);
    match forward.hook {
        Hook::OnStart => {
            let body = returned("start_return", ident, forward.ret, quote!(self));
            quote! {
                #(#cfgs)*
                #[inline]
                fn on_start(
                    &mut self,
                ) -> ::superloops::__private::Result<
                    ::superloops::__private::bool,
                    ::superloops::__private::LoopError,
                > {
                    #body
                }
            }
        }
        hook => {
            let name = Ident::new(hook.name(), Span::call_site());
            quote! {
                #(#cfgs)*
                #[inline]
                fn #name(&mut self) {
                    <Self>::#ident(self)
                }
            }
        }
    }
}

/// `convert(<Self>::ident(args))`, spanned on the user's return type (on the method's name
/// when it has none): a return type that `convert` does not accept is reported there, with
/// the message of its trait (`CycleReturn`, `StartReturn`).
fn returned(
    convert: &str,
    ident: &Ident,
    ret: Option<&syn::Type>,
    args: TokenStream,
) -> TokenStream {
    let call = match ret {
        Some(ty) => spans::self_call(ident, args, ty),
        None => spans::self_call(ident, args, ident),
    };
    match ret {
        Some(ty) => spans::private_call(convert, call, ty),
        None => spans::private_call(convert, call, ident),
    }
}

/// A hook under `#[cfg(...)]` is forwarded under the same `cfg`.
fn cfg_attrs(attrs: &[Attribute]) -> impl Iterator<Item = &Attribute> {
    attrs.iter().filter(|attr| attr.path().is_ident("cfg"))
}
