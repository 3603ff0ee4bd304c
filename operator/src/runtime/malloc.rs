//! The process's malloc setting, made once at start, before the runtime's threads.
//!
//! glibc gives each thread that allocates an arena of its own (up to eight per core), and memory freed into an arena
//! stays there for that arena's next allocations. The operator's work runs as tokio tasks that move between the
//! runtime's worker threads: a tick's maps built on one worker are freed on another, and each worker's arena keeps
//! free pages at the size of the largest ticks it has seen. At 1,000 groups × 16 partitions that was two arenas of
//! about 24 MB each where a single one holds 37 MB (`make bench-lag`: VmRSS 72 → 62 MB). Small allocations still
//! come from each thread's own cache, without the arena's lock.
//!
//! An operator that sets `MALLOC_ARENA_MAX` or `glibc.malloc.arena_max` (in `GLIBC_TUNABLES`) keeps its setting.
#![allow(unsafe_code)]

/// Whether the environment already chose the number of arenas.
pub fn arenas_chosen(malloc_arena_max: Option<&str>, glibc_tunables: Option<&str>) -> bool {
    malloc_arena_max.is_some()
        || glibc_tunables.is_some_and(|t| t.split(':').any(|kv| kv.trim().starts_with("glibc.malloc.arena_max=")))
}

/// One malloc arena for the whole process, unless the environment chose otherwise. Call before any thread starts.
/// Returns whether the setting was made.
pub fn one_arena() -> bool {
    let env = |name: &str| std::env::var(name).ok();
    if arenas_chosen(env("MALLOC_ARENA_MAX").as_deref(), env("GLIBC_TUNABLES").as_deref()) {
        return false;
    }
    set_arena_max(1)
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn set_arena_max(arenas: i32) -> bool {
    // SAFETY: mallopt only sets one of malloc's parameters; M_ARENA_MAX takes any positive count, and glibc applies
    // it to arenas created from then on (called before the runtime's threads, so before any arena but the main one).
    unsafe { libc::mallopt(libc::M_ARENA_MAX, arenas) == 1 }
}

/// Other C libraries (musl has one heap) have no arenas to limit.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn set_arena_max(_arenas: i32) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_arena_count_the_environment_chose_is_kept() {
        assert!(!arenas_chosen(None, None));
        assert!(arenas_chosen(Some("4"), None));
        assert!(arenas_chosen(None, Some("glibc.malloc.arena_max=2")));
        assert!(arenas_chosen(None, Some("glibc.malloc.trim_threshold=65536:glibc.malloc.arena_max=2")));
        // Other tunables leave the choice to the operator.
        assert!(!arenas_chosen(None, Some("glibc.malloc.mmap_threshold=65536:glibc.malloc.tcache_count=0")));
        assert!(!arenas_chosen(None, Some("")));
    }

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn glibc_takes_the_setting() {
        // Any positive count is accepted; the test process keeps its default afterwards (8 per core).
        assert!(set_arena_max(1));
        assert!(set_arena_max(8 * std::thread::available_parallelism().map_or(1, |n| n.get() as i32)));
    }
}
