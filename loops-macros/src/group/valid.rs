//! Checks of a [`Group`]: at least one member, and one field name per member (named in
//! snake_case, unnamed ones after their type), none taken twice.
//!
//! The resulting [`Plan`] names every member's field even after a mistake (a placeholder
//! stands in for a wrong or repeated name), so the struct is still declared and the user's
//! uses of it do not cascade into more errors.

use std::collections::HashMap;

use quote::{format_ident, quote, ToTokens};
use syn::ext::IdentExt;
use syn::{Ident, Type};

use super::ast::{Group, Member};
use super::settings::GroupOptions;
use crate::common::{snake_case, Ctxt};

/// Prefix of the identifiers the macro adds to the struct; members may not use it.
pub(crate) const RESERVED_PREFIX: &str = "__superloops";

/// What to generate for one group.
pub(crate) struct Plan {
    /// The field (and `new` parameter) of each member, in declaration order; all distinct.
    /// `None` for a member left out of the struct: one whose type is no path (reported),
    /// which could only add errors about its type.
    pub(crate) fields: Vec<Option<Ident>>,
    /// The checked options.
    pub(crate) options: GroupOptions,
    /// Whether to check at compile time that some member resets globally: under a strategy
    /// that restarts other members than the failing one.
    pub(crate) check_resets: bool,
}

/// Checks `group`, reporting every mistake into `cx`.
pub(crate) fn check(group: &Group, options: GroupOptions, cx: &Ctxt) -> Plan {
    if group.members.is_empty() {
        let (lt, gt) = &group.angles;
        let name = group.ident.unraw();
        cx.error_spanned_by(
            quote!(#lt #gt),
            format!(
                "`{name}` has no members: a group supervises at least one loop; list its \
                 members, as in `{name}<ProcessLoop, ApiFeed>`"
            ),
        );
    }

    let mut fields: Vec<Field> = group
        .members
        .iter()
        .map(|member| field_of(member, cx))
        .collect();
    check_unique(group, &mut fields, cx);
    // A placeholder stands in for a wrong or repeated name, so the member is still declared.
    let fields = fields
        .into_iter()
        .enumerate()
        .map(|(i, field)| match field {
            Field::Valid(ident) => Some(ident),
            Field::Invalid => Some(format_ident!("{RESERVED_PREFIX}_member_{i}")),
            Field::NotAType => None,
        })
        .collect();

    Plan {
        fields,
        check_resets: options.strategy().restarts_others() && !group.members.is_empty(),
        options,
    }
}

/// A member's field, as far as the checks go.
enum Field {
    Valid(Ident),
    /// A wrong or repeated name (reported).
    Invalid,
    /// The member's type is no path, so no member type at all (reported).
    NotAType,
}

/// The field of `member`.
fn field_of(member: &Member, cx: &Ctxt) -> Field {
    match &member.name {
        Some(name) if check_name(name, member, cx) => Field::Valid(name.clone()),
        Some(_) => Field::Invalid,
        None => derived_field(member, cx),
    }
}

/// A name given with `name: Type` must be a field name, in snake_case.
fn check_name(name: &Ident, member: &Member, cx: &Ctxt) -> bool {
    let written = name.unraw().to_string();
    let ty = pretty(&member.ty);
    if !is_ident(&name.to_string()) {
        cx.error_spanned_by(
            name,
            format!(
                "`{written}` is a keyword, so it cannot name a field: choose another name, \
                 or write `r#{written}: {ty}`"
            ),
        );
        return false;
    }
    if written.starts_with(RESERVED_PREFIX) {
        cx.error_spanned_by(
            name,
            format!(
                "names starting with `{RESERVED_PREFIX}` are the macro's own: choose another name"
            ),
        );
        return false;
    }
    if written.chars().any(char::is_uppercase) {
        cx.error_spanned_by(
            name,
            format!(
                "a member's name is the name of its field, written in snake_case: \
                 write `{}: {ty}`",
                snake_case(&written)
            ),
        );
        return false;
    }
    true
}

/// An unnamed member's field: its type's name (the last segment of its path, without
/// generic arguments) in snake_case; `r#loop` for a type `Loop`.
fn derived_field(member: &Member, cx: &Ctxt) -> Field {
    let ty = pretty(&member.ty);
    let Some(type_name) = type_name(&member.ty) else {
        cx.error_spanned_by(
            &member.ty,
            format!(
                "a member is a `#[superloop]` type or a group, written as its path, such as \
                 `ApiFeed` or `feeds::ApiFeed`; `{ty}` is neither"
            ),
        );
        return Field::NotAType;
    };
    let field = snake_case(&type_name.unraw().to_string());
    let span = type_name.span();
    if is_ident(&field) {
        return Field::Valid(Ident::new(&field, span));
    }
    // A keyword: `Loop` gives `r#loop`; `self`, `super`, `crate` and `_` cannot be raw.
    if !matches!(field.as_str(), "self" | "super" | "crate" | "_") && !field.is_empty() {
        return Field::Valid(Ident::new_raw(&field, span));
    }
    cx.error_spanned_by(
        &member.ty,
        format!("`{field}` cannot name a field: name this member, as in `name: {ty}`"),
    );
    Field::Invalid
}

/// Reports fields taken by more than one member, on every one of them, and leaves the first
/// its name (the others get placeholders).
fn check_unique(group: &Group, fields: &mut [Field], cx: &Ctxt) {
    let mut by_name: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, field) in fields.iter().enumerate() {
        if let Field::Valid(field) = field {
            by_name
                .entry(field.unraw().to_string())
                .or_default()
                .push(i);
        }
    }
    let mut clashes: Vec<(String, Vec<usize>)> =
        by_name.into_iter().filter(|(_, v)| v.len() > 1).collect();
    clashes.sort_by_key(|(_, v)| v[0]);
    let group_name = group.ident.unraw();
    for (field, indices) in clashes {
        let members: Vec<&Member> = indices.iter().map(|&i| &group.members[i]).collect();
        let count = match members.len() {
            2 => "two".to_owned(),
            3 => "three".to_owned(),
            n => n.to_string(),
        };
        let msg = if members.iter().all(|m| m.name.is_some()) {
            format!(
                "{count} members of `{group_name}` are named `{field}`: give each member a \
                 name of its own"
            )
        } else {
            let (a, b) = (pretty(&members[0].ty), pretty(&members[1].ty));
            format!(
                "{count} members of `{group_name}` would be the field `{field}` (an unnamed \
                 member's field is its type's name in snake_case): name them to tell them \
                 apart, as in `{group_name}<primary: {a}, spare: {b}>`"
            )
        };
        for (&i, member) in indices.iter().zip(&members) {
            match &member.name {
                Some(name) => cx.error_spanned_by(name, &msg),
                None => cx.error_spanned_by(&member.ty, &msg),
            }
            if i != indices[0] {
                fields[i] = Field::Invalid;
            }
        }
    }
}

