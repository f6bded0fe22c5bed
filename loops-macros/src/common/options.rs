//! Option lists such as `grace = "5s", max_failures = 10, reset_globally`: the shared syntax
//! of `#[superloop(...)]` and `loop_group!`'s `{ ... }`.
//!
//! Parsing is forgiving: each comma-separated item is parsed on its own, so one malformed item
//! is reported and the others are still read (and checked). What a key means is up to the
//! macro's configuration builder; [`Slot`] and [`Value`] are the pieces it is built from.

use proc_macro2::{Delimiter, Span, TokenStream, TokenTree};
use syn::ext::IdentExt;
use syn::parse::{ParseStream, Parser};
use syn::{Expr, ExprLit, ExprUnary, Ident, Lit, LitBool, LitInt, LitStr, Token, UnOp};

use super::{duration, Ctxt};
use std::time::Duration;

/// One item of an option list: `key` (a flag) or `key = value`.
pub(crate) struct OptionItem {
    /// The option's name as written.
    pub(crate) key: Ident,
    /// The value after `=`; `None` for a bare flag.
    pub(crate) value: Option<Expr>,
}

impl OptionItem {
    /// An error on the option's value, or on its key when it has none.
    pub(crate) fn value_error(&self, msg: &str) -> syn::Error {
        match &self.value {
            Some(value) => syn::Error::new_spanned(value, msg),
            None => syn::Error::new(self.key.span(), msg),
        }
    }

    /// The value of a duration option, parsed at compile time; `example` is a well-formed
    /// value for the messages, such as `"5s"`.
    pub(crate) fn duration(&self, example: &str) -> syn::Result<(Duration, LitStr)> {
        let key = self.name();
        match self.value() {
            Value::Str(lit) => Ok((duration::parse(&key, lit)?, lit.clone())),
            Value::Flag => Err(self.value_error(&format!(
                "`{key}` needs a value: a duration such as `{key} = \"{example}\"`"
            ))),
            // `grace = 5s` lexes as the integer 5 with suffix `s`: say to quote it.
            Value::Int {
                lit,
                negative: false,
            } if !lit.suffix().is_empty() => Err(self.value_error(&format!(
                "write the duration as a string: `{key} = \"{lit}\"`"
            ))),
            Value::Int { .. } => Err(self.value_error(&format!(
                "`{key}` takes a duration string with a unit, such as `{key} = \"{example}\"`"
            ))),
            _ => Err(self.value_error(&format!(
                "`{key}` takes a duration string such as `{key} = \"{example}\"`"
            ))),
        }
    }

    /// The key without any `r#` prefix, for matching.
    pub(crate) fn name(&self) -> String {
        self.key.unraw().to_string()
    }

    /// The value, classified.
    pub(crate) fn value(&self) -> Value<'_> {
        match &self.value {
            None => Value::Flag,
            Some(expr) => Value::of(expr),
        }
    }
}

