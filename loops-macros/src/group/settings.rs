//! The options of a group, `{ strategy = one_for_one, max_restarts = 5, within = "1m",
//! backoff = "10ms..30s", on_reset = path }`: parsed into a [`Configuration`] builder, one
//! `set_*` per key, finished by [`Configuration::build`], which checks the rules across keys.

use std::time::Duration;

use proc_macro2::{Span, TokenStream};
use syn::ext::IdentExt;
use syn::{Expr, Ident, LitBool, LitStr};

use crate::common::options::{self, OptionItem, Slot, Value};
use crate::common::{snake_case, suggest, Ctxt};

/// Every option `loop_group!` takes, in the order the docs list them.
pub(crate) const OPTIONS: [&str; 8] = [
    "strategy",
    "max_restarts",
    "within",
    "backoff",
    "on_reset",
    "max_threads",
    "queue_tasks",
    "task_grace",
];

/// Options of `#[superloop]`: named when they are given to a group by mistake (`within` is
/// both).
const LOOP_OPTIONS: [&str; 7] = [
    "grace",
    "max_failures",
    "stop_on_failure",
    "reset_globally",
    "name",
    "stack_size",
    "cycle_timeout",
];

/// A well-formed option list, shown in messages.
const EXAMPLE: &str = "strategy = one_for_one, max_restarts = 5, within = \"1m\"";

/// The window of `max_restarts` when `within` is not given.
pub(crate) const DEFAULT_WITHIN: Duration = Duration::from_secs(60);

/// How a group restarts its members: the runtime's `Strategy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Strategy {
    OneForAll,
    OneForOne,
    RestForOne,
}

impl Strategy {
    const ALL: [Strategy; 3] = [
        Strategy::OneForAll,
        Strategy::OneForOne,
        Strategy::RestForOne,
    ];

    /// The name written in `strategy = …`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Strategy::OneForAll => "one_for_all",
            Strategy::OneForOne => "one_for_one",
            Strategy::RestForOne => "rest_for_one",
        }
    }

    /// The runtime enum's variant.
    pub(crate) fn variant(self) -> &'static str {
        match self {
            Strategy::OneForAll => "OneForAll",
            Strategy::OneForOne => "OneForOne",
            Strategy::RestForOne => "RestForOne",
        }
    }

    fn from_name(name: &str) -> Option<Strategy> {
        Strategy::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Whether a failing member restarts others: then some member must reset globally.
    pub(crate) fn restarts_others(self) -> bool {
        self != Strategy::OneForOne
    }
}

/// The options of one group, checked. `None`: not given (or given wrongly, which has been
/// reported), so the runtime's default applies.
#[derive(Default)]
pub(crate) struct GroupOptions {
    /// `strategy = one_for_one`, spanned on the value.
    pub(crate) strategy: Option<(Strategy, Span)>,
    /// `max_restarts = 5` with its window: `within`'s literal, or `None` for the default.
    pub(crate) max_restarts: Option<MaxRestarts>,
    /// `backoff = "10ms..30s"`: (first delay, cap) and the literal.
    pub(crate) backoff: Option<(Duration, Duration, LitStr)>,
    /// `on_reset = path`: the expression as written.
    pub(crate) on_reset: Option<Expr>,
    /// `max_threads = 4`, spanned on the literal: the tasks running at once.
    pub(crate) max_threads: Option<(u64, Span)>,
    /// `queue_tasks` / `queue_tasks = b`: queue tasks past `max_threads`.
    pub(crate) queue_tasks: Option<LitBool>,
    /// `task_grace = "5s"` and the literal it came from.
    pub(crate) task_grace: Option<(Duration, LitStr)>,
}

/// `max_restarts = n` and its window.
pub(crate) struct MaxRestarts {
    pub(crate) n: u32,
    pub(crate) span: Span,
    /// `within = "…"`; `None`: [`DEFAULT_WITHIN`].
    pub(crate) within: Option<(Duration, LitStr)>,
}

impl GroupOptions {
    /// The strategy, given or default.
    pub(crate) fn strategy(&self) -> Strategy {
        self.strategy.map_or(Strategy::OneForAll, |(s, _)| s)
    }
}

