//! The options of `#[superloop(...)]`: parsed into a [`Configuration`] builder, one `set_*`
//! per key (tokio-macros' shape), finished by [`Configuration::build`].

use std::time::Duration;

use proc_macro2::{Span, TokenStream};
use syn::ext::IdentExt;
use syn::{Ident, LitBool, LitStr};

use super::size;
use crate::common::options::{self, OptionItem, Slot, Value};
use crate::common::{suggest, Ctxt};

/// Every option `#[superloop]` takes, in the order the docs list them.
pub(crate) const OPTIONS: [&str; 8] = [
    "grace",
    "max_failures",
    "within",
    "stop_on_failure",
    "reset_globally",
    "name",
    "stack_size",
    "cycle_timeout",
];

/// Options of `loop_group!`: named when they are given to `#[superloop]` by mistake.
const GROUP_OPTIONS: [&str; 7] = [
    "strategy",
    "max_restarts",
    "backoff",
    "on_reset",
    "max_threads",
    "queue_tasks",
    "task_grace",
];

/// A well-formed option list, shown in messages.
const EXAMPLE: &str = "grace = \"5s\", max_failures = 10, reset_globally";

/// The options of one `#[superloop]`, checked. `None`: not given (or given wrongly, which has
/// been reported), so the runtime's default applies.
#[derive(Default)]
pub(crate) struct LoopOptions {
    /// `grace = "5s"` and the literal it came from.
    pub(crate) grace: Option<(Duration, LitStr)>,
    /// `max_failures = 10`, spanned on the literal.
    pub(crate) max_failures: Option<(u32, Span)>,
    /// `within = "60s"` and the literal it came from.
    pub(crate) within: Option<(Duration, LitStr)>,
    /// `stop_on_failure` / `stop_on_failure = b`.
    pub(crate) stop_on_failure: Option<LitBool>,
    /// `reset_globally` / `reset_globally = b`.
    pub(crate) reset_globally: Option<LitBool>,
    /// `name = "feed"`.
    pub(crate) name: Option<LitStr>,
    /// `stack_size = "256 KiB"` or `stack_size = 262144`: bytes, spanned on the value.
    pub(crate) stack_size: Option<(u64, Span)>,
    /// `cycle_timeout = "30s"` and the literal it came from.
    pub(crate) cycle_timeout: Option<(Duration, LitStr)>,
}

/// Parses the attribute's arguments, reporting every mistake into `cx`.
pub(crate) fn parse(args: TokenStream, cx: &Ctxt) -> LoopOptions {
    let mut config = Configuration::default();
    for item in options::parse_list(args, EXAMPLE, cx) {
        if let Err(err) = config.set(&item) {
            cx.syn_error(err);
        }
    }
    config.build()
}

/// Builder of [`LoopOptions`]: one `set_*` per key, each rejecting a repeated key and a value
/// of the wrong kind or range, with the error on the offending token.
#[derive(Default)]
struct Configuration {
    grace: Slot<(Duration, LitStr)>,
    max_failures: Slot<(u32, Span)>,
    within: Slot<(Duration, LitStr)>,
    stop_on_failure: Slot<LitBool>,
    reset_globally: Slot<LitBool>,
    name: Slot<LitStr>,
    stack_size: Slot<(u64, Span)>,
    cycle_timeout: Slot<(Duration, LitStr)>,
}

impl Configuration {
    fn set(&mut self, item: &OptionItem) -> syn::Result<()> {
        match item.name().as_str() {
            "grace" => self.set_grace(item),
            "max_failures" => self.set_max_failures(item),
            "within" => self.set_within(item),
            "stop_on_failure" => self.set_stop_on_failure(item),
            "reset_globally" => self.set_reset_globally(item),
            "name" => self.set_name(item),
            "stack_size" => self.set_stack_size(item),
            "cycle_timeout" => self.set_cycle_timeout(item),
            _ => Err(unknown_option(&item.key)),
        }
    }

