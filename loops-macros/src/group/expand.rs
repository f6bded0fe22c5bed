//! Code generation for one group: the struct with a public field per member, its inherent
//! methods, `Drop`, `Supervise`, `GroupMember`, and the compile-time check that some member
//! resets globally.
//!
//! Every path is absolute through `::superloops::__private`; the code the user's types appear
//! in is spanned on them, so a member that is no superloop is reported on its own token.

use std::collections::HashSet;

use proc_macro2::{Literal, Span, TokenStream};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::ext::IdentExt;
use syn::{Ident, LitStr, Type};

use super::ast::{Group, Member};
use super::settings::{GroupOptions, DEFAULT_WITHIN};
use super::valid::{pretty, Plan};
use crate::common::{duration, spans};

/// Everything one group declaration expands to.
pub(crate) fn group(group: &Group, plan: &Plan) -> TokenStream {
    let ident = &group.ident;
    let vis = &group.vis;
    let attrs = &group.attrs;
    let name = ident.unraw().to_string();
    let controller = controller_field();
    // A group under `#[cfg(…)]`: its impls are under the same `cfg`.
    let cfgs: Vec<_> = attrs.iter().filter(|a| a.path().is_ident("cfg")).collect();

    let default_doc = if attrs.iter().any(|a| a.path().is_ident("doc")) {
        None
    } else {
        let doc = format!(
            " A group of supervised loops: {}. Declared with `loop_group!`.",
            member_list(group)
        );
        Some(quote!(#[doc = #doc]))
    };

    // The members that are declared, with their fields.
    let (members, fields): (Vec<&Member>, Vec<&Ident>) = group
        .members
        .iter()
        .zip(&plan.fields)
        .filter_map(|(member, field)| Some((member, field.as_ref()?)))
        .unzip();
    let field_docs = members.iter().zip(&fields).map(|(member, field)| {
        let doc = match &member.name {
            Some(_) => format!(
                " The `{}` member, a `{}`.",
                field.unraw(),
                pretty(&member.ty)
            ),
            None => format!(" The `{}` member.", pretty(&member.ty)),
        };
        quote!(#[doc = #doc])
    });
    let field_types = members.iter().map(|m| handle_type(&m.ty));
    let param_types = members.iter().map(|m| &m.ty);
    let joins = members
        .iter()
        .zip(&fields)
        .map(|(member, field)| join_member(member, field));
    let settings = settings(&name, ident.span(), &plan.options);
    let resets_check = (plan.check_resets && !members.is_empty()).then(|| {
        let check = resets_check(&group.ident, &members);
        quote!(#(#cfgs)* #check)
    });
    // `on_reset` goes to the controller rather than `GroupSettings` (a `fn()`): through
    // `on_reset_hook`, a callback of the wrong type gets one error, with our message, on it.
    let on_reset = plan.options.on_reset.as_ref().map(|expr| {
        let hook = spans::private_call("on_reset_hook", expr.to_token_stream(), expr);
        quote! {
            let #controller = ::superloops::__private::LoopController::on_reset(#controller, #hook);
        }
    });
    let tasks = task_options(&plan.options);

    let new_doc = format!(
        " Builds the group from the values of its members, in declaration order ({}). \
         Nothing runs until [`start`](Self::start).",
        member_list(group)
    );
    let start_doc = format!(
        " Starts the supervisor thread (`{name}_0`, then `{name}_1`, … each time the group is \
         started again) and then every member whose thread is not alive, in declaration order."
    );

    quote! {
        #default_doc
        #(#attrs)*
        #vis struct #ident {
            #(
                #field_docs
                pub #fields: #field_types,
            )*
            #controller: ::superloops::__private::LoopController,
        }

        #(#cfgs)*
        impl #ident {
            #[doc = #new_doc]
            pub fn new(#(#fields: #param_types),*) -> Self {
                let #controller = #settings.controller();
                #on_reset
                #tasks
                #(#joins)*
                Self {
                    #(#fields,)*
                    #controller,
                }
            }

            #[doc = #start_doc]
            pub fn start(&self) {
                ::superloops::__private::LoopController::start(&self.#controller);
                ::superloops::__private::LoopController::maintain_loops(&self.#controller);
            }

            /// Stops every member in dependency order, then the supervisor thread: the last
            /// declared member first, each one's thread ended (or abandoned after its grace)
            /// before the member declared before it is asked. True if no member thread is
            /// left running. The group can be started again.
            pub fn stop(&self) -> ::superloops::__private::bool {
                ::superloops::__private::LoopController::stop(&self.#controller)
            }

            /// Blocks until the process receives SIGINT (Ctrl-C) or SIGTERM, then stops the
            /// group gracefully and reports what stopped within its grace and what was
            /// abandoned. It starts nothing: call it after [`start`](Self::start).
            #[cfg(unix)]
            pub fn run_until_signal(
                &self,
            ) -> ::superloops::__private::IoResult<::superloops::__private::StopReport> {
                ::superloops::__private::LoopController::run_until_signal(&self.#controller)
            }

            /// Runs `f` once on a supervised thread named `name`, stopped with the group:
            /// `LoopController::spawn_task` on the group's controller. The task's failure (an
            /// `Err`, a panic, `ctx.failure()`) counts as a failure of the group and brings
            /// it through a reset under its strategy; `join` returns the value or the error.
            pub fn spawn_task<__R, __E, __F>(
                &self,
                name: impl ::superloops::__private::Into<::superloops::__private::String>,
                f: __F,
            ) -> ::superloops::__private::Result<
                ::superloops::__private::TaskHandle<__R>,
                ::superloops::__private::SpawnError,
            >
            where
                __R: ::superloops::__private::Send + 'static,
                __E: ::superloops::__private::Display,
                __F: ::superloops::__private::FnOnce(
                        &::superloops::__private::Ctx,
                    ) -> ::superloops::__private::Result<__R, __E>
                    + ::superloops::__private::Send
                    + 'static,
            {
                ::superloops::__private::LoopController::spawn_task(&self.#controller, name, f)
            }

            /// A snapshot of the group: its green light, its resets and the status of each
            /// member, in declaration order. `Display` prints it as a table.
            pub fn health(&self) -> ::superloops::__private::GroupHealth {
                ::superloops::__private::LoopController::health(&self.#controller)
            }

            /// The group's supervisor, for what the methods above do not cover: `wait_green`,
            /// `is_green`, `resets`, `stalled_loops`, …
            pub fn controller(&self) -> &::superloops::__private::LoopController {
                &self.#controller
            }
        }

        /// Stops every member and the supervisor thread.
        #(#cfgs)*
        #[automatically_derived]
        impl ::core::ops::Drop for #ident {
            fn drop(&mut self) {
                ::superloops::__private::LoopController::stop(&self.#controller);
            }
        }

        #(#cfgs)*
        #[automatically_derived]
        impl ::superloops::__private::Supervise for #ident {
            fn __member(&self) -> ::superloops::__private::MemberRef {
                ::superloops::__private::Supervise::__member(&self.#controller)
            }
        }

        /// A group can be a member of another group: a supervision tree.
        #(#cfgs)*
        #[automatically_derived]
        // Not offered as the example of a member in the error about a type that is none.
        #[diagnostic::do_not_recommend]
        impl ::superloops::__private::GroupMember for #ident {
            type Handle = Self;
            const RESETS_GLOBALLY: ::superloops::__private::bool = true;
        }

        #resets_check
    }
}

/// The field holding the group's controller.
fn controller_field() -> Ident {
    format_ident!("__superloops_controller")
}

/// "`ProcessLoop`, `ApiFeed`" or "`primary: Worker`, `spare: Worker`", for docs.
fn member_list(group: &Group) -> String {
    let members: Vec<String> = group
        .members
        .iter()
        .map(|m| match &m.name {
            Some(name) => format!("`{}: {}`", name.unraw(), pretty(&m.ty)),
            None => format!("`{}`", pretty(&m.ty)),
        })
        .collect();
    if members.is_empty() {
        "no members".to_owned()
    } else {
        members.join(", ")
    }
}

/// `<Type as GroupMember>::`, spanned over the user's type: a type that is no member gets
/// `GroupMember`'s message on its own token.
fn as_member(ty: &Type) -> (TokenStream, Span) {
    let (first, last) = spans::first_last(ty);
    (
        quote_spanned!(first=> <#ty as ::superloops::__private::GroupMember>::),
        last,
    )
}

/// `<Type as GroupMember>::Handle`: the type of a member's field.
fn handle_type(ty: &Type) -> TokenStream {
    let (prefix, last) = as_member(ty);
    let handle = Ident::new("Handle", last);
    quote!(#prefix #handle)
}

/// `let field = <Type as GroupMember>::__join(field, &controller);`: wraps the member and adds
/// it to the controller in one call, spanned over the user's type, so that nothing else in
/// `new` asks whether the type is a member.
fn join_member(member: &Member, field: &Ident) -> TokenStream {
    let (prefix, last) = as_member(&member.ty);
    let method = Ident::new("__join", last);
    let controller = controller_field();
    let args = quote_spanned!(last=> (#field, &#controller));
    quote! {
        let #field = #prefix #method #args;
    }
}

/// The `GroupSettings` literal for the group's options.
fn settings(name: &str, span: Span, options: &GroupOptions) -> TokenStream {
    let name = LitStr::new(name, span);
    let strategy = Ident::new(options.strategy().variant(), Span::call_site());
    let max_restarts = match &options.max_restarts {
        Some(max) => {
            let n = Literal::u32_unsuffixed(max.n);
            let within = match &max.within {
                Some((within, lit)) => duration::to_tokens(*within, lit),
                None => {
                    let lit = LitStr::new("60s", max.span);
                    duration::to_tokens(DEFAULT_WITHIN, &lit)
                }
            };
            quote_spanned!(max.span=> ::superloops::__private::Option::Some((#n, #within)))
        }
        None => quote!(::superloops::__private::Option::None),
    };
    let backoff = match &options.backoff {
        Some((min, max, lit)) => {
            let min = duration::to_tokens(*min, lit);
            let max = duration::to_tokens(*max, lit);
            quote!(::superloops::__private::Option::Some((#min, #max)))
        }
        None => quote!(::superloops::__private::Option::None),
    };
    quote! {
        ::superloops::__private::GroupSettings {
            name: #name,
            strategy: ::superloops::__private::Strategy::#strategy,
            max_restarts: #max_restarts,
            backoff: #backoff,
        }
    }
}

/// `let controller = LoopController::max_threads(controller, n);` and the like, for the
/// options about tasks.
fn task_options(options: &GroupOptions) -> TokenStream {
    let controller = controller_field();
    let mut tokens = TokenStream::new();
    if let Some((n, span)) = options.max_threads {
        let n = Literal::u64_unsuffixed(n);
        tokens.extend(quote_spanned! {span=>
            let #controller = ::superloops::__private::LoopController::max_threads(#controller, #n);
        });
    }
    if let Some(on) = options.queue_tasks.as_ref().filter(|on| on.value) {
        tokens.extend(quote_spanned! {on.span=>
            let #controller = ::superloops::__private::LoopController::queue_tasks(#controller);
        });
    }
    if let Some((grace, lit)) = &options.task_grace {
        let grace = duration::to_tokens(*grace, lit);
        tokens.extend(quote! {
            let #controller = ::superloops::__private::LoopController::task_grace(#controller, #grace);
        });
    }
    tokens
}

/// `const _: () = assert_some_member_resets_globally(<A as GroupMember>::RESETS_GLOBALLY || …);`,
/// spanned on the group's name: the error of a group in which no member resets globally
/// points there.
fn resets_check(ident: &Ident, members: &[&Member]) -> TokenStream {
    let span = ident.span();
    // One term per type: `Pool<primary: Worker, spare: Worker>` asks about `Worker` once.
    let mut seen = HashSet::new();
    let any = members
        .iter()
        .filter(|m| seen.insert(m.ty.to_token_stream().to_string()))
        .map(|m| {
            let (prefix, last) = as_member(&m.ty);
            let flag = Ident::new("RESETS_GLOBALLY", last);
            quote!(#prefix #flag)
        });
    quote_spanned! {span=>
        // The same type may still be written two ways (`Worker`, `crate::Worker`).
        #[allow(clippy::eq_op)]
        const _: () = ::superloops::__private::assert_some_member_resets_globally(
            #(#any)||*
        );
    }
}