/// Parses the tokens inside a group's braces, reporting every mistake into `cx`.
pub(crate) fn parse(tokens: TokenStream, cx: &Ctxt) -> GroupOptions {
    let mut config = Configuration::default();
    for item in options::parse_list(tokens, EXAMPLE, cx) {
        if let Err(err) = config.set(&item) {
            cx.syn_error(err);
        }
    }
    config.build(cx)
}

/// Builder of [`GroupOptions`]: one `set_*` per key, each rejecting a repeated key and a
/// value of the wrong kind or range, with the error on the offending token.
#[derive(Default)]
struct Configuration {
    strategy: Slot<(Strategy, Span)>,
    max_restarts: Slot<(u32, Span)>,
    /// With the key, for the error when `max_restarts` is missing.
    within: Slot<(Duration, LitStr, Ident)>,
    backoff: Slot<(Duration, Duration, LitStr)>,
    on_reset: Slot<Expr>,
    max_threads: Slot<(u64, Span)>,
    /// With the key, for the error when `max_threads` is missing.
    queue_tasks: Slot<(LitBool, Ident)>,
    task_grace: Slot<(Duration, LitStr)>,
}

impl Configuration {
    fn set(&mut self, item: &OptionItem) -> syn::Result<()> {
        match item.name().as_str() {
            "strategy" => self.set_strategy(item),
            "max_restarts" => self.set_max_restarts(item),
            "within" => self.set_within(item),
            "backoff" => self.set_backoff(item),
            "on_reset" => self.set_on_reset(item),
            "max_threads" => self.set_max_threads(item),
            "queue_tasks" => self.set_queue_tasks(item),
            "task_grace" => self.set_task_grace(item),
            _ => Err(unknown_option(&item.key)),
        }
    }

