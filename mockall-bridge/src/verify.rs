//! Verification: dropping a mock and catching its verdict.
//!
//! mockall checks a mock's expectations when the mock is dropped: unmet ones (`times`,
//! sequences) make the drop panic, unless the thread is already panicking. So verifying a
//! mock means dropping it inside [`std::panic::catch_unwind`]: a clean drop is a pass, and
//! the panic's payload is mockall's own verdict, e.g. `MockGreeter::greet:
//! Expectation(<anything>) called 1 time(s) which is fewer than expected 2`.
//!
//! Any other implementation (a hand-written fake, a faux fake) is verified the same way: a
//! fake whose `Drop` panics fails the test with its message, one that doesn't passes.
//!
//! The panic still goes through the process's panic hook, so its message is also printed
//! where panics print (the test's captured output), like any panic.

use std::any::Any;
use std::panic::{self, AssertUnwindSafe};

/// Drops `implementation` (a box, or the mock's only `Arc`), returning the message it
/// panicked with, if it did.
pub(crate) fn drop_catching_verdict<I>(implementation: I) -> Result<(), String> {
    panic::catch_unwind(AssertUnwindSafe(move || drop(implementation)))
        .map_err(|payload| payload_text(&*payload))
}

/// The text of a panic payload.
pub(crate) fn payload_text(payload: &(dyn Any + Send)) -> String {
    if let Some(message) = payload.downcast_ref::<&str>() {
        (*message).to_owned()
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message.clone()
    } else {
        "(its drop panicked with a payload that is not a string)".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct PanicsOnDrop(&'static str);

    impl Drop for PanicsOnDrop {
        fn drop(&mut self) {
            panic!("{}", self.0);
        }
    }

    #[test]
    fn a_clean_drop_passes_and_a_panicking_drop_gives_its_message() {
        assert_eq!(drop_catching_verdict(Box::new(5_u8)), Ok(()));
        assert_eq!(
            drop_catching_verdict(Box::new(PanicsOnDrop("expected 2 calls, got 1"))),
            Err("expected 2 calls, got 1".to_owned())
        );
        let unsized_fake: Box<dyn Send> = Box::new(PanicsOnDrop("unmet"));
        assert_eq!(drop_catching_verdict(unsized_fake), Err("unmet".to_owned()));
    }

    #[test]
    fn payloads_that_are_not_strings_are_named() {
        let payload = panic::catch_unwind(|| panic::panic_any(42_u32)).unwrap_err();
        assert!(payload_text(&*payload).contains("not a string"));
    }
}
