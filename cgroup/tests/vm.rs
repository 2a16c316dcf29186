//! VM tests (filled in below).
