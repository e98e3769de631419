//! Playing a suite on several players at once, results in suite order; optionally with the
//! scenarios' worlds built ahead on a thread of their own, so a player whose taps wait on
//! another process (a reader program, pcscd) never waits for keys and certificates.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};

use mynatap_sim::world::{Profiles, World, WorldError};

use super::{build_world, play_in_world, Entry, ScenarioResult, Suite, TapPlayer};

/// Runs the loaded scenarios on `jobs` threads; results come back in suite order. `on_done` is
/// called as each scenario finishes (for progress bars).
pub fn run_suite(
    suite: &Suite,
    seed: u64,
    jobs: usize,
    make_player: &(dyn Fn() -> Box<dyn TapPlayer> + Sync),
    on_done: &(dyn Fn(&ScenarioResult) + Sync),
) -> Vec<ScenarioResult> {
    run(suite, seed, jobs, false, make_player, on_done)
}

/// As [`run_suite`], with each world built ahead while the players play (certification: the
/// players mostly wait for a reader program, and a world takes milliseconds of CPU to build).
pub fn run_suite_prebuilt(
    suite: &Suite,
    seed: u64,
    jobs: usize,
    make_player: &(dyn Fn() -> Box<dyn TapPlayer> + Sync),
    on_done: &(dyn Fn(&ScenarioResult) + Sync),
) -> Vec<ScenarioResult> {
    run(suite, seed, jobs, true, make_player, on_done)
}

/// A world on its way to a player.
enum Slot {
    /// Nobody has started it.
    Waiting,
    /// The builder is at it.
    Building,
    Built(Box<Result<World, WorldError>>),
    /// A player has it (or builds it itself).
    Taken,
}

/// Worlds built ahead, in suite order, at most `ahead` beyond the last one taken.
struct Ahead {
    slots: Mutex<(Vec<Slot>, usize)>,
    changed: Condvar,
    ahead: usize,
}

impl Ahead {
    /// The world of entry `index`: built ahead, waited for while it is being built, or `None`
    /// (the builder has not reached it: the player builds it itself).
    fn take(&self, index: usize) -> Option<Result<World, WorldError>> {
        let mut guard = self.slots.lock().ok()?;
        guard.1 = guard.1.max(index + 1);
        self.changed.notify_all();
        loop {
            let slot = guard.0.get_mut(index)?;
            match std::mem::replace(slot, Slot::Taken) {
                Slot::Built(world) => return Some(*world),
                Slot::Waiting | Slot::Taken => return None,
                Slot::Building => {
                    *slot = Slot::Building;
                    guard = self.changed.wait(guard).ok()?;
                }
            }
        }
    }

    /// Builds every world in order, staying at most `ahead` entries in front of the players.
    fn build_all(&self, suite: &Suite, seed: u64, profiles: &Profiles) {
        for (index, entry) in suite.entries.iter().enumerate() {
            let Entry::Loaded(scenario) = entry else { continue };
            {
                let Ok(mut guard) = self.slots.lock() else { return };
                while index >= guard.1 + self.ahead {
                    let Ok(next) = self.changed.wait(guard) else { return };
                    guard = next;
                }
                match guard.0.get_mut(index) {
                    Some(slot @ Slot::Waiting) => *slot = Slot::Building,
                    _ => continue,
                }
            }
            let world = build_world(scenario, seed, profiles);
            if let Ok(mut guard) = self.slots.lock()
                && let Some(slot) = guard.0.get_mut(index)
            {
                *slot = Slot::Built(Box::new(world));
            }
            self.changed.notify_all();
        }
    }
}

fn run(
    suite: &Suite,
    seed: u64,
    jobs: usize,
    prebuild: bool,
    make_player: &(dyn Fn() -> Box<dyn TapPlayer> + Sync),
    on_done: &(dyn Fn(&ScenarioResult) + Sync),
) -> Vec<ScenarioResult> {
    let profiles = Profiles::default();
    let results: Vec<Mutex<Option<ScenarioResult>>> = suite.entries.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let jobs = jobs.max(1).min(suite.entries.len().max(1));
    let ahead = Ahead { slots: Mutex::new((suite.entries.iter().map(|_| Slot::Waiting).collect(), 0)), changed: Condvar::new(), ahead: jobs + 1 };
    std::thread::scope(|scope| {
        if prebuild {
            scope.spawn(|| ahead.build_all(suite, seed, &profiles));
        }
        for _ in 0..jobs {
            scope.spawn(|| {
                let mut player = make_player();
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(entry) = suite.entries.get(index) else { break };
                    let result = match entry {
                        Entry::Loaded(scenario) => {
                            let world = ahead.take(index).unwrap_or_else(|| build_world(scenario, seed, &profiles));
                            play_in_world(scenario, world, player.as_mut())
                        }
                        Entry::Broken(error) => ScenarioResult::broken(error),
                    };
                    on_done(&result);
                    if let Some(slot) = results.get(index)
                        && let Ok(mut slot) = slot.lock()
                    {
                        *slot = Some(result);
                    }
                }
                // The builder may wait for players that are done: let it finish.
                if let Ok(mut guard) = ahead.slots.lock() {
                    guard.1 = usize::MAX / 2;
                }
                ahead.changed.notify_all();
            });
        }
    });
    results.into_iter().filter_map(|slot| slot.into_inner().ok().flatten()).collect()
}
