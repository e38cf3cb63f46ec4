//! Peak stack use since reset, read back from cortex-m-rt's `paint-stack` fill.
//!
//! At reset cortex-m-rt fills the whole stack region with [`STACK_PAINT_VALUE`]. The stack
//! grows down from the top of RAM, so the lowest word that no longer holds the paint marks
//! the deepest the stack has been. Both builds print it, so the size report can tell what
//! the tracing code costs in stack as well as in static RAM.

use cortex_m_rt::STACK_PAINT_VALUE;

unsafe extern "C" {
    /// The lowest stack address: the end of static RAM (cortex-m-rt's `link.x`).
    static _stack_end: u32;
    /// The initial stack pointer: the top of RAM (cortex-m-rt's `link.x`).
    static _stack_start: u32;
}

/// Bytes of stack used since reset, to the word.
pub fn peak() -> usize {
    let bottom = &raw const _stack_end as usize;
    let top = &raw const _stack_start as usize;
    let mut p = bottom;
    // SAFETY: `[_stack_end, _stack_start)` is RAM, word-aligned (link.x asserts both ends),
    // painted at reset; words below the stack pointer are only read, never written.
    while p < top && unsafe { core::ptr::read_volatile(p as *const u32) } == STACK_PAINT_VALUE {
        p += 4;
    }
    top - p
}
