//! Checks of an [`Input`]: hook signatures, unknown `on_…` methods, a missing `cycle`, a self
//! type that borrows. Each mistake is one error on the offending token; the resulting
//! [`Plan`] forwards only the hooks that passed, so no mistake cascades into type errors.

use proc_macro2::{Delimiter, Group, TokenStream};
use quote::{quote, ToTokens};
use syn::ext::IdentExt;
use syn::{FnArg, GenericParam, ImplItemFn, Receiver, ReturnType, Signature, Type};

use super::ast::{Hook, Input, Role};
use crate::common::{suggest, Ctxt};

/// What to generate: the hooks to forward, or nothing when the type cannot be a loop.
pub(crate) struct Plan<'a> {
    /// The hooks whose signatures passed, in declaration order, each at most once.
    pub(crate) hooks: Vec<Forward<'a>>,
    /// False when the self type borrows (already reported): no `SuperLoop` impl can hold,
    /// and any would only repeat the error.
    pub(crate) can_be_a_loop: bool,
}

impl<'a> Plan<'a> {
    /// The checked hook `hook`, if the impl has one.
    pub(crate) fn hook(&self, hook: Hook) -> Option<&Forward<'a>> {
        self.hooks.iter().find(|f| f.hook == hook)
    }
}

/// A hook with a valid signature, ready to forward to.
pub(crate) struct Forward<'a> {
    pub(crate) hook: Hook,
    pub(crate) func: &'a ImplItemFn,
    /// The type of `cycle`'s context parameter (`&Ctx`), when it takes one.
    pub(crate) ctx: Option<&'a Type>,
    /// The declared return type; `None` for none.
    pub(crate) ret: Option<&'a Type>,
}

/// Checks `input`, reporting every mistake into `cx`.
pub(crate) fn check<'a>(input: &Input<'a>, cx: &Ctxt) -> Plan<'a> {
    let can_be_a_loop = check_static(input, cx);

    let missing_cycle = input.hook(Hook::Cycle).is_none();
    // With `cycle` missing, a method named almost `cycle` is taken to be it, misspelt.
    let near_cycle = if missing_cycle {
        input
            .methods
            .iter()
            .filter(|m| m.role != Role::Hook(Hook::Cycle))
            .map(|m| &m.func.sig.ident)
            .find(|ident| is_near_cycle(&ident.unraw().to_string()))
    } else {
        None
    };

    let mut hooks: Vec<Forward<'a>> = Vec::new();
    for method in &input.methods {
        let ident = &method.func.sig.ident;
        match method.role {
            Role::Hook(hook) => {
                // A second method of the same name is rustc's error (E0592), not ours.
                if hooks.iter().all(|f| f.hook != hook) {
                    if let Some(forward) = check_hook(hook, method.func, cx) {
                        hooks.push(forward);
                    }
                }
            }
            Role::UnknownHook if Some(ident) == near_cycle => {}
            Role::UnknownHook => cx.error_spanned_by(ident, unknown_hook(ident)),
            Role::Helper => {}
        }
    }

    if missing_cycle {
        match near_cycle {
            Some(ident) => cx.error_spanned_by(
                ident,
                format!(
                    "this impl has no `cycle`; did you mean `cycle` instead of `{}`?",
                    ident.unraw()
                ),
            ),
            None => cx.error_spanned_by(
                &input.item.self_ty,
                format!(
                    "`{}` has no `cycle`: add `fn cycle(&mut self) {{ … }}` to this impl, \
                     the body its thread runs over and over",
                    input.type_name.unraw()
                ),
            ),
        }
    }

    Plan {
        hooks,
        can_be_a_loop,
    }
}

