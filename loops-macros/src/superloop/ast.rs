//! What `#[superloop]` is put on: an inherent `impl` block, its self type and its methods,
//! each classified as a hook, an unknown `on_…` method or a helper.

use proc_macro2::TokenStream;
use quote::{quote, ToTokens};
use syn::ext::IdentExt;
use syn::{Ident, ImplItem, ImplItemFn, Item, ItemImpl, Type};

use crate::common::Ctxt;

/// The methods `#[superloop]` forwards to: `cycle` and the lifecycle hooks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Hook {
    /// `fn cycle(&mut self)` / `fn cycle(&mut self, ctx: &Ctx)`: required.
    Cycle,
    /// `fn on_start(&mut self) -> bool`.
    OnStart,
    /// `fn on_stop(&mut self)`.
    OnStop,
    /// `fn on_thread_start(&mut self)`.
    OnThreadStart,
    /// `fn on_thread_stop(&mut self)`.
    OnThreadStop,
}

impl Hook {
    /// Every hook, `cycle` first.
    pub(crate) const ALL: [Hook; 5] = [
        Hook::Cycle,
        Hook::OnStart,
        Hook::OnStop,
        Hook::OnThreadStart,
        Hook::OnThreadStop,
    ];

    /// The names of the optional `on_…` hooks.
    pub(crate) const ON_NAMES: [&'static str; 4] =
        ["on_start", "on_stop", "on_thread_start", "on_thread_stop"];

    /// The method name, which is also the `SuperLoop` method it is forwarded to.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Hook::Cycle => "cycle",
            Hook::OnStart => "on_start",
            Hook::OnStop => "on_stop",
            Hook::OnThreadStart => "on_thread_start",
            Hook::OnThreadStop => "on_thread_stop",
        }
    }

    /// The hook called `name`, if any.
    pub(crate) fn from_name(name: &str) -> Option<Hook> {
        Hook::ALL.into_iter().find(|hook| hook.name() == name)
    }

    /// The signature to write, for messages.
    pub(crate) fn example(self) -> &'static str {
        match self {
            Hook::Cycle => "fn cycle(&mut self, ctx: &Ctx)",
            Hook::OnStart => "fn on_start(&mut self) -> bool",
            Hook::OnStop => "fn on_stop(&mut self)",
            Hook::OnThreadStart => "fn on_thread_start(&mut self)",
            Hook::OnThreadStop => "fn on_thread_stop(&mut self)",
        }
    }
}

/// What a method of the impl block is to `#[superloop]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// `cycle` or a known `on_…` hook.
    Hook(Hook),
    /// A name starting with `on_` that is no hook: a mistake.
    UnknownHook,
    /// Any other method: left alone.
    Helper,
}

/// A method of the impl block.
pub(crate) struct Method<'a> {
    pub(crate) func: &'a ImplItemFn,
    pub(crate) role: Role,
}

/// An inherent `impl` block with `#[superloop]` on it.
pub(crate) struct Input<'a> {
    pub(crate) item: &'a ItemImpl,
    /// The self type's last path segment: `Worker` for `impl<T> crate::Worker<T>`.
    pub(crate) type_name: &'a Ident,
    /// Every method, in order.
    pub(crate) methods: Vec<Method<'a>>,
}

impl<'a> Input<'a> {
    /// Reads `item`; `None`, with the error reported, when it is not an inherent impl of a
    /// named type.
    pub(crate) fn from_syn(item: &'a Item, cx: &Ctxt) -> Option<Self> {
        let item = match item {
            Item::Impl(item) => item,
            other => {
                misplaced(other, cx);
                return None;
            }
        };
        if let Some((_, trait_path, _)) = &item.trait_ {
            on_trait_impl(item, trait_path, cx);
            return None;
        }
        let Some(type_name) = type_name(&item.self_ty) else {
            cx.error_spanned_by(
                &item.self_ty,
                "`#[superloop]` needs a named type such as `impl MyLoop { … }`: \
                 the loop's threads are named after it",
            );
            return None;
        };
        let methods = item
            .items
            .iter()
            .filter_map(|impl_item| match impl_item {
                ImplItem::Fn(func) => Some(Method {
                    func,
                    role: role_of(&func.sig.ident),
                }),
                _ => None,
            })
            .collect();
        Some(Input {
            item,
            type_name,
            methods,
        })
    }

