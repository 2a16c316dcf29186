//! Internal macros for the per-controller accessors.

/// A getter (parsed with `FromStr`) and a setter (through [`crate::Setting`]) for one file.
macro_rules! knob {
    ($get:ident, $set:ident, $variant:ident, $ty:ty, $file:literal) => {
        #[doc = concat!("Reads `", $file, "`.")]
        ///
        /// # Errors
        ///
        /// [`CgroupError::Read`](crate::CgroupError::Read) (`ENOENT` when the controller is
        /// not enabled for this cgroup or the kernel lacks the file) or
        /// [`CgroupError::Parse`](crate::CgroupError::Parse).
        pub fn $get(&self) -> Result<$ty, crate::CgroupError> {
            self.cg.read_parsed($file)
        }

        #[doc = concat!("Writes `", $file, "`.")]
        ///
        /// # Errors
        ///
        /// [`CgroupError::InvalidValue`](crate::CgroupError::InvalidValue) for a value out of
        /// the kernel's range, [`CgroupError::Write`](crate::CgroupError::Write) with the
        /// errno otherwise.
        pub fn $set(&self, value: impl Into<$ty>) -> Result<(), crate::CgroupError> {
            self.cg.set(&crate::Setting::$variant(value.into()))
        }
    };
}

/// A getter and setter for a `0`/`1` file.
macro_rules! bool_knob {
    ($get:ident, $set:ident, $variant:ident, $file:literal) => {
        #[doc = concat!("Reads `", $file, "` (`0`/`1`).")]
        ///
        /// # Errors
        ///
        /// [`CgroupError::Read`](crate::CgroupError::Read) or
        /// [`CgroupError::Parse`](crate::CgroupError::Parse).
        pub fn $get(&self) -> Result<bool, crate::CgroupError> {
            self.cg
                .read_with($file, |t| crate::value::parse_bool(t, $file))
        }

        #[doc = concat!("Writes `", $file, "` (`0`/`1`).")]
        ///
        /// # Errors
        ///
        /// [`CgroupError::Write`](crate::CgroupError::Write) with the errno.
        pub fn $set(&self, value: bool) -> Result<(), crate::CgroupError> {
            self.cg.set(&crate::Setting::$variant(value))
        }
    };
}

/// A read-only file parsed with `FromStr`.
macro_rules! getter {
    ($get:ident, $ty:ty, $file:literal) => {
        #[doc = concat!("Reads `", $file, "`.")]
        ///
        /// # Errors
        ///
        /// [`CgroupError::Read`](crate::CgroupError::Read) (`ENOENT` when the controller is
        /// not enabled for this cgroup or the kernel lacks the file) or
        /// [`CgroupError::Parse`](crate::CgroupError::Parse).
        pub fn $get(&self) -> Result<$ty, crate::CgroupError> {
            self.cg.read_parsed($file)
        }
    };
}
