//! "Did you mean …?" for misspelt options and hooks (darling's Jaro-Winkler rule).

/// How alike two names must be (Jaro-Winkler, 0 to 1) to be offered as a correction.
const THRESHOLD: f64 = 0.8;

/// The candidate most like `word`, if any is alike enough to be a likely misspelling.
pub(crate) fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|candidate| (strsim::jaro_winkler(word, candidate), candidate))
        .filter(|&(score, _)| score > THRESHOLD)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, candidate)| candidate)
}

/// "`a`, `b` and `c`": a list of names for a message.
pub(crate) fn list(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|name| format!("`{name}`")).collect();
    match quoted.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPTIONS: [&str; 3] = ["grace", "max_failures", "within"];

    #[test]
    fn suggests_the_closest() {
        assert_eq!(did_you_mean("gace", OPTIONS), Some("grace"));
        assert_eq!(did_you_mean("max_failure", OPTIONS), Some("max_failures"));
        assert_eq!(did_you_mean("withn", OPTIONS), Some("within"));
    }

    #[test]
    fn no_suggestion_when_nothing_is_close() {
        assert_eq!(did_you_mean("colour", OPTIONS), None);
    }

    #[test]
    fn lists_names() {
        assert_eq!(list(&[]), "");
        assert_eq!(list(&["a"]), "`a`");
        assert_eq!(list(&["a", "b", "c"]), "`a`, `b` and `c`");
    }
}