    fn set_strategy(&mut self, item: &OptionItem) -> syn::Result<()> {
        self.strategy.claim(&item.key)?;
        let choices = "`strategy` is `one_for_all` (the default: every member restarts), \
                       `one_for_one` (only the failing member) or `rest_for_one` (the failing \
                       member and those declared after it)";
        let value = match &item.value {
            Some(Expr::Path(path)) if path.qself.is_none() => path,
            Some(Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(lit),
                ..
            })) if Strategy::from_name(&lit.value()).is_some() => {
                return Err(syn::Error::new(
                    lit.span(),
                    format!(
                        "write the strategy without quotes: `strategy = {}`",
                        lit.value()
                    ),
                ));
            }
            _ => {
                return Err(
                    item.value_error(&format!("{choices}, such as `strategy = one_for_one`"))
                )
            }
        };
        let last = &value
            .path
            .segments
            .last()
            .expect("a path has a segment")
            .ident;
        let written = last.unraw().to_string();
        if value.path.segments.len() == 1 {
            if let Some(strategy) = Strategy::from_name(&written) {
                self.strategy.set((strategy, last.span()));
                return Ok(());
            }
        }
        // `Strategy::OneForOne` or `OneForOne`: the runtime's variant, spelt as a type.
        let msg = if let Some(s) = Strategy::from_name(&snake_case(&written)) {
            format!(
                "write the strategy in snake_case: `strategy = {}`",
                s.name()
            )
        } else if let Some(near) =
            suggest::did_you_mean(&written, Strategy::ALL.map(Strategy::name))
        {
            format!("unknown strategy `{written}`, did you mean `{near}`? {choices}")
        } else {
            format!("unknown strategy `{written}`: {choices}")
        };
        Err(syn::Error::new_spanned(value, msg))
    }

    fn set_max_restarts(&mut self, item: &OptionItem) -> syn::Result<()> {
        self.max_restarts.claim(&item.key)?;
        let (n, span) = whole_number(
            item,
            "`max_restarts` cannot be negative: it counts the resets allowed within the \
             window; `max_restarts = 0` gives up at the first one",
        )?;
        let n = u32::try_from(n).map_err(|_| {
            syn::Error::new(
                span,
                format!(
                    "`max_restarts` is too big: the most it can be is {} (`u32::MAX`); leave \
                     it out for a group that never gives up",
                    u32::MAX
                ),
            )
        })?;
        self.max_restarts.set((n, span));
        Ok(())
    }

    fn set_max_threads(&mut self, item: &OptionItem) -> syn::Result<()> {
        self.max_threads.claim(&item.key)?;
        let (n, span) = whole_number(
            item,
            "`max_threads` cannot be negative: it caps the tasks running at once",
        )?;
        if n == 0 {
            return Err(syn::Error::new(
                span,
                "`max_threads = 0` would let no task run: write the number of tasks that may \
                 run at once, such as `max_threads = 4`, or leave it out for no cap",
            ));
        }
        self.max_threads.set((n, span));
        Ok(())
    }

    fn set_queue_tasks(&mut self, item: &OptionItem) -> syn::Result<()> {
        self.queue_tasks.claim(&item.key)?;
        let on = match item.value() {
            Value::Flag => LitBool::new(true, item.key.span()),
            Value::Bool(lit) => lit.clone(),
            _ => {
                return Err(item.value_error(
                    "`queue_tasks` is a flag: write `queue_tasks` alone, or \
                     `queue_tasks = true` or `queue_tasks = false`",
                ))
            }
        };
        self.queue_tasks.set((on, item.key.clone()));
        Ok(())
    }

    fn set_task_grace(&mut self, item: &OptionItem) -> syn::Result<()> {
        self.task_grace.claim(&item.key)?;
        let (duration, lit) = item.duration("1m")?;
        if duration.is_zero() {
            return Err(syn::Error::new(
                lit.span(),
                "`task_grace` must be longer than zero: it is how long `stop` waits for each \
                 running task; write e.g. `task_grace = \"1s\"`, or leave it out for 5 seconds",
            ));
        }
        self.task_grace.set((duration, lit));
        Ok(())
    }

    fn set_within(&mut self, item: &OptionItem) -> syn::Result<()> {
        self.within.claim(&item.key)?;
        let (duration, lit) = item.duration("1m")?;
        if duration.is_zero() {
            return Err(syn::Error::new(
                lit.span(),
                "`within` must be longer than zero: it is the window in which `max_restarts` \
                 resets are allowed; write e.g. `within = \"1m\"`",
            ));
        }
        self.within.set((duration, lit, item.key.clone()));
        Ok(())
    }

    fn set_backoff(&mut self, item: &OptionItem) -> syn::Result<()> {
        self.backoff.claim(&item.key)?;
        let lit =
            match item.value() {
                Value::Str(lit) => lit,
                Value::Flag => {
                    return Err(item.value_error(
                        "`backoff` needs a value: the first delay and the cap, such as \
                     `backoff = \"10ms..30s\"`",
                    ))
                }
                _ => return Err(item.value_error(
                    "`backoff` takes a string with two durations, the first delay and the cap, \
                     such as `backoff = \"10ms..30s\"`",
                )),
            };
        let (min, max) = parse_backoff(lit)?;
        self.backoff.set((min, max, lit.clone()));
        Ok(())
    }

    fn set_on_reset(&mut self, item: &OptionItem) -> syn::Result<()> {
        self.on_reset.claim(&item.key)?;
        let example = "such as `on_reset = crate::log_reset` with `fn log_reset() { … }`";
        match &item.value {
            Some(Expr::Group(group)) => {
                self.on_reset.set((*group.expr).clone());
                Ok(())
            }
            Some(expr @ (Expr::Path(_) | Expr::Closure(_))) => {
                self.on_reset.set(expr.clone());
                Ok(())
            }
            Some(Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(lit),
                ..
            })) => Err(syn::Error::new(
                lit.span(),
                format!(
                    "write the function's path without quotes: `on_reset = {}`",
                    lit.value()
                ),
            )),
            Some(_) => Err(item.value_error(&format!(
                "`on_reset` takes the path of a function `fn()`, {example}"
            ))),
            None => Err(item.value_error(&format!(
                "`on_reset` needs a value: the path of a function `fn()`, {example}"
            ))),
        }
    }

    /// Checks the rules across keys: `within` is the window of `max_restarts`.
    fn build(self, cx: &Ctxt) -> GroupOptions {
        let within = self.within.take();
        let max_restarts = self.max_restarts.take();
        if let (Some((_, _, key)), None) = (&within, &max_restarts) {
            cx.error_at(
                key.span(),
                "`within` is the window of `max_restarts`, which is not set: add it, as in \
                 `max_restarts = 5, within = \"1m\"` (the group gives up past 5 resets in a \
                 minute), or remove `within` for a group that never gives up",
            );
        }
        let max_threads = self.max_threads.take();
        let queue_tasks = self.queue_tasks.take();
        if let (Some((on, key)), None) = (&queue_tasks, &max_threads) {
            if on.value {
                cx.error_at(
                    key.span(),
                    "`queue_tasks` queues the tasks started past `max_threads`, which is not \
                     set: add it, as in `max_threads = 4, queue_tasks`, or remove `queue_tasks`",
                );
            }
        }
        GroupOptions {
            max_threads,
            queue_tasks: queue_tasks.map(|(on, _)| on),
            task_grace: self.task_grace.take(),
            strategy: self.strategy.take(),
            max_restarts: max_restarts.map(|(n, span)| MaxRestarts {
                n,
                span,
                within: within.map(|(d, lit, _)| (d, lit)),
            }),
            backoff: self.backoff.take(),
            on_reset: self.on_reset.take(),
        }
    }
}

