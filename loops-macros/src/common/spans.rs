//! Putting generated code on the user's tokens, so that type errors land there.

use proc_macro2::{Delimiter, Group, Ident, Span, TokenStream};
use quote::{quote, quote_spanned, ToTokens};

/// The spans of the first and last token of `tokens` (`Span::call_site()` when empty).
///
/// On stable Rust a proc macro cannot join two spans, but rustc spans a path from its first
/// segment to its last: a path whose first token carries `first` and last token carries `last`
/// is reported over everything in between.
pub(crate) fn first_last(tokens: &impl ToTokens) -> (Span, Span) {
    let mut iter = tokens.to_token_stream().into_iter();
    let first = iter.next().map_or_else(Span::call_site, |t| t.span());
    let last = iter.last().map_or(first, |t| t.span());
    (first, last)
}

/// `::superloops::__private::#name(#args)`, spanned over the user's tokens `over`: an
/// unsatisfied bound of the function it calls is reported on `over`, from its first token to
/// its last.
pub(crate) fn private_call(name: &str, args: TokenStream, over: &impl ToTokens) -> TokenStream {
    let (first, last) = first_last(over);
    let prefix = quote_spanned!(first=> ::superloops::__private::);
    call(prefix, &Ident::new(name, last), args, last)
}

/// `<Self>::#method(#args)`, spanned over the user's tokens `over` like [`private_call`].
/// (`method` is re-spanned too: rustc would widen the call's span to cover it.)
pub(crate) fn self_call(method: &Ident, args: TokenStream, over: &impl ToTokens) -> TokenStream {
    let (first, last) = first_last(over);
    let prefix = quote_spanned!(first=> <Self>::);
    let mut method = method.clone();
    method.set_span(last);
    call(prefix, &method, args, last)
}

/// `#prefix #name(#args)`, the parentheses carrying `last`: rustc spans a call from its first
/// token to its closing parenthesis.
fn call(prefix: TokenStream, name: &Ident, args: TokenStream, last: Span) -> TokenStream {
    let mut args = Group::new(Delimiter::Parenthesis, args);
    args.set_span(last);
    quote!(#prefix #name #args)
}
