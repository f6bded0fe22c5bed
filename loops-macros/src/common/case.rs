//! Names in Rust's cases: a type's name as a field's.

/// `ApiFeed` → `api_feed`, `HTTPFeed` → `http_feed`, `V2Worker` → `v2_worker`.
pub(crate) fn snake_case(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::with_capacity(name.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_uppercase() {
            let boundary = match i.checked_sub(1).map(|j| chars[j]) {
                None | Some('_') => false,
                Some(prev) if prev.is_uppercase() => {
                    chars.get(i + 1).is_some_and(|next| next.is_lowercase())
                }
                Some(prev) => prev.is_lowercase() || prev.is_numeric(),
            };
            if boundary {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_cases_type_names() {
        for (ty, field) in [
            ("ApiFeed", "api_feed"),
            ("HTTPFeed", "http_feed"),
            ("ProcessLoop", "process_loop"),
            ("Worker", "worker"),
            ("IOLoop", "io_loop"),
            ("V2Worker", "v2_worker"),
            ("Worker2", "worker2"),
            ("ABC", "abc"),
            ("already_snake", "already_snake"),
            ("Tree_Top", "tree_top"),
        ] {
            assert_eq!(snake_case(ty), field, "{ty}");
        }
    }
}