/// `"10ms..30s"` (or `"10ms..=30s"`): the first delay and the cap.
fn parse_backoff(lit: &LitStr) -> syn::Result<(Duration, Duration)> {
    const EXAMPLE: &str = "`backoff = \"10ms..30s\"`";
    let text = lit.value();
    let error = |msg: String| syn::Error::new(lit.span(), msg);
    let Some((min_text, max_text)) = text.split_once("..") else {
        return Err(error(format!(
            "`backoff` takes two durations, the first delay and the cap, written as a range: \
             {EXAMPLE} waits 10 ms before a reset that follows another closely, then twice \
             as long each time, up to 30 s"
        )));
    };
    let max_text = max_text.strip_prefix('=').unwrap_or(max_text);
    let (min_text, max_text) = (min_text.trim(), max_text.trim());
    let part = |what: &str, text: &str| {
        humantime::parse_duration(text).map_err(|reason| {
            error(format!(
                "the {what} of `backoff`, `{text}`, is not a duration: {reason}; write a \
                 number and a unit on each side of `..`, as in {EXAMPLE}"
            ))
        })
    };
    let min = part("first delay", min_text)?;
    let max = part("cap", max_text)?;
    if min.is_zero() {
        return Err(error(format!(
            "the first delay of `backoff` must be longer than zero, or a crashing member \
             would restart in a tight loop: write e.g. {EXAMPLE}"
        )));
    }
    if min > max {
        return Err(error(format!(
            "the first delay of `backoff` (`{min_text}`) is longer than its cap \
             (`{max_text}`): write the shorter one first, `backoff = \"{max_text}..{min_text}\"`"
        )));
    }
    Ok((min, max))
}

/// The error for a key that is not an option, with a correction when one is close.
fn unknown_option(key: &Ident) -> syn::Error {
    let name = key.unraw().to_string();
    let takes = format!("`loop_group!` takes {}", suggest::list(&OPTIONS));
    let msg = if LOOP_OPTIONS.contains(&name.as_str()) {
        format!(
            "`{name}` is an option of `#[superloop]`, set on each loop, not on a group; {takes}"
        )
    } else if let Some(near) = suggest::did_you_mean(&name, OPTIONS) {
        format!("unknown option `{name}`, did you mean `{near}`? {takes}")
    } else {
        format!("unknown option `{name}`: {takes}")
    };
    syn::Error::new(key.span(), msg)
}

