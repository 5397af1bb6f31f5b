//! Timer schedules: no expression panics the parser, and a schedule's next tick is always a
//! whole minute strictly after the time asked about.
#![no_main]

use berth::tasks::cron::Schedule;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (&str, i32)| {
    let (text, at) = input;
    let Ok(schedule) = text.parse::<Schedule>() else { return };
    let after = i64::from(at);
    if let Some(next) = schedule.next_after(after) {
        assert!(next > after, "{text:?}: {next} is not after {after}");
        assert_eq!(next.rem_euclid(60), 0, "{text:?}: {next} is no whole minute");
    }
});