/// A loop's value moves into its own thread, so its type cannot borrow: an error on the first
/// lifetime of the impl other than `'static`. False when there was one.
fn check_static(input: &Input, cx: &Ctxt) -> bool {
    let generics = &input.item.generics;
    let lifetime = generics
        .params
        .iter()
        .find_map(|p| match p {
            GenericParam::Lifetime(l) => Some(l.lifetime.to_token_stream()),
            _ => None,
        })
        .or_else(|| anonymous_lifetime(input.item.self_ty.to_token_stream()));
    let Some(lifetime) = lifetime else {
        return true;
    };
    cx.error_spanned_by(
        &lifetime,
        format!(
            "a superloop cannot borrow for `{}`: its value moves into its own thread, so it \
             must be `Send + 'static`; make the type own its data (e.g. `String` instead of \
             `&str`, `Arc<T>` to share) and remove the lifetime",
            lifetime.to_string().replace(' ', "")
        ),
    );
    false
}

/// The first lifetime other than `'static` written in `tokens` (e.g. `'_` in `impl Foo<'_>`).
fn anonymous_lifetime(tokens: TokenStream) -> Option<TokenStream> {
    let mut iter = tokens.into_iter().peekable();
    while let Some(tree) = iter.next() {
        match tree {
            proc_macro2::TokenTree::Punct(p) if p.as_char() == '\'' => {
                if let Some(proc_macro2::TokenTree::Ident(name)) = iter.peek() {
                    if name != "static" {
                        let name = name.clone();
                        return Some(quote!(#p #name));
                    }
                }
            }
            proc_macro2::TokenTree::Group(g) => {
                if let Some(found) = anonymous_lifetime(g.stream()) {
                    return Some(found);
                }
            }
            _ => {}
        }
    }
    None
}

fn is_near_cycle(name: &str) -> bool {
    let name = name.strip_prefix("on_").unwrap_or(name);
    suggest::did_you_mean(name, ["cycle"]).is_some()
}

fn unknown_hook(ident: &syn::Ident) -> String {
    let name = ident.unraw().to_string();
    let hooks = suggest::list(&Hook::ON_NAMES);
    if name.strip_prefix("on_") == Some("cycle") {
        return format!(
            "unknown hook `{name}`: the loop's body is `cycle`, which this impl already has, \
             and the hooks are {hooks}; rename it if it is a helper method"
        );
    }
    match suggest::did_you_mean(&name, Hook::ON_NAMES) {
        Some(near) => {
            format!("unknown hook `{name}`, did you mean `{near}`? The hooks are {hooks}")
        }
        None => format!(
            "unknown hook `{name}`: the hooks are {hooks}; names starting with `on_` are kept \
             for hooks, so rename a helper method"
        ),
    }
}

/// Checks one hook's signature; `Some` when it can be forwarded to.
fn check_hook<'a>(hook: Hook, func: &'a ImplItemFn, cx: &Ctxt) -> Option<Forward<'a>> {
    let sig = &func.sig;
    let mut ok = check_qualifiers(hook, sig, cx);

    let mut params = sig.inputs.iter().peekable();
    match params.peek() {
        Some(FnArg::Receiver(receiver)) => {
            ok &= check_receiver(hook, receiver, cx);
            params.next();
        }
        _ => {
            let parens = Group::new(Delimiter::Parenthesis, TokenStream::new());
            let mut parens = parens;
            parens.set_span(sig.paren_token.span.join());
            cx.error_spanned_by(
                parens,
                format!(
                    "`{}` needs a `&mut self` receiver: the loop's value moves into its own \
                     thread and each hook borrows it mutably; write `{}`",
                    hook.name(),
                    hook.example()
                ),
            );
            ok = false;
        }
    }

    let mut ctx = None;
    if hook == Hook::Cycle {
        if let Some(FnArg::Typed(param)) = params.next() {
            match ctx_param(&param.ty) {
                Ok(()) => ctx = Some(&*param.ty),
                Err(msg) => {
                    cx.error_spanned_by(&param.ty, msg);
                    ok = false;
                }
            }
        }
    }
    if let Some(extra) = params.next() {
        cx.error_spanned_by(extra, extra_param(hook, extra));
        ok = false;
    }

    let ret = match &sig.output {
        ReturnType::Default => None,
        ReturnType::Type(_, ty) => Some(&**ty),
    };
    ok &= check_return(hook, sig, ret, cx);

    ok.then_some(Forward {
        hook,
        func,
        ctx,
        ret,
    })
}

