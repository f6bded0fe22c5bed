//! Duration strings (`"250ms"`, `"1m 30s"`), parsed at compile time.

use std::time::Duration;

use proc_macro2::{Literal, TokenStream};
use quote::quote_spanned;
use syn::LitStr;

/// Parses the duration string `lit`, the value of option `key`.
///
/// A malformed string gives an error on the literal with humantime's reason and an example;
/// zero is allowed here, each option decides whether it makes sense.
pub(crate) fn parse(key: &str, lit: &LitStr) -> syn::Result<Duration> {
    let text = lit.value();
    humantime::parse_duration(text.trim()).map_err(|reason| {
        syn::Error::new(
            lit.span(),
            format!(
                "`{key}` is not a duration: {reason}; write a number and a unit, \
                 such as `{key} = \"5s\"`, `\"250ms\"` or `\"1m 30s\"`"
            ),
        )
    })
}

/// `::superloops::__private::Duration::new(secs, nanos)`, a `const` expression, spanned on
/// the user's literal.
pub(crate) fn to_tokens(duration: Duration, lit: &LitStr) -> TokenStream {
    let secs = Literal::u64_unsuffixed(duration.as_secs());
    let nanos = Literal::u32_unsuffixed(duration.subsec_nanos());
    quote_spanned! {lit.span()=>
        ::superloops::__private::Duration::new(#secs, #nanos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proc_macro2::Span;

    fn lit(s: &str) -> LitStr {
        LitStr::new(s, Span::call_site())
    }

    #[test]
    fn accepts_humantime_forms() {
        assert_eq!(parse("grace", &lit("5s")).unwrap(), Duration::from_secs(5));
        assert_eq!(
            parse("grace", &lit("250ms")).unwrap(),
            Duration::from_millis(250)
        );
        assert_eq!(
            parse("grace", &lit("1m 30s")).unwrap(),
            Duration::from_secs(90)
        );
        assert_eq!(
            parse("grace", &lit(" 2h ")).unwrap(),
            Duration::from_secs(7200)
        );
    }

    #[test]
    fn explains_malformed() {
        let err = parse("within", &lit("soon")).unwrap_err().to_string();
        assert!(err.starts_with("`within` is not a duration: "), "{err}");
        assert!(err.contains("`within = \"5s\"`"), "{err}");
    }

    #[test]
    fn tokens_are_const_duration_new() {
        let tokens = to_tokens(Duration::new(90, 5), &lit("1m 30s 5ns")).to_string();
        assert_eq!(
            tokens,
            ":: superloops :: __private :: Duration :: new (90 , 5)"
        );
    }
}
