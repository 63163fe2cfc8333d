//! Pins the settings that change how values print (extra_float_digits, DateStyle,
//! IntervalStyle, bytea_output) while a row's images are built from output functions.
use crate::pg_internals::{bytea_output, BYTEA_OUTPUT_HEX};
use pgrx::pg_sys;

/// The setting values images are printed with: floats exactly (any extra_float_digits above
/// 0 prints the shortest exact form), ISO dates, postgres intervals, hex bytea.
const CANONICAL: [(&std::ffi::CStr, &std::ffi::CStr); 4] = [
    (c"extra_float_digits", c"1"),
    (c"DateStyle", c"ISO"),
    (c"IntervalStyle", c"postgres"),
    (c"bytea_output", c"hex"),
];

/// Which settings of this session print differently from the canonical values.
fn deviating() -> [bool; 4] {
    // SAFETY: reads this backend's own GUC variables (plain ints; bytea_output is declared in
    // pg_internals), which only this backend changes.
    unsafe {
        [
            pg_sys::extra_float_digits < 1,
            pg_sys::DateStyle != pg_sys::USE_ISO_DATES as std::ffi::c_int,
            pg_sys::IntervalStyle != pg_sys::INTSTYLE_POSTGRES as std::ffi::c_int,
            bytea_output != BYTEA_OUTPUT_HEX,
        ]
    }
}

/// Run `build` with the canonical output settings, so that what the trail records does not
/// depend on the writing session (a session with extra_float_digits = -15 would otherwise
/// record 1234.5678 as 1000). Sessions already printing canonically pay one check. The
/// settings come back when `build` returns, and with the transaction if it raises an error.
pub fn with_canonical_output<T>(build: impl FnOnce() -> T) -> T {
    let deviating = deviating();
    if !deviating.contains(&true) {
        return build();
    }
    // SAFETY: opens a GUC nest level inside the trigger's transaction; it is closed below, or by
    // the transaction's abort if `build` raises an error.
    let nest_level = unsafe { pg_sys::NewGUCNestLevel() };
    for ((name, value), _) in CANONICAL.iter().zip(deviating).filter(|(_, d)| *d) {
        // SAFETY: static NUL-terminated names and values of existing user-settable settings,
        // saved in the nest level opened above (GUC_ACTION_SAVE); errors are raised as ERROR.
        unsafe {
            pg_sys::set_config_option(
                name.as_ptr(),
                value.as_ptr(),
                pg_sys::GucContext::PGC_USERSET,
                pg_sys::GucSource::PGC_S_SESSION,
                pg_sys::GucAction::GUC_ACTION_SAVE,
                true,
                0, // elevel: raise errors as ERROR
                false,
            )
        };
    }
    let built = build();
    // SAFETY: closes the nest level opened above, restoring the session's values.
    unsafe { pg_sys::AtEOXact_GUC(true, nest_level) };
    built
}