/// A whole number `key = n` (no suffix but `u32`/`u64`/`usize`), with the message `negative`
/// for `key = -n`.
fn whole_number(item: &OptionItem, negative: &str) -> syn::Result<(u64, Span)> {
    let key = item.name();
    let wrong_type =
        || item.value_error(&format!("`{key}` takes a whole number such as `{key} = 5`"));
    let Value::Int {
        lit,
        negative: minus,
    } = item.value()
    else {
        return Err(wrong_type());
    };
    if !matches!(lit.suffix(), "" | "u32" | "u64" | "usize") {
        return Err(wrong_type());
    }
    if minus {
        return Err(item.value_error(negative));
    }
    let n = lit
        .base10_parse::<u64>()
        .map_err(|_| syn::Error::new(lit.span(), format!("`{key}` is too big")))?;
    Ok((n, lit.span()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn parse_ok(tokens: TokenStream) -> GroupOptions {
        let cx = Ctxt::new();
        let options = parse(tokens, &cx);
        cx.check().unwrap();
        options
    }

    fn errors(tokens: TokenStream) -> Vec<String> {
        let cx = Ctxt::new();
        let _ = parse(tokens, &cx);
        match cx.check() {
            Ok(()) => Vec::new(),
            Err(e) => e.into_iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn every_option() {
        let o = parse_ok(quote!(
            strategy = rest_for_one,
            max_restarts = 5,
            within = "1m",
            backoff = "10ms..30s",
            on_reset = crate::log_reset,
            max_threads = 4,
            queue_tasks,
            task_grace = "250ms",
        ));
        assert_eq!(o.strategy(), Strategy::RestForOne);
        assert_eq!(o.max_threads.unwrap().0, 4);
        assert!(o.queue_tasks.unwrap().value);
        assert_eq!(o.task_grace.unwrap().0, Duration::from_millis(250));
        let max = o.max_restarts.unwrap();
        assert_eq!(max.n, 5);
        assert_eq!(max.within.unwrap().0, Duration::from_secs(60));
        let (min, cap, _) = o.backoff.unwrap();
        assert_eq!(
            (min, cap),
            (Duration::from_millis(10), Duration::from_secs(30))
        );
        assert!(o.on_reset.is_some());
    }

    #[test]
    fn defaults() {
        let o = parse_ok(quote!());
        assert_eq!(o.strategy(), Strategy::OneForAll);
        assert!(o.max_restarts.is_none() && o.backoff.is_none() && o.on_reset.is_none());
        let o = parse_ok(quote!(max_restarts = 0));
        assert!(o.max_restarts.unwrap().within.is_none());
    }

    #[test]
    fn each_repeated_key_is_reported() {
        for key in OPTIONS {
            let key = Ident::new(key, Span::call_site());
            let errs = errors(quote!(#key = 1, #key = 2));
            assert!(
                errs.contains(&format!("`{key}` is set twice; remove one of them")),
                "{errs:?}"
            );
        }
    }

    #[test]
    fn backoff_forms() {
        let lit = |s: &str| LitStr::new(s, Span::call_site());
        let ms = Duration::from_millis;
        assert_eq!(
            parse_backoff(&lit("10ms..30s")).unwrap(),
            (ms(10), ms(30_000))
        );
        assert_eq!(
            parse_backoff(&lit(" 1s ..= 1s ")).unwrap(),
            (ms(1000), ms(1000))
        );
        let err = |s: &str| parse_backoff(&lit(s)).unwrap_err().to_string();
        assert!(err("10ms").contains("two durations"));
        assert!(err("10..30s").contains("first delay of `backoff`, `10`"));
        assert!(err("10ms..soon").contains("cap of `backoff`, `soon`"));
        assert!(err("0s..1s").contains("longer than zero"));
        assert!(err("30s..10ms").contains("`backoff = \"10ms..30s\"`"));
    }

    #[test]
    fn strategies() {
        assert!(errors(quote!(strategy = one_for_all)).is_empty());
        assert!(errors(quote!(strategy = one_for_none))[0]
            .starts_with("unknown strategy `one_for_none`, did you mean `one_for_one`?"));
        assert!(
            errors(quote!(strategy = Strategy::OneForOne))[0].contains("`strategy = one_for_one`")
        );
        assert!(errors(quote!(strategy = "rest_for_one"))[0].contains("without quotes"));
        assert!(errors(quote!(strategy = banana))[0].starts_with("unknown strategy `banana`: "));
    }

    #[test]
    fn cross_key_rules() {
        assert!(errors(quote!(within = "1m"))[0].contains("add it"));
        assert!(errors(quote!(queue_tasks))[0].contains("add it"));
        assert!(errors(quote!(queue_tasks = false)).is_empty());
        assert!(errors(quote!(max_threads = 0))[0].contains("no task"));
        assert!(errors(quote!(max_restarts = 4294967296))[0].contains("too big"));
        assert!(errors(quote!(max_restarts = 3, within = "0s"))[0].contains("longer than zero"));
    }

    #[test]
    fn unknown_keys() {
        assert!(errors(quote!(stratgy = one_for_one))[0]
            .starts_with("unknown option `stratgy`, did you mean `strategy`?"));
        assert!(errors(quote!(grace = "5s"))[0].contains("option of `#[superloop]`"));
        assert!(errors(quote!(colour = 1))[0].starts_with("unknown option `colour`: "));
    }
}