    fn set_grace(&mut self, item: &OptionItem) -> syn::Result<()> {
        self.grace.claim(&item.key)?;
        let (duration, lit) = item.duration("5s")?;
        if duration.is_zero() {
            return Err(syn::Error::new(
                lit.span(),
                "`grace` must be longer than zero: it is how long `stop` waits for the \
                 thread to end; write e.g. `grace = \"250ms\"`, or leave it out for 5 seconds",
            ));
        }
        self.grace.set((duration, lit));
        Ok(())
    }

    fn set_max_failures(&mut self, item: &OptionItem) -> syn::Result<()> {
        self.max_failures.claim(&item.key)?;
        let wrong_type =
            || item.value_error("`max_failures` takes a whole number such as `max_failures = 10`");
        let Value::Int { lit, negative } = item.value() else {
            return Err(wrong_type());
        };
        if !matches!(lit.suffix(), "" | "u32") {
            return Err(wrong_type());
        }
        if negative {
            return Err(item.value_error(
                "`max_failures` cannot be negative: it counts the failures allowed; \
                 `max_failures = 0` makes the first failure exceed the budget",
            ));
        }
        let n = lit.base10_parse::<u32>().map_err(|_| {
            syn::Error::new(
                lit.span(),
                format!(
                    "`max_failures` is too big: the most it can be is {} (`u32::MAX`)",
                    u32::MAX
                ),
            )
        })?;
        self.max_failures.set((n, lit.span()));
        Ok(())
    }

    fn set_within(&mut self, item: &OptionItem) -> syn::Result<()> {
        self.within.claim(&item.key)?;
        let (duration, lit) = item.duration("5s")?;
        if duration.is_zero() {
            return Err(syn::Error::new(
                lit.span(),
                "`within` must be longer than zero: it is the window in which failures count; \
                 write e.g. `within = \"60s\"`, or leave it out to count every failure",
            ));
        }
        self.within.set((duration, lit));
        Ok(())
    }

    fn set_cycle_timeout(&mut self, item: &OptionItem) -> syn::Result<()> {
        self.cycle_timeout.claim(&item.key)?;
        let (duration, lit) = item.duration("5s")?;
        if duration.is_zero() {
            return Err(syn::Error::new(
                lit.span(),
                "`cycle_timeout` must be longer than zero: a cycle running longer than it is \
                 reported stalled; write e.g. `cycle_timeout = \"30s\"`, or leave it out for \
                 no watchdog",
            ));
        }
        self.cycle_timeout.set((duration, lit));
        Ok(())
    }

    fn set_stop_on_failure(&mut self, item: &OptionItem) -> syn::Result<()> {
        self.stop_on_failure.claim(&item.key)?;
        let on = flag_value(item)?;
        self.stop_on_failure.set(on);
        Ok(())
    }

    fn set_reset_globally(&mut self, item: &OptionItem) -> syn::Result<()> {
        self.reset_globally.claim(&item.key)?;
        let on = flag_value(item)?;
        self.reset_globally.set(on);
        Ok(())
    }

    fn set_name(&mut self, item: &OptionItem) -> syn::Result<()> {
        self.name.claim(&item.key)?;
        let Value::Str(lit) = item.value() else {
            return Err(item.value_error("`name` takes a string such as `name = \"feed\"`"));
        };
        let name = lit.value();
        if name.trim().is_empty() {
            return Err(syn::Error::new(
                lit.span(),
                "`name` cannot be blank: it prefixes the thread names (`feed_0`, `feed_1`, …); \
                 write e.g. `name = \"feed\"`, or leave it out to use the type's name",
            ));
        }
        if name.contains('\0') {
            return Err(syn::Error::new(
                lit.span(),
                "`name` cannot contain a NUL character (`\\0`): thread names cannot; \
                 write e.g. `name = \"feed\"`",
            ));
        }
        self.name.set(lit.clone());
        Ok(())
    }

    fn set_stack_size(&mut self, item: &OptionItem) -> syn::Result<()> {
        self.stack_size.claim(&item.key)?;
        let (bytes, span) = size_value(item)?;
        if bytes < size::MIN_STACK {
            return Err(syn::Error::new(
                span,
                format!(
                    "`stack_size` must be at least {} ({} bytes): a panic's backtrace is \
                     printed on the loop's own thread and needs about half of that; write \
                     e.g. `stack_size = \"256 KiB\"`",
                    size::describe(size::MIN_STACK),
                    size::MIN_STACK
                ),
            ));
        }
        self.stack_size.set((bytes, span));
        Ok(())
    }

