//! Byte sizes for `stack_size`: `"256 KiB"`, `"2 MiB"`, `"64KB"`, `"65536 B"` or a plain
//! integer count of bytes, parsed at compile time.
//!
//! `KiB` and `MiB` are binary (1024, 1024²), `KB` and `MB` decimal (1000, 1000²), as the IEC
//! names say; `B` is bytes. Units are case-sensitive: `kb` or `Kib` is an error that names
//! the unit meant, since `kb` could be either.

/// The smallest stack a loop's thread may be given. Measured on x86-64 Linux (debug and
/// release): a panic in `cycle` with `RUST_BACKTRACE=1` prints its backtrace on the loop's own
/// thread and overflows a 24 KiB stack, fits in 32 KiB; 64 KiB leaves the other half to the
/// user's frames. Without a backtrace 16 KiB (glibc's `PTHREAD_STACK_MIN`) is enough, but a
/// loop that works until its first panic is a trap.
pub(crate) const MIN_STACK: u64 = 64 * 1024;

/// The units a size string may end with, and their factors.
const UNITS: [(&str, u64); 5] = [
    ("B", 1),
    ("KiB", 1024),
    ("MiB", 1024 * 1024),
    ("KB", 1000),
    ("MB", 1000 * 1000),
];

/// Why a size string was rejected: the reason, to be completed with an example by the caller.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum SizeError {
    /// Nothing but blanks.
    Empty,
    /// No digits in front.
    NoNumber,
    /// A number with no unit after it.
    NoUnit(String),
    /// A unit that is not one of [`UNITS`]; the one meant, when only its case is wrong.
    UnknownUnit {
        unit: String,
        meant: Option<&'static str>,
    },
    /// A fraction such as `1.5 MiB`.
    Fraction,
    /// More than `u64::MAX` bytes.
    TooBig,
}

impl std::fmt::Display for SizeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const EXAMPLE: &str = "write e.g. `stack_size = \"256 KiB\"`";
        match self {
            SizeError::Empty => write!(f, "it is empty; {EXAMPLE}"),
            SizeError::NoNumber => {
                write!(f, "it does not start with a whole number; {EXAMPLE}")
            }
            SizeError::NoUnit(n) => write!(
                f,
                "`{n}` has no unit; write `stack_size = \"{n} B\"`, or the integer \
                 `stack_size = {n}` for bytes"
            ),
            SizeError::UnknownUnit {
                unit,
                meant: Some(meant),
            } => write!(f, "units are case-sensitive: write `{meant}`, not `{unit}`"),
            SizeError::UnknownUnit { unit, meant: None } => write!(
                f,
                "unknown unit `{unit}`; the units are `B`, `KiB` and `MiB` (1024 and \
                 1024²), `KB` and `MB` (1000 and 1000²)"
            ),
            SizeError::Fraction => f.write_str(
                "it is not a whole number; write a smaller unit instead, such as `\"1536 KiB\"`",
            ),
            SizeError::TooBig => write!(f, "it is too big; {EXAMPLE}"),
        }
    }
}

/// Parses a size string: a whole number, optional blanks, and a unit.
pub(crate) fn parse(text: &str) -> Result<u64, SizeError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(SizeError::Empty);
    }
    let digits_end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '_'))
        .unwrap_or(text.len());
    let digits: String = text[..digits_end].chars().filter(|&c| c != '_').collect();
    if digits.is_empty() {
        return Err(SizeError::NoNumber);
    }
    let rest = &text[digits_end..];
    if rest.starts_with(['.', ',']) {
        return Err(SizeError::Fraction);
    }
    let number: u64 = digits.parse().map_err(|_| SizeError::TooBig)?;
    let unit = rest.trim_start();
    if unit.is_empty() {
        return Err(SizeError::NoUnit(digits));
    }
    let Some(&(_, factor)) = UNITS.iter().find(|(name, _)| *name == unit) else {
        let meant = UNITS
            .iter()
            .map(|&(name, _)| name)
            .find(|name| name.eq_ignore_ascii_case(unit));
        return Err(SizeError::UnknownUnit {
            unit: unit.to_owned(),
            meant,
        });
    };
    number.checked_mul(factor).ok_or(SizeError::TooBig)
}

/// `16 KiB`-style text for a byte count, for messages.
pub(crate) fn describe(bytes: u64) -> String {
    if bytes % (1024 * 1024) == 0 {
        format!("{} MiB", bytes / (1024 * 1024))
    } else if bytes % 1024 == 0 {
        format!("{} KiB", bytes / 1024)
    } else {
        format!("{bytes} B")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(parse("256 KiB"), Ok(256 * 1024));
        assert_eq!(parse("256KiB"), Ok(256 * 1024));
        assert_eq!(parse(" 2 MiB "), Ok(2 * 1024 * 1024));
        assert_eq!(parse("64 KB"), Ok(64_000));
        assert_eq!(parse("1 MB"), Ok(1_000_000));
        assert_eq!(parse("65536 B"), Ok(65_536));
        assert_eq!(parse("1_024 KiB"), Ok(1024 * 1024));
    }

    #[test]
    fn mistakes() {
        assert_eq!(parse(""), Err(SizeError::Empty));
        assert_eq!(parse("KiB"), Err(SizeError::NoNumber));
        assert_eq!(parse("-1 KiB"), Err(SizeError::NoNumber));
        assert_eq!(parse("65536"), Err(SizeError::NoUnit("65536".into())));
        assert_eq!(parse("1.5 MiB"), Err(SizeError::Fraction));
        assert_eq!(
            parse("64 kib"),
            Err(SizeError::UnknownUnit {
                unit: "kib".into(),
                meant: Some("KiB")
            })
        );
        assert_eq!(
            parse("64 kb"),
            Err(SizeError::UnknownUnit {
                unit: "kb".into(),
                meant: Some("KB")
            })
        );
        assert!(matches!(
            parse("1 GiB"),
            Err(SizeError::UnknownUnit { meant: None, .. })
        ));
        assert_eq!(parse("99999999999999999999 B"), Err(SizeError::TooBig));
        assert_eq!(parse("18446744073709551615 KiB"), Err(SizeError::TooBig));
    }

    #[test]
    fn describes() {
        assert_eq!(describe(MIN_STACK), "64 KiB");
        assert_eq!(describe(2 * 1024 * 1024), "2 MiB");
        assert_eq!(describe(1000), "1000 B");
    }
}
