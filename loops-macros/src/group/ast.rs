//! What `loop_group!` is given: one or more group declarations, each written
//! `#[attrs] vis Name<Member, name: Member, …> { options }` and separated by nothing or `;`.
//!
//! A mistake that leaves the rest readable (a member name that is not an identifier, a
//! stray `struct`) is reported into the [`Ctxt`] and parsing goes on; one that does not ends
//! the parse, and the groups read before it are still expanded.

use proc_macro2::{Span, TokenStream};
use syn::ext::IdentExt;
use syn::parse::{ParseStream, Parser};
use syn::{braced, token, Attribute, Ident, Lit, Token, Type, Visibility};

use crate::common::Ctxt;

/// The declaration shown in messages.
pub(crate) const EXAMPLE: &str = "pub Pipeline<ProcessLoop, ApiFeed>";

/// One group declaration.
pub(crate) struct Group {
    /// Doc comments and other attributes, passed through to the struct.
    pub(crate) attrs: Vec<Attribute>,
    pub(crate) vis: Visibility,
    /// The group's name: the struct's, and its supervisor thread's prefix.
    pub(crate) ident: Ident,
    /// `<` and `>` around the members, for errors about the list as a whole.
    pub(crate) angles: (Token![<], Token![>]),
    /// The members, in declaration order.
    pub(crate) members: Vec<Member>,
    /// The tokens inside `{ … }` after the members (empty when there are none).
    pub(crate) options: TokenStream,
}

/// One member: `Type` or `name: Type`.
pub(crate) struct Member {
    /// The name given with `name: Type`; `None` for an unnamed member.
    pub(crate) name: Option<Ident>,
    pub(crate) ty: Type,
}

/// Reads every group of the invocation, reporting mistakes into `cx`.
pub(crate) fn parse(tokens: TokenStream, cx: &Ctxt) -> Vec<Group> {
    let mut groups = Vec::new();
    if tokens.is_empty() {
        cx.error_at(
            Span::call_site(),
            format!("`loop_group!` is empty: declare a group in it, such as `{EXAMPLE}`"),
        );
        return groups;
    }
    let parser = |input: ParseStream| -> syn::Result<()> {
        while !input.is_empty() {
            groups.push(parse_group(input, cx)?);
            between_groups(input)?;
        }
        Ok(())
    };
    if let Err(err) = parser.parse2(tokens) {
        cx.syn_error(err);
    }
    groups
}

/// After a group: `;`s, or the start of the next group, or the end.
fn between_groups(input: ParseStream) -> syn::Result<()> {
    if input.peek(Token![,]) {
        return Err(input.error(
            "separate the groups of one `loop_group!` with `;`, or declare each in a \
             `loop_group!` of its own",
        ));
    }
    if input.peek(Ident::peek_any) && input.peek2(Token![=]) {
        return Err(input.error(
            "a group's options go in braces after its members: \
             `Pipeline<ProcessLoop, ApiFeed> { strategy = one_for_one }`",
        ));
    }
    while input.peek(Token![;]) {
        input.parse::<Token![;]>()?;
    }
    Ok(())
}

fn parse_group(input: ParseStream, cx: &Ctxt) -> syn::Result<Group> {
    let attrs = input.call(Attribute::parse_outer)?;
    let vis: Visibility = input.parse()?;
    if input.peek(Token![struct]) {
        let token: Token![struct] = input.parse()?;
        cx.error_at(
            token.span,
            format!("`loop_group!` declares the struct itself: remove `struct`, as in `{EXAMPLE}`"),
        );
    }
    let ident = parse_name(input)?;
    let angles_open = if input.peek(Token![<]) {
        input.parse::<Token![<]>()?
    } else {
        return Err(no_members(input, &ident));
    };
    let mut members = Vec::new();
    while !input.peek(Token![>]) {
        members.push(parse_member(input, cx)?);
        if input.peek(Token![,]) {
            input.parse::<Token![,]>()?;
        } else if !input.peek(Token![>]) {
            return Err(input.error(format!(
                "expected `,` or `>` after a member of `{}`: members are types separated by \
                 commas, each optionally named, as in `Pool<primary: Worker, spare: Worker>`",
                ident.unraw()
            )));
        }
    }
    let angles_close = input.parse::<Token![>]>()?;
    let options = if input.peek(token::Brace) {
        let content;
        braced!(content in input);
        content.parse::<TokenStream>()?
    } else if input.peek(token::Paren) || input.peek(token::Bracket) {
        return Err(input.error(format!(
            "a group's options go in braces: `{}<…> {{ strategy = one_for_one }}`",
            ident.unraw()
        )));
    } else {
        TokenStream::new()
    };
    Ok(Group {
        attrs,
        vis,
        ident,
        angles: (angles_open, angles_close),
        members,
        options,
    })
}

/// The group's name, with a message that shows where it goes.
fn parse_name(input: ParseStream) -> syn::Result<Ident> {
    if input.peek(Token![<]) {
        return Err(input.error(format!(
            "this group has no name: write it before its members, as in `{EXAMPLE}`"
        )));
    }
    input.parse::<Ident>().map_err(|err| {
        syn::Error::new(
            err.span(),
            format!("expected the group's name and its members, such as `{EXAMPLE}`"),
        )
    })
}

/// The error for a group name not followed by `<`.
fn no_members(input: ParseStream, ident: &Ident) -> syn::Error {
    let name = ident.unraw();
    if input.peek(token::Paren) || input.peek(token::Brace) || input.peek(token::Bracket) {
        return input.error(format!(
            "the members of `{name}` go in angle brackets: `{name}<ProcessLoop, ApiFeed>`"
        ));
    }
    syn::Error::new(
        ident.span(),
        format!(
            "`{name}` has no members: list them in angle brackets after its name, \
             as in `{name}<ProcessLoop, ApiFeed>`"
        ),
    )
}

fn parse_member(input: ParseStream, cx: &Ctxt) -> syn::Result<Member> {
    let named = input.peek2(Token![:]) && !input.peek2(Token![::]);
    let mut name = None;
    if named && input.peek(Ident::peek_any) {
        name = Some(input.call(Ident::parse_any)?);
        input.parse::<Token![:]>()?;
    } else if named && input.peek(Lit) {
        let lit: Lit = input.parse()?;
        input.parse::<Token![:]>()?;
        cx.error_spanned_by(
            &lit,
            "a member's name is the name of its field: write an identifier in snake_case, \
             as in `Pool<primary: Worker, spare: Worker>`",
        );
    }
    let ty = input.parse::<Type>().map_err(|err| {
        syn::Error::new(
            err.span(),
            "expected a member: a `#[superloop]` type or a group, such as `ProcessLoop`, \
             or a named one, such as `primary: Worker`",
        )
    })?;
    Ok(Member { name, ty })
}