/// The last segment of a type's path: `Worker` for `crate::Worker<u32>`.
fn type_name(ty: &Type) -> Option<&Ident> {
    match ty {
        Type::Path(path) => path.path.segments.last().map(|s| &s.ident),
        Type::Group(group) => type_name(&group.elem),
        Type::Paren(paren) => type_name(&paren.elem),
        _ => None,
    }
}

/// Whether `s` is an identifier that is no keyword (raw identifiers included).
fn is_ident(s: &str) -> bool {
    syn::parse_str::<Ident>(s).is_ok()
}

/// A type as a person writes it, for messages and docs: `Worker<u32>`, not `Worker < u32 >`.
pub(crate) fn pretty(tokens: &impl ToTokens) -> String {
    let text = tokens.to_token_stream().to_string();
    text.replace(" :: ", "::")
        .replace(":: ", "::")
        .replace(" < ", "<")
        .replace(" <", "<")
        .replace("< ", "<")
        .replace(" >", ">")
        .replace(" ,", ",")
        .replace("& ", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pretty_types() {
        let ty: Type = syn::parse_quote!(crate::Worker<Vec<u8>, &'static str>);
        assert_eq!(pretty(&ty), "crate::Worker<Vec<u8>, &'static str>");
    }

    #[test]
    fn keywords() {
        assert!(is_ident("worker") && is_ident("r#loop"));
        assert!(!is_ident("loop") && !is_ident("type") && !is_ident("_"));
    }
}
