//! The type that holds a resolved secret value.
//!
//! A `Secret` owns its bytes, wipes them when dropped, and never shows them
//! through `Debug`. It has no `Display`, so a value cannot reach a log line
//! or an error message by accident.

use std::fmt;

use zeroize::Zeroizing;

/// Bytes of a resolved value, wiped on drop.
pub struct Secret(Zeroizing<Vec<u8>>);

impl Secret {
    /// Takes ownership of `bytes`, which are wiped when the secret drops.
    pub fn new(bytes: Vec<u8>) -> Secret {
        Secret(Zeroizing::new(bytes))
    }

    /// Takes a string from the SDK without copying it.
    pub fn from_string(text: String) -> Secret {
        Secret::new(text.into_bytes())
    }

    /// Exposes the bytes; keep the borrow short.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret([redacted, {} bytes])", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_hides_the_value() {
        let secret = Secret::new(b"hunter2-canary".to_vec());
        let shown = format!("{secret:?}");
        assert_eq!(shown, "Secret([redacted, 14 bytes])");
    }
}
