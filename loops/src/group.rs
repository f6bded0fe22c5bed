//! Runtime support for `loop_group!`: what a member of a group is, and the settings a
//! group's declaration compiles to.

use std::time::Duration;

use crate::{LoopController, LoopHandle, Strategy, SuperLoop, Supervise};

/// A type that can be a member of a `loop_group!`: a `#[superloop]` type (held as a
/// [`LoopHandle`]) or another group (held as itself, a supervision tree).
///
/// `loop_group!` implements it for every group it declares; you never implement it by hand.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a superloop, so it cannot be a member of a loop group",
    label = "not a `#[superloop]` type or a `loop_group!` group",
    note = "add `#[superloop]` to an inherent `impl {Self} {{ fn cycle(&mut self) {{ … }} }}` block, or declare `{Self}` with `loop_group!`"
)]
pub trait GroupMember: Sized {
    /// How the group holds this member: `LoopHandle<Self>` for a loop, `Self` for a group.
    type Handle: Supervise + From<Self>;
    /// Whether the member restarts when another member of its group exceeds its budget.
    const RESETS_GLOBALLY: bool;
    /// Wraps the value as the group holds it.
    //
    // Provided, not written in each group's impl: a group's own body taking the group by
    // value would repeat a member's error on the group's name (rustc checks how the group is
    // dropped there, and that asks about every member again).
    fn into_member(self) -> Self::Handle {
        Self::Handle::from(self)
    }

    /// Wraps the value and adds it to `controller`: what `loop_group!`'s `new` does with each
    /// member. One call, so that a type that is no member is asked about once, on its token.
    #[doc(hidden)]
    fn __join(self, controller: &LoopController) -> Self::Handle {
        let member = self.into_member();
        controller.add(&member);
        member
    }
}

/// A `#[superloop]` type, as a member of a group: the bound of [`GroupMember`]'s impl for
/// loops, implemented for every [`SuperLoop`].
///
/// It is there for the error about a type that is no member. Where generated code names
/// `<T as GroupMember>::Handle` (a field's type), rustc reports the unmet bound of this impl
/// with the bound's own message; where it asks for `T: GroupMember` (a call), with
/// [`GroupMember`]'s. With `T: SuperLoop` as the bound, one mistake gave two different
/// errors on the same token. This trait carries [`GroupMember`]'s message word for word, and
/// `do_not_recommend` on the impl below makes both name `GroupMember`: the two are identical,
/// and rustc shows one.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a superloop, so it cannot be a member of a loop group",
    label = "not a `#[superloop]` type or a `loop_group!` group",
    note = "add `#[superloop]` to an inherent `impl {Self} {{ fn cycle(&mut self) {{ … }} }}` block, or declare `{Self}` with `loop_group!`"
)]
pub trait LoopMember: SuperLoop {}

impl<T: SuperLoop> LoopMember for T {}

// `do_not_recommend`: a type that is no member is reported as not a `GroupMember` rather
// than as not a `SuperLoop` (see `LoopMember`).
#[diagnostic::do_not_recommend]
impl<T: LoopMember> GroupMember for T {
    type Handle = LoopHandle<T>;
    const RESETS_GLOBALLY: bool = T::CONFIG.reset_globally;
}

/// The options of a `loop_group!` declaration.
#[derive(Clone, Copy, Debug)]
pub struct GroupSettings {
    /// The group's name: its supervisor thread is `{name}_{n}`.
    pub name: &'static str,
    /// The restart strategy.
    pub strategy: Strategy,
    /// At most this many resets within the window, then give up.
    pub max_restarts: Option<(u32, Duration)>,
    /// Backoff between resets that follow each other: (first delay, cap).
    pub backoff: Option<(Duration, Duration)>,
}

impl GroupSettings {
    /// A controller configured from these settings.
    pub fn controller(self) -> LoopController {
        let mut c = LoopController::new()
            .named(self.name)
            .strategy(self.strategy);
        if let Some((max, within)) = self.max_restarts {
            c = c.max_restarts(max, within);
        }
        if let Some((min, max)) = self.backoff {
            c = c.backoff(min, max);
        }
        c
    }
}

/// Checked at compile time for `one_for_all` and `rest_for_one` groups: a group in which no
/// member resets globally could never restart anything but the failing member.
pub const fn assert_some_member_resets_globally(any: bool) {
    if !any {
        panic!(
            "no member of this group resets globally, so a reset under `one_for_all` or \
             `rest_for_one` would restart nothing but the failing member: remove \
             `reset_globally = false` from a member, or use `strategy = one_for_one`"
        );
    }
}