    /// The first method playing `hook`.
    pub(crate) fn hook(&self, hook: Hook) -> Option<&'a ImplItemFn> {
        self.methods
            .iter()
            .find(|m| m.role == Role::Hook(hook))
            .map(|m| m.func)
    }
}

fn role_of(ident: &Ident) -> Role {
    let name = ident.unraw().to_string();
    match Hook::from_name(&name) {
        Some(hook) => Role::Hook(hook),
        None if name.starts_with("on_") => Role::UnknownHook,
        None => Role::Helper,
    }
}

fn type_name(ty: &Type) -> Option<&Ident> {
    match ty {
        Type::Path(path) if path.qself.is_none() => path.path.segments.last().map(|s| &s.ident),
        Type::Group(group) => type_name(&group.elem),
        Type::Paren(paren) => type_name(&paren.elem),
        _ => None,
    }
}

/// `#[superloop]` on a struct, fn, trait, …: the error goes on the item's keyword and name.
fn misplaced(item: &Item, cx: &Ctxt) {
    let (what, header, name) = header_of(item);
    let example = match name {
        Some(name) => format!("impl {} {{ fn cycle(&mut self) {{ … }} }}", name.unraw()),
        None => "impl MyLoop { fn cycle(&mut self) { … } }".to_owned(),
    };
    cx.error_spanned_by(
        header,
        format!("`#[superloop]` goes on an inherent `impl` block, not on {what}: `{example}`"),
    );
}

/// What kind of item it is, the tokens to put the error on, and the type it names, if any.
fn header_of(item: &Item) -> (&'static str, TokenStream, Option<&Ident>) {
    fn pair(a: &impl ToTokens, b: &impl ToTokens) -> TokenStream {
        quote!(#a #b)
    }
    match item {
        Item::Struct(s) => ("a struct", pair(&s.struct_token, &s.ident), Some(&s.ident)),
        Item::Enum(e) => ("an enum", pair(&e.enum_token, &e.ident), Some(&e.ident)),
        Item::Union(u) => ("a union", pair(&u.union_token, &u.ident), Some(&u.ident)),
        Item::Fn(f) => ("a function", pair(&f.sig.fn_token, &f.sig.ident), None),
        Item::Trait(t) => ("a trait", pair(&t.trait_token, &t.ident), None),
        Item::Mod(m) => ("a module", pair(&m.mod_token, &m.ident), None),
        Item::Type(t) => ("a type alias", pair(&t.type_token, &t.ident), None),
        other => {
            let first = other.to_token_stream().into_iter().take(1).collect();
            ("this item", first, None)
        }
    }
}

/// `#[superloop]` on `impl Trait for Type`: the error goes on the trait's path.
fn on_trait_impl(item: &ItemImpl, trait_path: &syn::Path, cx: &Ctxt) {
    let ty =
        type_name(&item.self_ty).map_or_else(|| "MyLoop".to_owned(), |i| i.unraw().to_string());
    let is_superloop = trait_path
        .segments
        .last()
        .is_some_and(|s| s.ident == "SuperLoop");
    let msg = if is_superloop {
        format!(
            "`#[superloop]` writes the `SuperLoop` impl itself: put it on an inherent \
             `impl {ty} {{ fn cycle(&mut self) {{ … }} }}` block, or remove the attribute \
             to implement `SuperLoop` by hand"
        )
    } else {
        format!(
            "`#[superloop]` goes on an inherent `impl {ty} {{ … }}` block, not on an impl of a \
             trait: move the hooks to `impl {ty} {{ fn cycle(&mut self) {{ … }} }}`"
        )
    };
    cx.error_spanned_by(trait_path, msg);
}