/// `const`, `async`, `unsafe`, `extern`, generics, `where`, `...`: each an error on its token.
fn check_qualifiers(hook: Hook, sig: &Signature, cx: &Ctxt) -> bool {
    let name = hook.name();
    let example = hook.example();
    let mut ok = true;
    let mut report = |tokens: &dyn ToTokens, msg: String| {
        cx.error_spanned_by(tokens.to_token_stream(), msg);
        ok = false;
    };
    if let Some(token) = &sig.constness {
        report(
            token,
            format!("`{name}` cannot be `const`: hooks are plain methods; write `{example}`"),
        );
    }
    if let Some(token) = &sig.asyncness {
        let how = if hook == Hook::Cycle {
            " and wait with `ctx.sleep` or `ctx.recv` instead of `.await`"
        } else {
            ""
        };
        report(
            token,
            format!(
                "`{name}` cannot be `async`: the loop calls it on a plain thread, with no \
                 executor to poll it; write `{example}`{how}"
            ),
        );
    }
    if let Some(token) = &sig.unsafety {
        report(
            token,
            format!(
                "`{name}` cannot be `unsafe`: the loop calls it from safe code; write \
                 `{example}` and put any `unsafe {{ … }}` block inside it"
            ),
        );
    }
    if let Some(abi) = &sig.abi {
        report(
            abi,
            format!("`{name}` cannot have an ABI: hooks are plain Rust methods; write `{example}`"),
        );
    }
    if !sig.generics.params.is_empty() {
        report(
            &sig.generics,
            format!(
                "`{name}` cannot be generic: the loop calls it with nothing to choose the \
                 parameters from; move them to the `impl` block and write `{example}`"
            ),
        );
    }
    if let Some(where_clause) = &sig.generics.where_clause {
        report(
            where_clause,
            format!(
                "`{name}` cannot have a `where` clause of its own: put the bounds on the \
                 `impl` block and write `{example}`"
            ),
        );
    }
    if let Some(variadic) = &sig.variadic {
        report(
            variadic,
            format!("`{name}` cannot take variadic arguments: write `{example}`"),
        );
    }
    ok
}

/// `&mut self`, in either spelling (`self: &mut Self` too).
fn check_receiver(hook: Hook, receiver: &Receiver, cx: &Ctxt) -> bool {
    let ok = if receiver.colon_token.is_none() {
        receiver.reference.is_some() && receiver.mutability.is_some()
    } else {
        matches!(&*receiver.ty, Type::Reference(r) if r.mutability.is_some() && is_self(&r.elem))
    };
    if !ok {
        cx.error_spanned_by(
            receiver,
            format!(
                "`{}` must take `&mut self`: the loop's value moves into its own thread and \
                 each hook borrows it mutably; write `{}`",
                hook.name(),
                hook.example()
            ),
        );
    }
    ok
}

fn is_self(ty: &Type) -> bool {
    matches!(ty, Type::Path(p) if p.qself.is_none() && p.path.is_ident("Self"))
}

/// `cycle`'s context parameter must be a shared reference; its type is checked by the
/// generated code, on the user's token.
fn ctx_param(ty: &Type) -> Result<(), String> {
    match peel(ty) {
        Type::Reference(r) if r.mutability.is_none() => Ok(()),
        Type::Reference(_) => Err(
            "`cycle` gets a shared borrow of the context, not a mutable one: write `ctx: &Ctx`"
                .to_owned(),
        ),
        _ => Err("`cycle` borrows the context, it does not own it: write `ctx: &Ctx`".to_owned()),
    }
}

fn extra_param(hook: Hook, param: &FnArg) -> String {
    let name = hook.name();
    let example = hook.example();
    match (hook, param) {
        (Hook::Cycle, _) => format!(
            "`cycle` takes one parameter besides `&mut self`, the context: write `{example}` \
             and remove this one"
        ),
        (_, FnArg::Typed(p)) if names_ctx(&p.ty) => format!(
            "`{name}` gets no context, only `cycle` does: remove this parameter and write \
             `{example}`"
        ),
        _ => format!(
            "`{name}` takes no parameters besides `&mut self`: remove this one and write \
             `{example}`"
        ),
    }
}