    /// Rules across keys would go here; `#[superloop]`'s options are independent.
    fn build(self) -> LoopOptions {
        LoopOptions {
            grace: self.grace.take(),
            max_failures: self.max_failures.take(),
            within: self.within.take(),
            stop_on_failure: self.stop_on_failure.take(),
            reset_globally: self.reset_globally.take(),
            name: self.name.take(),
            stack_size: self.stack_size.take(),
            cycle_timeout: self.cycle_timeout.take(),
        }
    }
}

/// The error for a key that is not an option, with a correction when one is close.
fn unknown_option(key: &Ident) -> syn::Error {
    let name = key.unraw().to_string();
    let takes = format!("`#[superloop]` takes {}", suggest::list(&OPTIONS));
    let msg = if let Some(hook) = super::ast::Hook::from_name(&name) {
        format!(
            "`{name}` is a hook, not an option: write it as a method of the impl block, \
             `{} {{ … }}`",
            hook.example()
        )
    } else if GROUP_OPTIONS.contains(&name.as_str()) {
        format!("`{name}` is an option of `loop_group!`, not of a loop; {takes}")
    } else if let Some(near) = suggest::did_you_mean(&name, OPTIONS) {
        format!("unknown option `{name}`, did you mean `{near}`? {takes}")
    } else {
        format!("unknown option `{name}`: {takes}")
    };
    syn::Error::new(key.span(), msg)
}

/// The byte count of `stack_size`: a size string (`"256 KiB"`) or an integer of bytes.
fn size_value(item: &OptionItem) -> syn::Result<(u64, Span)> {
    const TAKES: &str = "`stack_size` takes a size such as `stack_size = \"256 KiB\"` \
                         (units `B`, `KiB`, `MiB`, `KB`, `MB`) or a number of bytes such as \
                         `stack_size = 262144`";
    match item.value() {
        Value::Str(lit) => match size::parse(&lit.value()) {
            Ok(bytes) => Ok((bytes, lit.span())),
            Err(reason) => Err(syn::Error::new(
                lit.span(),
                format!("`stack_size` is not a size: {reason}"),
            )),
        },
        Value::Int { lit, negative } => {
            if negative {
                return Err(item.value_error("`stack_size` cannot be negative"));
            }
            match lit.suffix() {
                "" | "usize" | "u64" | "u32" => {}
                "u8" | "u16" | "u128" | "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => {
                    return Err(item.value_error(TAKES));
                }
                // `stack_size = 256KiB` lexes as the integer 256 with suffix `KiB`.
                suffix => {
                    let digits = lit.base10_digits();
                    return Err(item.value_error(&format!(
                        "write the size as a string: `stack_size = \"{digits} {suffix}\"`"
                    )));
                }
            }
            let bytes = lit
                .base10_parse::<u64>()
                .map_err(|_| syn::Error::new(lit.span(), "`stack_size` is too big"))?;
            Ok((bytes, lit.span()))
        }
        Value::Flag => Err(item
            .value_error("`stack_size` needs a value: a size such as `stack_size = \"256 KiB\"`")),
        _ => Err(item.value_error(TAKES)),
    }
}