/// What an option's value looks like, for the typed setters of a configuration builder.
pub(crate) enum Value<'a> {
    /// No value: `key` alone.
    Flag,
    /// `key = "..."`.
    Str(&'a LitStr),
    /// `key = 10` (`negative`: `key = -10`).
    Int { lit: &'a LitInt, negative: bool },
    /// `key = true`.
    Bool(&'a LitBool),
    /// Any other expression.
    Other,
}

impl<'a> Value<'a> {
    fn of(expr: &'a Expr) -> Self {
        match expr {
            Expr::Group(group) => Value::of(&group.expr),
            Expr::Lit(ExprLit { lit, .. }) => match lit {
                Lit::Str(s) => Value::Str(s),
                Lit::Int(i) => Value::Int {
                    lit: i,
                    negative: false,
                },
                Lit::Bool(b) => Value::Bool(b),
                _ => Value::Other,
            },
            Expr::Unary(ExprUnary {
                op: UnOp::Neg(_),
                expr: inner,
                ..
            }) => match Value::of(inner) {
                Value::Int { lit, negative } => Value::Int {
                    lit,
                    negative: !negative,
                },
                _ => Value::Other,
            },
            _ => Value::Other,
        }
    }
}

/// The value of one key in a configuration builder: remembers that the key was given, so a
/// second occurrence is an error on that occurrence (tokio's "set multiple times").
pub(crate) struct Slot<T> {
    given: bool,
    value: Option<T>,
}

impl<T> Default for Slot<T> {
    fn default() -> Self {
        Slot {
            given: false,
            value: None,
        }
    }
}

impl<T> Slot<T> {
    /// Records that `key` was given; an error on `key` if it had been given before. A slot is
    /// claimed before its value is checked, so a key given twice is reported as such even
    /// when its first value was wrong.
    pub(crate) fn claim(&mut self, key: &Ident) -> syn::Result<()> {
        if self.given {
            return Err(syn::Error::new(
                key.span(),
                format!("`{}` is set twice; remove one of them", key.unraw()),
            ));
        }
        self.given = true;
        Ok(())
    }

    /// Stores the checked value.
    pub(crate) fn set(&mut self, value: T) {
        self.value = Some(value);
    }

    /// The value, if the key was given with a valid value.
    pub(crate) fn take(self) -> Option<T> {
        self.value
    }
}

/// Parses `tokens` as a comma-separated option list, reporting each malformed item into `cx`
/// and returning the well-formed ones in order. `example` is a well-formed list shown in the
/// messages, e.g. `grace = "5s", reset_globally`.
pub(crate) fn parse_list(tokens: TokenStream, example: &str, cx: &Ctxt) -> Vec<OptionItem> {
    let mut items = Vec::new();
    for chunk in split_commas(tokens) {
        if chunk.tokens.is_empty() {
            if let Some(comma) = chunk.comma {
                cx.error_at(
                    comma,
                    "an option is missing before this `,`; remove the comma",
                );
            }
            continue;
        }
        let parser = |input: ParseStream| parse_item(input, example);
        match parser.parse2(chunk.tokens) {
            Ok(item) => items.push(item),
            Err(err) => cx.syn_error(err),
        }
    }
    items
}

struct Chunk {
    tokens: TokenStream,
    /// The comma that ends this chunk, if any.
    comma: Option<Span>,
}

/// Splits at the commas outside any group.
fn split_commas(tokens: TokenStream) -> Vec<Chunk> {
    let mut chunks = Vec::new();
    let mut current = Vec::new();
    for tree in tokens {
        match &tree {
            TokenTree::Punct(p) if p.as_char() == ',' => {
                chunks.push(Chunk {
                    tokens: current.drain(..).collect(),
                    comma: Some(p.span()),
                });
            }
            _ => current.push(tree),
        }
    }
    if !current.is_empty() {
        chunks.push(Chunk {
            tokens: current.into_iter().collect(),
            comma: None,
        });
    }
    chunks
}

fn parse_item(input: ParseStream, example: &str) -> syn::Result<OptionItem> {
    if !input.peek(Ident::peek_any) {
        return Err(input.error(format!(
            "expected an option: options are written `key = value` or as a bare flag, \
             such as `{example}`"
        )));
    }
    let key = input.call(Ident::parse_any)?;
    let name = key.unraw();
    if input.is_empty() {
        return Ok(OptionItem { key, value: None });
    }
    if input.peek(Token![=]) {
        input.parse::<Token![=]>()?;
        if input.is_empty() {
            return Err(syn::Error::new(
                key.span(),
                format!("`{name}` has no value after `=`; write `{name} = value`"),
            ));
        }
        let value: Expr = input.parse()?;
        if !input.is_empty() {
            return Err(input.error(format!(
                "unexpected tokens after the value of `{name}`; separate options with commas"
            )));
        }
        return Ok(OptionItem {
            key,
            value: Some(value),
        });
    }
    if let Some((group, _, _)) = input.cursor().group(Delimiter::Parenthesis) {
        let span = group.span();
        return Err(syn::Error::new(
            span,
            format!("options are written `key = value`: write `{name} = …`, not `{name}(…)`"),
        ));
    }
    Err(input.error(format!(
        "expected `=` or `,` after `{name}`; options are written `key = value` or as a bare \
         flag, such as `{example}`"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn parse(tokens: TokenStream) -> (Vec<OptionItem>, Vec<String>) {
        let cx = Ctxt::new();
        let items = parse_list(tokens, "grace = \"5s\"", &cx);
        let errors = match cx.check() {
            Ok(()) => Vec::new(),
            Err(e) => e.into_iter().map(|e| e.to_string()).collect(),
        };
        (items, errors)
    }

    #[test]
    fn reads_flags_and_values() {
        let (items, errors) = parse(quote!(grace = "5s", max_failures = -1, reset_globally,));
        assert!(errors.is_empty(), "{errors:?}");
        let names: Vec<String> = items.iter().map(OptionItem::name).collect();
        assert_eq!(names, ["grace", "max_failures", "reset_globally"]);
        assert!(matches!(items[0].value(), Value::Str(s) if s.value() == "5s"));
        assert!(matches!(
            items[1].value(),
            Value::Int { negative: true, .. }
        ));
        assert!(matches!(items[2].value(), Value::Flag));
    }

    #[test]
    fn keeps_going_after_a_malformed_item() {
        let (items, errors) = parse(quote!(grace("5s"), "x", within = "1s", name =, ,));
        assert_eq!(items.len(), 1);
        assert_eq!(errors.len(), 4, "{errors:?}");
        assert!(errors[0].contains("not `grace(…)`"), "{errors:?}");
        assert!(errors[1].starts_with("expected an option"), "{errors:?}");
        assert!(errors[2].contains("no value after `=`"), "{errors:?}");
        assert!(errors[3].contains("missing before this `,`"), "{errors:?}");
    }

    #[test]
    fn slot_rejects_a_second_key() {
        let key = Ident::new("grace", Span::call_site());
        let mut slot = Slot::<u32>::default();
        assert!(slot.claim(&key).is_ok());
        let err = slot.claim(&key).unwrap_err().to_string();
        assert_eq!(err, "`grace` is set twice; remove one of them");
    }
}