/// `&Ctx`, `&superloops::Ctx`, `Ctx`, …
fn names_ctx(ty: &Type) -> bool {
    match peel(ty) {
        Type::Reference(r) => names_ctx(&r.elem),
        Type::Path(p) => p.path.segments.last().is_some_and(|s| s.ident == "Ctx"),
        _ => false,
    }
}

fn check_return(hook: Hook, sig: &Signature, ret: Option<&Type>, cx: &Ctxt) -> bool {
    let name = hook.name();
    let arrow_and_type = || match &sig.output {
        ReturnType::Type(arrow, ty) => quote!(#arrow #ty),
        ReturnType::Default => TokenStream::new(),
    };
    match hook {
        Hook::Cycle => match ret {
            None => true,
            Some(ty) if is_unit(ty) || last_segment_is(ty, "Result") => true,
            Some(ty) => {
                cx.error_spanned_by(
                    ty,
                    "`cycle` returns `()` or `Result<(), E>` with `E: Display`: remove the \
                     return type, or return a `Result` whose `Err` counts as a failure",
                );
                false
            }
        },
        Hook::OnStart => match ret {
            Some(ty) if last_segment_is(ty, "bool") || last_segment_is(ty, "Result") => true,
            Some(ty) if !is_unit(ty) => {
                cx.error_spanned_by(
                    ty,
                    "`on_start` returns `bool` or `Result<(), E>` with `E: Display`: `true` or \
                     `Ok(())` starts the loop, `false` or `Err` does not",
                );
                false
            }
            _ => {
                let mut parens = Group::new(Delimiter::Parenthesis, TokenStream::new());
                parens.set_span(sig.paren_token.span.join());
                let fn_token = &sig.fn_token;
                let ident = &sig.ident;
                let at = match ret {
                    Some(_) => arrow_and_type(),
                    None => quote!(#fn_token #ident #parens),
                };
                cx.error_spanned_by(
                    at,
                    "`on_start` must say whether to start: add `-> bool` and return `true`, \
                     or `-> Result<(), E>`",
                );
                false
            }
        },
        Hook::OnStop | Hook::OnThreadStart | Hook::OnThreadStop => match ret {
            None => true,
            Some(ty) if is_unit(ty) => true,
            Some(ty) => {
                let example = hook.example();
                let is_result = last_segment_is(ty, "Result");
                // What the user likely meant by the value, when we can tell.
                let msg =
                    if hook == Hook::OnThreadStart && (is_result || last_segment_is(ty, "bool")) {
                        format!(
                            "`{name}` returns nothing, so its result would be lost: remove the \
                         return type and write `{example}`; to decide whether the loop \
                         starts, return `bool` or `Result<(), E>` from `on_start` instead"
                        )
                    } else if is_result {
                        format!(
                            "`{name}` returns nothing, so its result would be lost: handle or log \
                         the error inside it, remove the return type and write `{example}`"
                        )
                    } else {
                        format!(
                            "`{name}` returns nothing, so its result would be lost: remove the \
                         return type and write `{example}`"
                        )
                    };
                cx.error_spanned_by(arrow_and_type(), msg);
                false
            }
        },
    }
}

fn peel(ty: &Type) -> &Type {
    match ty {
        Type::Paren(p) => peel(&p.elem),
        Type::Group(g) => peel(&g.elem),
        other => other,
    }
}

fn is_unit(ty: &Type) -> bool {
    matches!(peel(ty), Type::Tuple(t) if t.elems.is_empty())
}

/// `Result<(), E>`, `io::Result<()>`, `anyhow::Result<()>`, …: the type check itself happens
/// in the generated code, through a trait bound spanned on this type.
fn last_segment_is(ty: &Type, name: &str) -> bool {
    matches!(peel(ty), Type::Path(p) if p.path.segments.last().is_some_and(|s| s.ident == name))
}