/// A flag's value: `true` when written bare, else its `true`/`false`.
fn flag_value(item: &OptionItem) -> syn::Result<LitBool> {
    let key = item.name();
    match item.value() {
        Value::Flag => Ok(LitBool::new(true, item.key.span())),
        Value::Bool(lit) => Ok(lit.clone()),
        _ => Err(item.value_error(&format!(
            "`{key}` is a flag: write `{key}` alone, or `{key} = true` or `{key} = false`"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn errors(args: TokenStream) -> Vec<String> {
        let cx = Ctxt::new();
        let _ = parse(args, &cx);
        match cx.check() {
            Ok(()) => Vec::new(),
            Err(e) => e.into_iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn every_option() {
        let cx = Ctxt::new();
        let o = parse(
            quote!(
                grace = "1m 30s",
                max_failures = 0,
                within = "250ms",
                stop_on_failure,
                reset_globally = false,
                name = "feed",
                stack_size = "256 KiB"
            ),
            &cx,
        );
        cx.check().unwrap();
        assert_eq!(o.grace.unwrap().0, Duration::from_secs(90));
        assert_eq!(o.max_failures.unwrap().0, 0);
        assert_eq!(o.within.unwrap().0, Duration::from_millis(250));
        assert!(o.stop_on_failure.unwrap().value);
        assert!(!o.reset_globally.unwrap().value);
        assert_eq!(o.name.unwrap().value(), "feed");
        assert_eq!(o.stack_size.unwrap().0, 256 * 1024);
    }

    #[test]
    fn stack_sizes() {
        let size = |args: TokenStream| {
            let cx = Ctxt::new();
            let o = parse(args, &cx);
            cx.check().unwrap();
            o.stack_size.unwrap().0
        };
        assert_eq!(size(quote!(stack_size = 65536)), 65536);
        assert_eq!(size(quote!(stack_size = 1_048_576usize)), 1 << 20);
        assert_eq!(size(quote!(stack_size = "100 KB")), 100_000);
        assert_eq!(size(quote!(stack_size = "2MiB")), 2 << 20);
        assert!(errors(quote!(stack_size = "64 KiB")).is_empty());
        assert!(errors(quote!(stack_size = "65535 B"))[0].contains("at least 64 KiB"));
        assert!(errors(quote!(stack_size = "64 KB"))[0].contains("at least 64 KiB"));
        assert!(errors(quote!(stack_size = 4096))[0].contains("at least 64 KiB"));
        assert!(errors(quote!(stack_size = -65536))[0].contains("cannot be negative"));
        assert!(errors(quote!(stack_size = 256KiB))[0].contains("`stack_size = \"256 KiB\"`"));
        assert!(errors(quote!(stack_size = "256 kib"))[0].contains("write `KiB`"));
        assert!(errors(quote!(stack_size = "65536"))[0].contains("has no unit"));
        assert!(errors(quote!(stack_size = 1.5))[0].starts_with("`stack_size` takes a size"));
        assert!(errors(quote!(stack_size))[0].contains("needs a value"));
        assert!(errors(quote!(stack_size = 99999999999999999999))[0].contains("too big"));
        assert!(errors(quote!(stack_sise = "1 MiB"))[0].contains("did you mean `stack_size`"));
    }

    #[test]
    fn each_repeated_key_is_reported() {
        for key in OPTIONS {
            let key = Ident::new(key, Span::call_site());
            // The first value may be wrong for the key too: the repetition is still reported.
            let errs = errors(quote!(#key, #key = 1));
            assert_eq!(
                errs.last().unwrap(),
                &format!("`{key}` is set twice; remove one of them")
            );
        }
    }

    #[test]
    fn ranges() {
        assert!(errors(quote!(max_failures = 4294967295)).is_empty());
        assert!(errors(quote!(max_failures = 4294967296))[0].contains("too big"));
        assert!(errors(quote!(max_failures = -1))[0].contains("cannot be negative"));
        assert!(errors(quote!(grace = "0s"))[0].contains("longer than zero"));
        assert!(errors(quote!(within = "0ms"))[0].contains("longer than zero"));
        assert!(errors(quote!(name = "  "))[0].contains("cannot be blank"));
        assert!(errors(quote!(name = "a\0b"))[0].contains("NUL"));
        assert!(errors(quote!(stack_size = "8 KiB"))[0].contains("at least"));
    }

    #[test]
    fn unknown_keys() {
        assert!(errors(quote!(gace = "5s"))[0]
            .starts_with("unknown option `gace`, did you mean `grace`?"));
        assert!(errors(quote!(colour = "red"))[0].starts_with("unknown option `colour`: "));
        assert!(errors(quote!(on_start))[0].contains("is a hook, not an option"));
        assert!(errors(quote!(max_restarts = 3))[0].contains("option of `loop_group!`"));
    }
}
